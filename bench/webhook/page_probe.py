"""Page latency: from the webhook's 2xx answer to the first page arriving at the local sink.

The page-latency scenario (scenarios/page_latency.py) measures it twice per database, idle and
under load. Each probe is a 1-alert webhook (ModelAccuracyDrop) for a model of its own,
`<prefix>-<n>`, so every probe opens a new incident; the on-call registry does not know the
model, so the incident pages the first step of default_escalation_policy. The probes run in a
process of their own (this file), which sends one every INTERVAL seconds on a fixed schedule
and notes, per probe, when the 2xx arrived and the incident id of the answer.
notification_sink.py notes when each message arrived, which incident it is about and what it
is. A probe's latency is the first HTTP page (kind `page`: not the notices the communication
protocol sends other audiences, not email) for its incident minus the time of its 2xx; both
sides read time.time() on one machine. A page can beat the answer it follows (the service may
hand pages to its senders when the transaction commits, before the answer leaves), so
latencies slightly below zero are possible.

The probe process on its own, printing JSON:

    .venv/bin/python bench/webhook/page_probe.py --url http://127.0.0.1:8000 --prefix latency-probe
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

PROBES = 100  # per phase
INTERVAL = 0.05  # seconds between probes
LOAD_LEAD = 1.0  # seconds the load runs before the first probe leaves
GRACE = 15.0  # seconds a page may take after the last answer before it counts as never arrived
T = TypeVar("T")


def probe_body(model: str) -> bytes:
    """An Alertmanager 0.25 body of one firing ModelAccuracyDrop alert for `model`."""
    labels = {
        "alertname": "ModelAccuracyDrop",
        "cluster": "prod-eu-west-1",
        "job": "model-monitor",
        "model": model,
        "segment": "all",
        "severity": "critical",
    }
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": f"ModelAccuracyDrop on {model} (page-latency probe)"},
        "startsAt": now,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": "",
    }
    group = {"alertname": "ModelAccuracyDrop", "model": model}
    body = {
        "receiver": "incident-bridge",
        "status": "firing",
        "alerts": [alert],
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.monitoring.svc:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="ModelAccuracyDrop", model="{model}"}}',
        "truncatedAlerts": 0,
    }
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


# --------------------------------------------------------------------------------------------
# The probe process.
# --------------------------------------------------------------------------------------------


@dataclass
class Probe:
    n: int
    acked: float | None = None  # time.time() when the 2xx arrived
    incident: int | None = None  # the one incident the answer names
    error: str = ""


async def send_probes(url: str, prefix: str, count: int, interval: float, lead: float) -> list[Probe]:
    """Print "ready" once connected, wait `lead` seconds, then send a probe every `interval`."""
    probes = [Probe(n) for n in range(count)]
    headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:

        async def send(probe: Probe) -> None:
            body = probe_body(f"{prefix}-{probe.n}")
            try:
                answer = await client.post("/webhooks/alertmanager", content=body)
            except httpx.HTTPError as exc:
                probe.error = f"{type(exc).__name__}: {exc}"
                return
            probe.acked = time.time()
            incidents = answer.json().get("incidents") if answer.is_success else None
            if isinstance(incidents, list) and len(incidents) == 1:
                probe.incident = incidents[0]
            else:
                probe.error = f"{answer.status_code} {answer.text[:200]}"

        (await client.get("/readyz")).raise_for_status()  # one warm connection
        print("ready", flush=True)
        start = time.monotonic() + lead
        tasks = []
        for probe in probes:
            await asyncio.sleep(max(0.0, start + probe.n * interval - time.monotonic()))
            tasks.append(asyncio.create_task(send(probe)))
        await asyncio.gather(*tasks)
    return probes


# --------------------------------------------------------------------------------------------
# Running a phase from the benchmark, and the result.
# --------------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str  # "idle" or "under load"
    probes: list[Probe]
    first_page: dict[int, tuple[float, str]]  # incident -> (arrival, channel) of its first page
    pages_per_s: float = 0.0  # HTTP messages the sink received while the probes ran, theirs included
    load: str = ""  # what ran alongside

    @property
    def failed(self) -> int:
        """Probes without a 2xx answer naming one incident."""
        return sum(p.incident is None for p in self.probes)

    @property
    def paged(self) -> list[tuple[Probe, float, str]]:
        """(probe, its first page's arrival, channel) for every probe whose page arrived."""
        return [(p, *self.first_page[p.incident]) for p in self.probes if p.incident in self.first_page]

    @property
    def latencies_ms(self) -> list[float]:
        return sorted((arrived - (p.acked or 0.0)) * 1e3 for p, arrived, _ in self.paged)

    @property
    def missing(self) -> int:
        return len(self.probes) - self.failed - len(self.paged)

    def percentile(self, q: float) -> float:
        values = self.latencies_ms
        if not values:
            return float("nan")
        return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]

    @property
    def problems(self) -> list[str]:
        found = [f"{self.missing} probe page(s) never arrived ({self.name})"] if self.missing else []
        if self.failed:
            error = next((p.error for p in self.probes if p.error), "")
            found.append(f"{self.failed} probe(s) without a 2xx naming one incident ({self.name}): {error}")
        return found

    def line(self) -> str:
        channels = Counter(channel for _, _, channel in self.paged)
        by = ", ".join(f"{channel} {n}" for channel, n in channels.most_common()) or "-"
        text = (
            f"{self.name + ':':<12} p50 {self.percentile(50):6.1f} ms, p99 {self.percentile(99):6.1f} ms, "
            f"max {max(self.latencies_ms, default=float('nan')):6.1f} ms; "
            f"{len(self.paged)}/{len(self.probes)} paged, {self.missing} never arrived "
            f"(within {GRACE:.0f} s), {self.failed} probes failed; first page by {by}; "
            f"sink got {self.pages_per_s:.0f} HTTP messages/s meanwhile"
        )
        return text + (f"; {self.load}" if self.load else "")


