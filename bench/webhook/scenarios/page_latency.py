"""Page latency: from a webhook's 2xx to the first HTTP page for its incident at the local sink,
idle and then under a paced run of 1-alert bodies at half the peak rate (page_probe.py has the
method). Targets under that load: p50 < 100 ms, p99 < 250 ms; every probe paged in both phases."""

from __future__ import annotations

import math

from .. import page_probe
from ..common import progress
from ..loadgen import LoadResult
from ..measure import PACED_MAX_CONNECTIONS, Plan, Subject, unmeasured
from ..report import Results, Section, per_run, worst
from ..targets import PAGE_P50_MS, PAGE_P99_MS, Check
from .peak import PeakRun

Phases = list[page_probe.Phase]  # idle, under load


def measure_latency(plan: Plan, subject: Subject, db: str, sink_url: str, peak: PeakRun, run: int) -> Phases:
    bridge_url, rate = subject.server.base_url, peak.best(1).rps / 2

    def load(seconds: float) -> LoadResult:
        return unmeasured(plan, subject, 1, PACED_MAX_CONNECTIONS, math.ceil(seconds), rate)

    settled = page_probe.settle(sink_url)  # the pages of the runs before may still be going out
    progress(f"  {subject.name:<18} page latency, idle")
    prefix = f"latency-probe-{db}-{run}"
    idle, _ = page_probe.run_phase(bridge_url, sink_url, f"{prefix}-idle", "idle")
    if not settled:
        idle.load = "NOT idle: pages of the runs before were still going out"
    progress(f"  {subject.name:<18} page latency, paced {rate:,.0f}/s")
    busy, r = page_probe.run_phase(bridge_url, sink_url, f"{prefix}-load", "under load", load)
    if r is not None:
        busy.load = (
            f"alongside: paced {rate:,.0f}/s of 1-alert bodies, got {r.requests / r.seconds:,.0f}/s, "
            f"answers p99 {r.p99_ms:.1f} ms, non-2xx {r.non2xx}, errors {r.errors}"
        )
    subject.server.check_alive()
    return [idle, busy]


def summarize(results: Results) -> Section:
    section = Section(
        "Page latency: from the webhook's 2xx to the first HTTP page for its incident at the sink"
    )
    for db in results.dbs:
        runs: list[Phases] = results.of("page-latency", db)
        if not runs:
            continue
        for index, name in enumerate(("idle", "under load")):
            phases = [r[index] for r in runs]
            w = worst(phases, lambda p: p.percentile(99), higher_is_worse=True)
            section.add(
                f"  bridge-{db:<11} {w.line()}" + per_run([f"p99 {p.percentile(99):.1f} ms" for p in phases])
            )
            if name == "under load":
                p50 = max((p.percentile(50) for p in phases), key=lambda v: math.inf if math.isnan(v) else v)
                p99 = w.percentile(99)
                section.checks.append(
                    Check(
                        "page-latency",
                        f"p50 < {PAGE_P50_MS:.0f} ms under half-peak load",
                        db,
                        f"{p50:.1f} ms",
                        p50 < PAGE_P50_MS,
                    )
                )
                section.checks.append(
                    Check(
                        "page-latency",
                        f"p99 < {PAGE_P99_MS:.0f} ms under half-peak load",
                        db,
                        f"{p99:.1f} ms",
                        p99 < PAGE_P99_MS,
                    )
                )
        problems = [problem for r in runs for phase in r for problem in phase.problems]
        for problem in problems:
            section.add(f"  {'':<18} ! {problem}")
        paged = sum(len(p.paged) for r in runs for p in r)
        probes = sum(len(p.probes) for r in runs for p in r)
        section.checks.append(
            Check(
                "page-latency",
                "every probe answered 2xx and paged",
                db,
                f"{paged}/{probes} paged",
                not problems,
            )
        )
    return section
