"""Runs the selected scenarios N times. Within a run: the parse-only app (its sweep first when
peak is selected; it stays up, idle, as the reference of the other scenarios), then for each
database the shared server (idle-memory, peak, paced, page-latency), big-body, storm and
history, each on a fresh database. The filled databases of history are written once, up front."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable

from . import databases
from .accounting import account
from .common import progress
from .measure import Plan, Subject, sweep
from .report import Results
from .scenarios import SHARED_SERVER, big_body, history, idle_memory, paced, page_latency, peak, storm
from .servers import start_bridge, start_parse_only

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
                if parse_only is not None and "peak" in selected:
                    results.parse_only[run] = sweep(plan, parse_only, run, "peak")
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

    def shared() -> None:
        _shared_server(plan, results, run, db, parse_only)

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

    names = [name for name in SHARED_SERVER if name in selected]
    if names:
        _guarded(results, "+".join(names), db, run, shared)
    if "big-body" in selected:
        _guarded(results, "big-body", db, run, big)
    if "storm" in selected:
        _guarded(results, "storm", db, run, alert_storm)
    if "history" in selected and template is not None:
        _guarded(results, "history", db, run, past)


def _shared_server(plan: Plan, results: Results, run: int, db: str, parse_only: Subject | None) -> None:
    selected = results.selected
    with databases.fresh(db, plan.tmp, plan.admin_url) as url:
        bridge = start_bridge(db, url, plan.tmp, plan.servers, plan.paging, "shared")
        try:
            subject = Subject(
                bridge.server.name, bridge.server, is_bridge=True, with_postgres=db == "postgresql"
            )
            if "idle-memory" in selected:
                reference = parse_only.server if parse_only else None
                results.add("idle-memory", db, idle_memory.measure(bridge, reference, run))
            peak_run = None
            if "peak" in selected:
                peak_run = peak.measure_peak(plan, subject, run, results.parse_only.get(run, []))
                results.add("peak", db, peak_run)
            elif "paced" in selected or ("page-latency" in selected and bridge.sink_url):
                peak_run = peak.estimate(plan, subject, run)
            if "paced" in selected and peak_run is not None:
                results.add("paced", db, paced.measure_paced(plan, subject, parse_only, peak_run, run))
            if "page-latency" in selected and bridge.sink_url and peak_run is not None:
                phases = page_latency.measure_latency(plan, subject, db, bridge.sink_url, peak_run, run)
                results.add("page-latency", db, phases)
            results.account(db, account(f"run {run}, shared server", subject))
        finally:
            bridge.stop()
