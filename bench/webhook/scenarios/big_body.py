"""Big body: one webhook of 50,000 alerts (one group, so one incident) while a closed loop of
1-alert webhooks runs on another connection, on a fresh database; the same on the parse-only
app for reference. Reports the big body's time, the 1-alert latency while it was being taken in
(target: p99 < 1 s), then GET /api/v1/incidents/{id} of its incident: size and time (no target).
The server's body limit is raised for the benchmark (servers.MAX_BODY_BYTES)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from ..common import clock, percentile, progress
from ..loadgen import NETWORK_ERRORS, connect, exchange, http_request, http_requests, run_async
from ..measure import Plan, Subject
from ..payloads import envelope, fingerprint, go_time, validate
from ..report import Results, Section, per_run, versus, worst
from ..targets import BIG_BODY_P99_MS, Check

ALERTS = 50_000
LEAD, TAIL = 1.0, 1.0  # seconds the 1-alert loop runs before the big body leaves and after its answer


def big_body(model: str) -> bytes:
    """A firing group of ALERTS ModelServingErrors alerts of one model, one per serving pod. Lean
    alerts (five labels, no annotations), as a rule that fires on so many series would have."""
    alerts = []
    for n in range(ALERTS):
        labels = {
            "alertname": "ModelServingErrors",
            "instance": f"10.{16 + n // 62500}.{n // 250 % 250}.{n % 250 + 2}:8080",
            "job": "model-serving",
            "model": model,
            "severity": "warning",
        }
        alerts.append(
            {
                "status": "firing",
                "labels": labels,
                "annotations": {},
                "startsAt": go_time(n * 1_000_000),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": fingerprint(labels),
            }
        )
    return envelope("firing", alerts, {"alertname": "ModelServingErrors", "model": model})


@dataclass
class Exchange:
    sent: float
    seconds: float
    status: int


@dataclass
class Drive:
    big: Exchange | None
    big_answer: bytes
    small: list[Exchange] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    @property
    def during(self) -> list[float]:
        """Latencies (ms) of the 1-alert requests in flight at any time while the big body was."""
        if self.big is None:
            return []
        start, end = self.big.sent, self.big.sent + self.big.seconds
        return sorted(s.seconds * 1e3 for s in self.small if s.sent < end and s.sent + s.seconds > start)

    @property
    def before(self) -> list[float]:
        start = self.big.sent if self.big else float("inf")
        return sorted(s.seconds * 1e3 for s in self.small if s.sent + s.seconds <= start)

    def p(self, q: float, values: list[float]) -> float:
        return percentile(values, q)

    @property
    def non2xx(self) -> int:
        return sum(not 200 <= s.status <= 299 for s in self.small) + (
            0 if self.big and 200 <= self.big.status <= 299 else 1
        )


async def _drive(port: int, big: bytes, small: list[bytes], offset: int) -> Drive:
    drive = Drive(None, b"")
    stop = asyncio.Event()

    async def loop() -> None:
        conn = None
        index = offset
        while not stop.is_set():
            sent = clock()
            try:
                conn = conn or await connect(port)
                status, _ = await exchange(*conn, small[index % len(small)])
            except NETWORK_ERRORS as exc:
                drive.errors += 1
                drive.first_error = drive.first_error or f"{type(exc).__name__}: {exc}"
                conn = None
                await asyncio.sleep(0.05)
                continue
            index += 1
            drive.small.append(Exchange(sent, clock() - sent, status))
        if conn:
            conn[1].close()

    task = asyncio.create_task(loop())
    await asyncio.sleep(LEAD)
    try:
        reader, writer = await connect(port)
        sent = clock()
        status, answer = await exchange(reader, writer, big)
        drive.big, drive.big_answer = Exchange(sent, clock() - sent, status), answer
        writer.close()
    except NETWORK_ERRORS as exc:
        drive.errors += 1
        drive.first_error = drive.first_error or f"big body: {type(exc).__name__}: {exc}"
    await asyncio.sleep(TAIL)
    stop.set()
    await task
    return drive


@dataclass
class BigBodyRun:
    body_bytes: int
    drive: Drive
    reference: Drive | None  # the parse-only app, same run
    incident_bytes: int = 0
    incident_seconds: float = float("nan")
    incident_alerts: int = 0  # its alert_count
    incident_listed: int = 0  # alerts in the answer (it may list only a page of them)
    problems: list[str] = field(default_factory=list)

    @property
    def p99_during(self) -> float:
        return self.drive.p(99, self.drive.during)


_bodies: dict[str, bytes] = {}


def _body(model: str) -> bytes:
    if model not in _bodies:
        _bodies[model] = big_body(model)
        validate([_bodies[model]], ALERTS)
    return _bodies[model]


def run_big_body(plan: Plan, run: int, db: str, parse_only: Subject | None) -> BigBodyRun:
    from .. import databases
    from ..accounting import account
    from ..servers import start_bridge

    body = _body("big-body-model")
    progress(f"  big body: {len(body) / 1e6:.1f} MB, {ALERTS:,} alerts")
    small = plan.payloads[1].bodies
    reference = None
    if parse_only is not None:
        port = parse_only.server.port
        reference = run_async(_drive(port, http_request(body, port), http_requests(small, port), 0))
    with databases.fresh(db, plan.tmp, plan.admin_url) as url:
        bridge = start_bridge(db, url, plan.tmp, plan.servers, plan.paging, "big-body")
        try:
            port = bridge.server.port
            drive = run_async(_drive(port, http_request(body, port), http_requests(small, port), 0))
            result = BigBodyRun(len(body), drive, reference)
            subject = Subject(bridge.server.name, bridge.server, is_bridge=True)
            subject.acked_alerts = sum(200 <= s.status <= 299 for s in drive.small)
            if drive.big and 200 <= drive.big.status <= 299:
                subject.acked_alerts += ALERTS
                _read_incident(bridge.server.base_url, drive.big_answer, result)
            else:
                status = drive.big.status if drive.big else drive.first_error
                result.problems.append(f"the big body was answered {status}")
            accounting = account("big-body", subject, drive.non2xx, drive.errors)
            result.problems += accounting.problems
        finally:
            bridge.stop()
    return result


def _read_incident(base_url: str, answer: bytes, result: BigBodyRun) -> None:
    import json

    incidents = json.loads(answer).get("incidents") or []
    if len(incidents) != 1:
        result.problems.append(f"the big body's answer names {len(incidents)} incidents, not 1")
        return
    started = time.perf_counter()
    got = httpx.get(f"{base_url}/api/v1/incidents/{incidents[0]}", timeout=600)
    result.incident_seconds = time.perf_counter() - started
    result.incident_bytes = len(got.content)
    if got.status_code != 200:
        result.problems.append(f"GET /api/v1/incidents/{incidents[0]} answered {got.status_code}")
        return
    detail = got.json()
    result.incident_listed = len(detail.get("alerts", []))
    result.incident_alerts = int(detail.get("alert_count", -1))
    if result.incident_alerts != ALERTS:
        result.problems.append(f"its incident counts {result.incident_alerts:,} alerts, not {ALERTS:,}")


def summarize(results: Results) -> Section:
    section = Section(
        f"Big body: {ALERTS:,} alerts in one webhook, 1-alert webhooks alongside on another connection"
    )
    for db in results.dbs:
        runs: list[BigBodyRun] = results.of("big-body", db)
        if not runs:
            continue
        w = worst(runs, lambda r: r.p99_during, higher_is_worse=True)
        d, ref = w.drive, w.reference
        big_s = d.big.seconds if d.big else float("nan")
        ref_big = ref.big.seconds if ref and ref.big else None
        ref_p99 = ref.p(99, ref.during) if ref else None
        section.add(
            f"  bridge-{db:<11} body {w.body_bytes / 1e6:.1f} MB answered "
            f"{d.big.status if d.big else '-'} in {versus(big_s, ref_big, ' s')}"
        )
        section.add(
            f"  {'':<18} 1-alert webhooks in flight meanwhile: {len(d.during)}, "
            f"p50 {d.p(50, d.during):.1f} ms, p99 {versus(w.p99_during, ref_p99, ' ms', 1)}, "
            f"max {max(d.during, default=float('nan')):.1f} ms (before it: p99 {d.p(99, d.before):.1f} ms)"
            + per_run([f"p99 {r.p99_during:.0f} ms" for r in runs])
        )
        section.add(
            f"  {'':<18} GET /api/v1/incidents/{{id}} of its incident: {w.incident_bytes / 1e6:.1f} MB, "
            f"alert_count {w.incident_alerts:,}, {w.incident_listed:,} alerts listed, "
            f"in {w.incident_seconds:.2f} s"
        )
        problems = [p for r in runs for p in r.problems]
        for problem in problems:
            section.add(f"  {'':<18} ! {problem}")
        section.checks.append(
            Check(
                "big-body",
                f"1-alert p99 < {BIG_BODY_P99_MS / 1e3:.0f} s during the big body",
                db,
                f"{w.p99_during:,.0f} ms",
                w.p99_during < BIG_BODY_P99_MS,
            )
        )
        section.checks.append(
            Check(
                "big-body",
                "stored: 2xx, one incident with every alert",
                db,
                "ok" if not problems else "see above",
                not problems,
            )
        )
    return section
