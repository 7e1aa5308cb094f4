"""Paced: an open loop at half the peak request rate of the same run, per body size, on the
bridge and then on the parse-only app at the same rate. Requests leave on a fixed schedule on idle
keep-alive connections or new ones, and latency counts from the scheduled send time, so queueing
inside the server is not hidden. Target: answer p99 < 50 ms, 1- and 10-alert bodies."""

from __future__ import annotations

from dataclasses import dataclass

from ..measure import PACED_MAX_CONNECTIONS, Plan, Row, Subject, measure
from ..payloads import SIZES
from ..report import Results, Section, per_run, worst
from ..targets import PACED_P99_MS, Check
from .peak import PeakRun


@dataclass
class PacedRun:
    rows: dict[int, Row]  # per body size; each row's reference is the parse-only app's


def measure_paced(
    plan: Plan, subject: Subject, parse_only: Subject | None, peak: PeakRun, run: int
) -> PacedRun:
    rows = {}
    for size in SIZES:
        rate = peak.best(size).rps / 2
        row = measure(plan, subject, run, "paced", size, PACED_MAX_CONNECTIONS, rate)
        if parse_only is not None:
            row.reference = measure(plan, parse_only, run, "paced", size, PACED_MAX_CONNECTIONS, rate)
        rows[size] = row
    return PacedRun(rows)


def _ms(value: float, reference: Row | None, attr: str) -> str:
    text = f"{value:.2f} ms"
    if reference is None:
        return text
    ref = getattr(reference.result, attr)
    return f"{text} ({value / ref:.1f}x parse-only {ref:.2f} ms)" if ref else text


def summarize(results: Results) -> Section:
    section = Section("Half the peak request rate, paced (latency from the scheduled send time)")
    for db in results.dbs:
        runs: list[PacedRun] = results.of("paced", db)
        for size in SIZES if runs else ():
            rows = [r.rows[size] for r in runs]
            row = worst(rows, lambda r: r.result.p99_ms, higher_is_worse=True)
            r = row.result
            section.add(
                f"  bridge-{db:<11} {size:>2}-alert bodies: asked {row.load.split()[1]}, "
                f"got {row.rps:,.0f}/s; p50 {_ms(r.p50_ms, row.reference, 'p50_ms')}, "
                f"p99 {_ms(r.p99_ms, row.reference, 'p99_ms')}; non-2xx {r.non2xx}, errors {r.errors}; "
                f"generator send lag p99 {r.send_lag_p99_ms or 0:.2f} ms, "
                f"{r.peak_connections} connections" + per_run([f"p99 {x.result.p99_ms:.1f} ms" for x in rows])
            )
            clean = all(x.result.non2xx == 0 and x.result.errors == 0 for x in rows)
            section.checks.append(
                Check(
                    "paced",
                    f"{size}-alert p99 < {PACED_P99_MS:.0f} ms at half the peak rate",
                    db,
                    f"{r.p99_ms:.1f} ms" + ("" if clean else ", with non-2xx/errors"),
                    r.p99_ms < PACED_P99_MS and clean,
                )
            )
    return section
