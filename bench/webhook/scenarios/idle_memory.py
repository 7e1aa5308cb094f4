"""Idle memory: resident memory of the serve process and its children after start-up and one
webhook (a new incident, paged), before any load. Target: under 120 MB, summed.

The reading is taken once the webhook's page has reached the sink (so whatever process sends
pages is up and has sent one), and 1 s later; without paging, 1 s after the answer.

For reference (not judged), each run also reads the same of `serve --inline` on a database of
its own: one process that serves, sends and runs the jobs, as a deployment short of memory would
run it."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import httpx

from .. import databases, page_probe
from ..common import WEBHOOK_PATH, progress
from ..measure import Plan
from ..report import Results, Section, per_run, worst
from ..sampling import ProcessMemory, describe, total_mb, total_pss_mb, tree_memory
from ..servers import Bridge, Server, start_bridge
from ..targets import IDLE_RSS_MB, Check

SETTLE_SECONDS = 1.0  # after the page arrived
PAGE_WAIT = 90.0  # seconds the page may take at most


@dataclass
class IdleMemory:
    processes: list[ProcessMemory]
    startup_seconds: float
    webhook_status: int
    page_seconds: float | None  # from the webhook's answer to its page at the sink
    parse_only: list[ProcessMemory] | None  # the parse-only app of the same run, for reference
    inline: IdleMemory | None = None  # `serve --inline` in the same run, for reference

    @property
    def total_mb(self) -> float:
        return total_mb(self.processes)


def measure(bridge: Bridge, parse_only: Server | None, run: int) -> IdleMemory:
    body = page_probe.probe_body(f"idle-memory-probe-{bridge.db}-{run}")
    headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0"}
    answer = httpx.post(f"{bridge.server.base_url}{WEBHOOK_PATH}", content=body, headers=headers, timeout=30)
    acked = time.time()
    page_seconds = None
    incidents = answer.json().get("incidents") if answer.is_success else None
    while bridge.sink_url and incidents and time.time() < acked + PAGE_WAIT:
        _, got = page_probe.arrivals(bridge.sink_url, acked - 1.0)
        arrived = [a[0] for a in got if a[1] == incidents[0] and a[3] == "page"]
        if arrived:
            page_seconds = min(arrived) - acked
            break
        time.sleep(0.05)
    time.sleep(SETTLE_SECONDS)
    return IdleMemory(
        processes=tree_memory(bridge.server.pid),
        startup_seconds=bridge.startup_seconds,
        webhook_status=answer.status_code,
        page_seconds=page_seconds,
        parse_only=tree_memory(parse_only.pid) if parse_only else None,
    )


def measure_inline(plan: Plan, db: str, run: int) -> IdleMemory | None:
    """The same reading of `serve --inline` on a fresh database, stopped afterwards; None (and a
    line of progress) if it could not be taken: a reference must not cost the run its target."""
    try:
        with contextlib.ExitStack() as own:
            url = own.enter_context(databases.fresh(db, plan.tmp, plan.admin_url))
            bridge = start_bridge(db, url, plan.tmp, plan.servers, plan.paging, "inline", ["--inline"])
            own.callback(bridge.stop)
            return measure(bridge, None, run)
    except Exception as exc:  # reported, and the run goes on
        progress(f"  bridge-{db} --inline: no reading ({type(exc).__name__}: {exc})")
        return None


def _inline_line(runs: list[IdleMemory]) -> str | None:
    inline = [m.inline for m in runs if m.inline is not None]
    if not inline:
        return None
    w = worst(inline, lambda m: m.total_mb, higher_is_worse=True)
    failed = [m.webhook_status for m in inline if not 200 <= m.webhook_status <= 299]
    return (
        f"  {'':<18} for reference, not judged: `serve --inline` (one process) {w.total_mb:.1f} MB "
        f"(PSS {total_pss_mb(w.processes):.1f} MB), "
        + (
            f"first page {w.page_seconds:.2f} s after its webhook's answer"
            if w.page_seconds is not None
            else "no page seen"
        )
        + (f"; its webhook was answered {failed}" if failed else "")
        + per_run([f"{m.total_mb:.1f} MB" for m in inline])
    )


def summarize(results: Results) -> Section:
    section = Section("Idle memory: RSS after start-up and one webhook, serve process and its children")
    for db in results.dbs:
        runs: list[IdleMemory] = results.of("idle-memory", db)
        if not runs:
            continue
        w = worst(runs, lambda m: m.total_mb, higher_is_worse=True)
        reference = (
            f" = {w.total_mb / total_mb(w.parse_only):.2f}x the parse-only app's "
            f"{total_mb(w.parse_only):.1f} MB"
            if w.parse_only
            else ""
        )
        section.add(
            f"  bridge-{db:<11} {w.total_mb:.1f} MB{reference} (PSS, shared pages once: "
            f"{total_pss_mb(w.processes):.1f} MB); {len(w.processes)} process(es): "
            f"{describe(w.processes)}; ready {w.startup_seconds:.1f} s after start, "
            + (
                f"first page {w.page_seconds:.2f} s after its webhook's answer"
                if w.page_seconds is not None
                else "no page seen"
            )
            + per_run([f"{m.total_mb:.1f} MB" for m in runs])
        )
        failed = [m.webhook_status for m in runs if not 200 <= m.webhook_status <= 299]
        if failed:
            section.add(f"  {'':<18} the webhook before the reading was answered {failed}")
        inline = _inline_line(runs)
        if inline is not None:
            section.add(inline)
        section.checks.append(
            Check(
                "idle-memory",
                f"RSS < {IDLE_RSS_MB:.0f} MB (sum over processes)",
                db,
                f"{w.total_mb:.1f} MB",
                w.total_mb < IDLE_RSS_MB and not failed,
            )
        )
    return section
