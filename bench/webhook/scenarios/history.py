"""History: the intake peak on a database that already holds 1,000,000 alerts and 100,000
resolved incidents (history_data.py), next to the peak on an empty database in the same run
(the peak scenario's 1-alert sweep, or a sweep of its own when peak is not run). The filled
database is written once per database kind, then copied for each run. Target: >= 0.80x the
empty database's peak. Also reported: the database's size and how long a few reads take on it.
--quick uses 100,000 alerts and 10,000 incidents."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import httpx

from .. import databases, history_data
from ..accounting import account
from ..common import progress
from ..measure import Plan, Row, Subject, best, sweep
from ..report import Results, Section, per_run, times, worst
from ..servers import start_bridge
from ..targets import HISTORY_RATIO, Check

FULL = (1_000_000, 100_000)  # alerts, resolved incidents
QUICK = (100_000, 10_000)
READS = {  # what a person or a dashboard asks first, timed once before the load
    "GET /metrics": "/metrics",
    "GET /api/v1/incidents": "/api/v1/incidents",
    "GET /api/v1/incidents?status=open": "/api/v1/incidents?status=open",
}


@dataclass
class Template:
    db: str
    name: str  # what databases.fresh copies: a SQLite file or a PostgreSQL database
    alerts: int
    incidents: int
    seconds: float
    size_bytes: int


def prepare(plan: Plan, db: str, stack: contextlib.ExitStack) -> Template:
    """Write the filled database once; it is removed when `stack` closes."""
    alerts, incidents = QUICK if plan.quick else FULL
    url = stack.enter_context(databases.fresh(db, plan.tmp, plan.admin_url))
    seconds = history_data.generate(db, url, alerts, incidents)
    if db == "postgresql":  # its writes reach the data files now, not during a measurement
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    size = databases.size_bytes(db, url)
    progress(
        f"  {db}: {incidents:,} incidents and {alerts:,} alerts written in {seconds:.0f} s, "
        f"{size / 1e6:,.0f} MB"
    )
    return Template(db, databases.name_of(db, url), alerts, incidents, seconds, size)


@dataclass
class HistoryRun:
    template: Template
    rows: list[Row]  # the 1-alert sweep on the filled database
    empty: list[Row]  # the same on an empty database, same run
    startup_seconds: float
    reads: dict[str, tuple[int, float]] = field(default_factory=dict)  # status, seconds
    problems: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        return best(self.rows, 1).alerts_s / best(self.empty, 1).alerts_s


def _sweep_on(
    plan: Plan, run: int, db: str, url: str, purpose: str, reference: list[Row], result: HistoryRun | None
) -> list[Row]:
    bridge = start_bridge(db, url, plan.tmp, plan.servers, plan.paging, purpose)
    try:
        subject = Subject(bridge.server.name, bridge.server, is_bridge=True, with_postgres=db == "postgresql")
        if result is not None:
            result.startup_seconds = bridge.startup_seconds
            for what, path in READS.items():
                started = time.perf_counter()
                status = httpx.get(f"{bridge.server.base_url}{path}", timeout=300).status_code
                result.reads[what] = (status, time.perf_counter() - started)
        rows = sweep(plan, subject, run, purpose, sizes=(1,), references=reference)
        problems = account(purpose, subject).problems
        if result is not None:
            result.problems += problems
        return rows
    finally:
        bridge.stop()


def run_history(
    plan: Plan, run: int, db: str, template: Template, empty: list[Row], reference: list[Row]
) -> HistoryRun:
    if not empty:
        with databases.fresh(db, plan.tmp, plan.admin_url) as url:
            empty = _sweep_on(plan, run, db, url, "empty", reference, None)
    result = HistoryRun(template, [], [r for r in empty if r.alerts_per_body == 1], 0.0)
    with databases.fresh(db, plan.tmp, plan.admin_url, template=template.name) as url:
        result.rows = _sweep_on(plan, run, db, url, "history", reference, result)
    return result


def summarize(results: Results) -> Section:
    section = Section("History: intake peak on a database full of past incidents, against an empty one")
    for db in results.dbs:
        runs: list[HistoryRun] = results.of("history", db)
        if not runs:
            continue
        w = worst(runs, lambda r: r.share, higher_is_worse=False)
        t = w.template
        full, empty = best(w.rows, 1), best(w.empty, 1)
        ref = full.reference
        scaled = " (scaled down by --quick)" if t.alerts < FULL[0] else ""
        section.add(
            f"  bridge-{db:<11} {t.alerts:,} alerts and {t.incidents:,} resolved incidents{scaled}, "
            f"{t.size_bytes / 1e6:,.0f} MB on disk, written in {t.seconds:.0f} s; "
            f"ready {w.startup_seconds:.1f} s after start"
        )
        section.add(
            f"  {'':<18} 1-alert peak {full.alerts_s:,.0f} alerts/s at {full.load} connection(s) = "
            f"{w.share:.2f}x the empty database's {empty.alerts_s:,.0f} (at {empty.load})"
            + (f", {times(full.alerts_s / ref.alerts_s)} parse-only" if ref else "")
            + per_run([f"{r.share:.2f}x" for r in runs])
        )
        section.add(
            f"  {'':<18} reads before the load: "
            + ", ".join(
                f"{what} {status} in {seconds * 1e3:,.0f} ms" for what, (status, seconds) in w.reads.items()
            )
        )
        problems = [p for r in runs for p in r.problems]
        for problem in problems:
            section.add(f"  {'':<18} ! {problem}")
        section.checks.append(
            Check(
                "history",
                f"1-alert peak >= {HISTORY_RATIO:.2f}x the empty database's",
                db,
                f"{w.share:.2f}x{scaled}",
                w.share >= HISTORY_RATIO and not problems,
            )
        )
    return section
