"""The alert storm as Alertmanager sends it: 100 models fail at once (ModelServingErrors on every
serving pod, severity critical: one incident per model under the shipped rule
model-serving-errors-critical), 100 series each, 10,000 alerts in all.

Alertmanager groups them by the rule's group_by (alertname, model) and sends one body per group:
first with the alerts that have fired so far (after group_wait), then on every group_interval
with all the group's firing alerts, new or not. Here group_interval is compressed to a few
seconds. Each burst goes out on a few concurrent keep-alive connections, as Alertmanager's
notification pipelines would: every group's notification is its own request.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from .common import clock, percentile
from .loadgen import NETWORK_ERRORS, Connection, connect, exchange, http_request
from .payloads import envelope, fingerprint, go_time

MODELS = 100
SERIES = 100
FIRING_SHARE = (0.25, 0.6, 1.0, 1.0)  # of each group's series firing at each burst; the last repeats
GROUP_INTERVAL = 2.0  # seconds between bursts
CONNECTIONS = 8  # concurrent notifications
ALERTNAME = "ModelServingErrors"


def model_name(index: int) -> str:
    return f"storm-model-{index:03d}"


def bursts() -> list[list[tuple[bytes, int]]]:
    """The bodies of each burst, one per group, with the number of alerts each holds."""
    out = []
    for share in FIRING_SHARE:
        firing = round(SERIES * share)
        burst = []
        for m in range(MODELS):
            model = model_name(m)
            alerts = []
            for s in range(firing):
                labels = {
                    "alertname": ALERTNAME,
                    "cluster": "prod-us-east-1",
                    "instance": f"10.{40 + m // 2}.{(m % 2) * 128 + s}.7:8080",
                    "job": "model-serving",
                    "model": model,
                    "severity": "critical",
                }
                alerts.append(
                    {
                        "status": "firing",
                        "labels": labels,
                        "annotations": {
                            "summary": f"{ALERTNAME} on {model} ({labels['instance']})",
                            "description": f"Inference requests to {model} on {labels['instance']} fail.",
                        },
                        "startsAt": go_time(s * 37_000_000),  # a series keeps its start in every resend
                        "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "",
                        "fingerprint": fingerprint(labels),
                    }
                )
            burst.append((envelope("firing", alerts, {"alertname": ALERTNAME, "model": model}), len(alerts)))
        out.append(burst)
    return out


@dataclass
class StormTally:
    latencies: list[float] = field(default_factory=list)  # ms per body
    codes: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    first_error: str = ""
    alerts_acked: int = 0
    total_seconds: float = 0.0  # first request sent to the last answer
    busy_seconds: float = 0.0  # summed over bursts: first request of a burst to its last answer
    burst_seconds: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.codes.values())

    @property
    def non2xx(self) -> int:
        return sum(n for code, n in self.codes.items() if not 200 <= code <= 299)

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.codes.items() if code >= 500)

    def p(self, q: float) -> float:
        return percentile(sorted(self.latencies), q)


async def send(port: int, bodies: list[list[tuple[bytes, int]]]) -> StormTally:
    """Send the bursts, one every GROUP_INTERVAL (or as soon as the one before has its answers)."""
    tally = StormTally()
    conns: list[Connection | None] = [None] * CONNECTIONS
    requests = [[(http_request(body, port), alerts) for body, alerts in burst] for burst in bodies]
    start = clock()
    last = start
    for k, burst in enumerate(requests):
        await asyncio.sleep(max(0.0, start + k * GROUP_INTERVAL - clock()))
        began = clock()

        async def worker(slot: int, queue: list[tuple[bytes, int]]) -> None:
            nonlocal last
            while queue:
                request, alerts = queue.pop()
                sent = clock()
                try:
                    conn = conns[slot] or await connect(port)
                    conns[slot] = conn
                    status, _ = await exchange(*conn, request)
                except NETWORK_ERRORS as exc:
                    tally.errors += 1
                    tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
                    conns[slot] = None
                    continue
                last = clock()
                tally.latencies.append((last - sent) * 1e3)
                tally.codes[status] += 1
                if 200 <= status <= 299:
                    tally.alerts_acked += alerts

        queue = list(reversed(burst))
        await asyncio.gather(*(worker(slot, queue) for slot in range(CONNECTIONS)))
        tally.burst_seconds.append(clock() - began)
    tally.busy_seconds = sum(tally.burst_seconds)
    tally.total_seconds = last - start
    for conn in conns:
        if conn:
            conn[1].close()
    return tally