def arrivals(sink_url: str, since: float) -> tuple[float, list[list[Any]]]:
    """The sink's clock and every page it got since `since`: [time, incident, channel, kind,
    contact, delivery id] (see notification_sink.py)."""
    data = httpx.get(f"{sink_url}/-/arrivals", params={"since": repr(since)}, timeout=10).json()
    return data["now"], data["arrivals"]


def settle(sink_url: str, quiet: float = 1.0, limit: float = 60.0) -> bool:
    """Wait until no page has reached the sink for `quiet` seconds; False if that took too long."""
    deadline = time.time() + limit
    while time.time() < deadline:
        now, recent = arrivals(sink_url, time.time() - quiet)
        if not recent:
            return True
        time.sleep(quiet - (now - recent[-1][0]) + 0.05)
    return False


def run_phase(
    bridge_url: str, sink_url: str, prefix: str, name: str, load: Callable[[float], T] | None = None
) -> tuple[Phase, T | None]:
    """Send PROBES probes, with `load(seconds)` running in this process meanwhile if given."""
    lead = LOAD_LEAD if load else 0.0
    cmd = [sys.executable, __file__, "--url", bridge_url, "--prefix", prefix, "--lead", str(lead)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the page-latency probe did not start (exit {proc.wait()})")
        since = time.time()
        loaded = load(lead + PROBES * INTERVAL + 1.0) if load else None
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"the page-latency probe failed (exit {proc.returncode})")
    phase = Phase(name, [Probe(**p) for p in json.loads(out)], {})
    wanted = {p.incident for p in phase.probes if p.incident is not None}
    acked = [p.acked for p in phase.probes if p.acked] or [since]
    start, end = min(acked), max(acked)
    while True:
        now, got = arrivals(sink_url, since)
        got = [a for a in got if a[2] != "email"]
        phase.pages_per_s = sum(start <= a[0] <= end for a in got) / max(end - start, 1e-3)
        # Only the page counts: the notices the protocol sends other audiences are not it.
        for arrived, incident, channel, *_ in (a for a in got if a[3] == "page"):
            seen = phase.first_page.get(incident) if incident is not None else None
            if incident in wanted and (seen is None or arrived < seen[0]):
                phase.first_page[incident] = (arrived, channel)
        if len(phase.first_page) == len(wanted) or now > end + GRACE:
            return phase, loaded
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="incident-bridge base URL")
    parser.add_argument("--prefix", default="latency-probe", help="model label of probe n: PREFIX-n")
    parser.add_argument("--count", type=int, default=PROBES)
    parser.add_argument("--interval", type=float, default=INTERVAL, help="seconds between probes")
    parser.add_argument("--lead", type=float, default=0.0, help="seconds to wait after printing ready")
    args = parser.parse_args()
    probes = asyncio.run(send_probes(args.url, args.prefix, args.count, args.interval, args.lead))
    print(json.dumps([asdict(p) for p in probes]))


if __name__ == "__main__":
    main()
