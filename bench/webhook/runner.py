"""Runs the selected scenarios N times. Within a run: the parse-only app (it stays up, idle, as
the reference of the other scenarios); the shared servers, one per database (idle-memory, then
the peak sweep cell by cell over the parse-only app and every database, then paced and
page-latency on each); then for each database big-body, storm and history, each on a fresh
database. The filled databases of history are written once, up front."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable

from . import databases
from .accounting import account
from .common import progress
from .measure import Plan, Subject, interleaved
from .report import Results
from .sampling import settle
from .scenarios import SHARED_SERVER, big_body, history, idle_memory, paced, page_latency, peak, storm
from .servers import Bridge, start_bridge, start_parse_only

NEEDS_PARSE_ONLY = ("peak", "paced", "big-body", "storm")


def run_all(plan: Plan, selected: tuple[str, ...], dbs: tuple[str, ...]) -> Results:
    results = Results(plan.runs, dbs, selected)
    with contextlib.ExitStack() as stack:
        templates: dict[str, history.Template] = {}
        if "history" in selected:
            progress("writing the databases of the history scenario")
            for db in dbs:

                def prepare(db: str = db) -> None:
                    templates[db] = history.prepare(plan, db, stack)

                _guarded(results, "history", db, 0, prepare)
        for run in range(1, plan.runs + 1):
            progress(f"run {run} of {plan.runs}")
            parse_only = None
            if any(name in selected for name in NEEDS_PARSE_ONLY):
                server = start_parse_only(plan.tmp, plan.servers)
                parse_only = Subject("parse-only", server, is_bridge=False)
            try:
                if any(name in selected for name in SHARED_SERVER):
                    _shared_servers(plan, results, run, dbs, parse_only)
                for db in dbs:
                    _one_database(plan, results, run, db, parse_only, templates.get(db))
            finally:
                if parse_only is not None:
                    parse_only.server.stop()
                    if parse_only.non2xx or parse_only.errors:
                        results.notes.append(
                            f"parse-only, run {run}: {parse_only.non2xx} non-2xx, "
                            f"{parse_only.errors} socket errors/timeouts (warm-ups included)"
                        )
    return results


def _guarded(results: Results, scenario: str, db: str, run: int, work: Callable[[], None]) -> None:
    """Run one scenario; an error is reported (and fails the run) without stopping the others."""
    try:
        work()
    except Exception as exc:
        lines = str(exc).strip().splitlines() or [""]
        what = f"{type(exc).__name__}: {lines[0]}"
        progress(f"  ! {scenario} on {db}, run {run}, stopped: {what}")
        progress("".join(traceback.format_exception(exc)[-3:]) + "\n".join(lines[1:][-15:]))
        results.errors.append((scenario, db, run, what))


def _one_database(
    plan: Plan,
    results: Results,
    run: int,
    db: str,
    parse_only: Subject | None,
    template: history.Template | None,
) -> None:
    selected = results.selected

    def big() -> None:
        results.add("big-body", db, big_body.run_big_body(plan, run, db, parse_only))

    def alert_storm() -> None:
        results.add("storm", db, storm.run_storm(plan, run, db, parse_only))

    def past() -> None:
        assert template is not None
        peaks: list[peak.PeakRun] = results.of("peak", db)
        empty = next((p.rows for p in peaks if p.run == run), [])
        reference = results.parse_only.get(run, [])
        results.add("history", db, history.run_history(plan, run, db, template, empty, reference))

    if "big-body" in selected:
        _guarded(results, "big-body", db, run, big)
    if "storm" in selected:
        _guarded(results, "storm", db, run, alert_storm)
    if "history" in selected and template is not None:
        _guarded(results, "history", db, run, past)


def _shared_servers(
    plan: Plan, results: Results, run: int, dbs: tuple[str, ...], parse_only: Subject | None
) -> None:
    """The servers of the first scenarios, one per database, up together: the peak sweep goes
    cell by cell over the parse-only app and all of them (`measure.interleaved`)."""
    selected = results.selected
    with contextlib.ExitStack() as everything:
        servers: dict[str, tuple[Bridge, Subject, contextlib.ExitStack]] = {}
        for db in dbs:

            def start(db: str = db) -> None:
                own = everything.enter_context(contextlib.ExitStack())
                url = own.enter_context(databases.fresh(db, plan.tmp, plan.admin_url))
                bridge = start_bridge(db, url, plan.tmp, plan.servers, plan.paging, "shared")
                own.callback(bridge.stop)
                subject = Subject(
                    bridge.server.name, bridge.server, is_bridge=True, with_postgres=db == "postgresql"
                )
                servers[db] = (bridge, subject, own)

            _guarded(results, "start", db, run, start)
        if "idle-memory" in selected:
            reference = parse_only.server if parse_only else None
            for db, (bridge, _, _) in servers.items():

                def idle(db: str = db, bridge: Bridge = bridge) -> None:
                    reading = idle_memory.measure(bridge, reference, run)
                    reading.inline = idle_memory.measure_inline(plan, db, run)
                    results.add("idle-memory", db, reading)

                _guarded(results, "idle-memory", db, run, idle)
        peaks: dict[str, peak.PeakRun] = {}
        if "peak" in selected and servers:

            def sweep_all() -> None:
                bridges = [subject for _, subject, _ in servers.values()]
                rows = interleaved(plan, ([parse_only] if parse_only else []) + bridges, run, "peak")
                if parse_only is not None:
                    results.parse_only[run] = rows[parse_only.name]
                for db, (_, subject, _) in servers.items():
                    peaks[db] = peak.PeakRun(rows[subject.name], results.parse_only.get(run, []))
                    results.add("peak", db, peaks[db])

            _guarded(results, "peak", "+".join(servers), run, sweep_all)
        for db, (bridge, subject, own) in servers.items():

            def rest(db: str = db, bridge: Bridge = bridge, subject: Subject = subject) -> None:
                _paced_and_latency(plan, results, run, db, bridge, subject, parse_only, peaks.get(db))

            _guarded(results, "paced+page-latency", db, run, rest)
            results.account(db, account(f"run {run}, shared server", subject))
            own.close()  # stopped before the next database's paced load


def _paced_and_latency(
    plan: Plan,
    results: Results,
    run: int,
    db: str,
    bridge: Bridge,
    subject: Subject,
    parse_only: Subject | None,
    peak_run: peak.PeakRun | None,
) -> None:
    selected = results.selected
    settle()  # the other servers' pages of the peak sweep must not fall into this load
    wanted = "paced" in selected or ("page-latency" in selected and bridge.sink_url)
    if peak_run is None and wanted:
        peak_run = peak.estimate(plan, subject, run)
    if "paced" in selected and peak_run is not None:
        results.add("paced", db, paced.measure_paced(plan, subject, parse_only, peak_run, run))
    if "page-latency" in selected and bridge.sink_url and peak_run is not None:
        phases = page_latency.measure_latency(plan, subject, db, bridge.sink_url, peak_run, run)
        results.add("page-latency", db, phases)
