"""One measured load run: a warm-up, then the run itself, with the CPU of every process involved
and the service's group-commit batch size; and the sweep over connection counts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from . import loadgen, wrk
from .common import progress
from .loadgen import LoadResult
from .payloads import SIZES, Payloads
from .sampling import CpuSample, cpu_percent, settle
from .servers import Server, scrape

PACED_MAX_CONNECTIONS = 512  # open loop: connections are opened as needed, up to this


@dataclass
class Row:
    """One measured run, as a line of the measurement table."""

    target: str  # parse-only, bridge-sqlite, bridge-postgresql
    run: int
    scenario: str
    alerts_per_body: int
    load: str  # connection count, or "paced N/s"
    result: LoadResult
    cpu: dict[str, float]
    batch: float | None  # requests per commit (bridge only)
    reference: Row | None = None  # the parse-only app under the same load in the same run

    @property
    def rps(self) -> float:
        return self.result.rps

    @property
    def alerts_s(self) -> float:
        return self.rps * self.alerts_per_body

    @property
    def paced(self) -> bool:
        return self.load.startswith("paced")


@dataclass
class Subject:
    """A server being driven: where each body cycle stands, and what its clients were told."""

    name: str
    server: Server
    is_bridge: bool
    with_postgres: bool = False
    offsets: dict[int, int] = field(default_factory=lambda: dict.fromkeys(SIZES, 0))
    unmeasured_non2xx: int = 0  # warm-ups and load that ran alongside another measurement
    unmeasured_errors: int = 0
    acked_alerts: int = 0  # alerts in 2xx answers the clients received (warm-ups included)
    rows: list[Row] = field(default_factory=list)

    @property
    def non2xx(self) -> int:
        return self.unmeasured_non2xx + sum(r.result.non2xx for r in self.rows)

    @property
    def errors(self) -> int:
        return self.unmeasured_errors + sum(r.result.errors for r in self.rows)


@dataclass
class Plan:
    """What every scenario needs to know: the options, the bodies, and the table of all rows."""

    wrk: str | None
    duration: int
    warmup: int
    levels: tuple[int, ...]
    payloads: dict[int, Payloads]
    lua: dict[int, Path]
    runs: int
    quick: bool
    paging: bool
    admin_url: str
    tmp: Path
    servers: list[Server]  # every process started, stopped at the end whatever happens
    rows: list[Row] = field(default_factory=list)


def load(
    plan: Plan, subject: Subject, size: int, connections: int, seconds: float, rate: float | None = None
) -> LoadResult:
    """Drive `subject` with the pool's bodies of `size` alerts, carrying on where it stopped."""
    offset = subject.offsets[size]
    port = subject.server.port
    if plan.wrk and rate is None:
        result = wrk.run(plan.wrk, plan.lua[size], port, connections, math.ceil(seconds), offset)
    else:
        requests = loadgen.http_requests(plan.payloads[size].bodies, port)
        result = loadgen.run_python(port, requests, offset, connections, seconds, rate)
    subject.offsets[size] = result.next_offset
    subject.acked_alerts += (result.requests - result.non2xx) * size
    if result.first_error:
        progress(f"    ! {subject.name}: {result.first_error}")
    return result


def unmeasured(
    plan: Plan, subject: Subject, size: int, connections: int, seconds: float, rate: float | None
) -> LoadResult:
    """Load that is not a row of the table (warm-ups, load alongside another measurement); its
    failures still count in the correctness check."""
    result = load(plan, subject, size, connections, seconds, rate)
    subject.unmeasured_non2xx += result.non2xx
    subject.unmeasured_errors += result.errors
    return result


def measure(
    plan: Plan,
    subject: Subject,
    run: int,
    scenario: str,
    size: int,
    connections: int,
    rate: float | None = None,
    reference: Row | None = None,
) -> Row:
    """A warm-up, then the measured run, with CPU and batch size sampled around it."""
    unmeasured(plan, subject, size, connections, plan.warmup, rate)
    server = subject.server
    server.check_alive()
    before_metrics = scrape(server.base_url) if subject.is_bridge else {}
    before = CpuSample.take(server.pid, subject.with_postgres)
    result = load(plan, subject, size, connections, plan.duration, rate)
    after = CpuSample.take(server.pid, subject.with_postgres)
    server.check_alive()
    batch = None
    if subject.is_bridge:
        after_metrics = scrape(server.base_url)
        commits = after_metrics.get("batch_count", 0) - before_metrics.get("batch_count", 0)
        if commits:
            batch = (after_metrics.get("batch_sum", 0) - before_metrics.get("batch_sum", 0)) / commits
    load_text = f"paced {rate:,.0f}/s" if rate else str(connections)
    row = Row(
        subject.name, run, scenario, size, load_text, result, cpu_percent(before, after), batch, reference
    )
    subject.rows.append(row)
    plan.rows.append(row)
    progress(
        f"  {subject.name:<18} {scenario:<8} {size:>2} alert(s) {load_text:>14}  {row.rps:>8,.0f} req/s  "
        f"{row.alerts_s:>8,.0f} alerts/s  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms  "
        f"non-2xx {result.non2xx}  errors {result.errors}"
    )
    return row


def sweep(
    plan: Plan,
    subject: Subject,
    run: int,
    scenario: str,
    sizes: tuple[int, ...] = SIZES,
    references: list[Row] | None = None,
) -> list[Row]:
    """A closed-loop run at every connection count of the plan, for each body size."""
    rows = []
    for size in sizes:
        for connections in plan.levels:
            reference = next(
                (r for r in references or [] if r.alerts_per_body == size and r.load == str(connections)),
                None,
            )
            rows.append(measure(plan, subject, run, scenario, size, connections, reference=reference))
    return rows


def interleaved(
    plan: Plan, subjects: list[Subject], run: int, scenario: str, sizes: tuple[int, ...] = SIZES
) -> dict[str, list[Row]]:
    """The sweep of several servers cell by cell: each body size and connection count is run on
    every subject back to back, so that the machine's drift over the minutes of a sweep falls on
    all of them alike, and their ratios compare the same moments. The first subject that is not
    a bridge (the parse-only app) is the reference of the others' rows."""
    rows: dict[str, list[Row]] = {s.name: [] for s in subjects}
    reference_of = next((s for s in subjects if not s.is_bridge), None)
    for size in sizes:
        for connections in plan.levels:
            reference = None
            for subject in subjects:
                # What the server before left running (pages of the incidents its load opened)
                # must not fall into the next one's run.
                settle()
                row = measure(
                    plan,
                    subject,
                    run,
                    scenario,
                    size,
                    connections,
                    reference=None if subject is reference_of else reference,
                )
                if subject is reference_of:
                    reference = row
                rows[subject.name].append(row)
    return rows


def best(rows: list[Row], size: int) -> Row:
    """The closed-loop row with the most alerts/s for bodies of `size` alerts."""
    return max((r for r in rows if r.alerts_per_body == size and not r.paced), key=lambda r: r.alerts_s)
