"""Peak: closed-loop runs at every connection count, 1- and 10-alert bodies, next to the
parse-only app measured the same way in the same run, cell by cell: each body size and
connection count runs on the parse-only app, then on each database's server, back to back
(`measure.interleaved`). The best connection count of each body
size is the peak; the 1-connection run gives the latency of one connection alone.

Targets: SQLite's peak >= 0.35x parse-only (1-alert) and >= 0.20x (10-alert); PostgreSQL's >=
0.80x SQLite's, per body size; one connection alone, 1-alert bodies: p50 < 5 ms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common import ratio
from ..measure import Plan, Row, Subject, best, measure
from ..payloads import SIZES
from ..report import Results, Section, per_run, times, versus, worst
from ..targets import POSTGRESQL_VS_SQLITE, SINGLE_CONNECTION_P50_MS, SQLITE_PEAK_RATIO, Check


@dataclass
class PeakRun:
    rows: list[Row]  # the bridge's closed-loop runs
    reference: list[Row] = field(default_factory=list)  # the parse-only app's, same run
    estimate: bool = False  # one run per body size at the largest connection count only

    @property
    def run(self) -> int:
        return self.rows[0].run

    def best(self, size: int) -> Row:
        return best(self.rows, size)

    def ceiling(self, size: int) -> Row | None:
        return best(self.reference, size) if self.reference else None

    def share(self, size: int) -> float | None:
        """Peak alerts/s as a share of the parse-only app's peak in the same run."""
        top = self.ceiling(size)
        return ratio(self.best(size).alerts_s, top.alerts_s if top else None)

    def single(self, size: int) -> Row | None:
        return next((r for r in self.rows if r.alerts_per_body == size and r.load == "1"), None)


def estimate(plan: Plan, subject: Subject, run: int) -> PeakRun:
    """The peak for the paced load when the sweep is not run: one closed-loop run per body size at
    the largest connection count (usually lower than the sweep's: the database is younger)."""
    rows = [measure(plan, subject, run, "estimate", size, max(plan.levels)) for size in SIZES]
    return PeakRun(rows, estimate=True)


def _peak_line(db: str, size: int, runs: list[PeakRun]) -> tuple[str, PeakRun]:
    judged_by_share = all(r.share(size) is not None for r in runs)
    w = worst(
        runs,
        (lambda r: r.share(size) or 0.0) if judged_by_share else (lambda r: r.best(size).alerts_s),
        False,
    )
    row, top = w.best(size), w.ceiling(size)
    where = f" (at {top.load})" if top else ""
    text = (
        f"  bridge-{db:<11} {size:>2}-alert bodies: "
        f"{versus(row.alerts_s, top.alerts_s if top else None, ' alerts/s', 0)}{where}; "
        f"bridge at {row.load} connection(s)"
    )
    return text + per_run([f"{r.best(size).alerts_s:,.0f} ({times(r.share(size))})" for r in runs]), w


def summarize(results: Results) -> list[Section]:
    peak = Section("Peak alerts/s: the best connection count, and its share of the parse-only app's peak")
    single = Section("One connection alone (closed loop, 1 connection)")
    for db in results.dbs:
        runs: list[PeakRun] = results.of("peak", db)
        for size in SIZES if runs else ():
            line, w = _peak_line(db, size, runs)
            peak.add(line)
            shares = [r.share(size) for r in runs]
            share = None if None in shares else min(s for s in shares if s is not None)
            if db == "sqlite":
                goal = SQLITE_PEAK_RATIO[size]
                peak.checks.append(
                    Check(
                        "peak",
                        f"{size}-alert peak >= {goal:.2f}x parse-only",
                        db,
                        f"{times(share)} ({w.best(size).alerts_s:,.0f} alerts/s)",
                        None if share is None else share >= goal,
                    )
                )
            elif db == "postgresql":
                _versus_sqlite(results, size, runs, peak)
            _single(db, size, runs, single)
    return [peak, single]


def _versus_sqlite(results: Results, size: int, runs: list[PeakRun], section: Section) -> None:
    sqlite: list[PeakRun] = results.of("peak", "sqlite")
    what = f"{size}-alert peak >= {POSTGRESQL_VS_SQLITE:.2f}x SQLite's"
    if not sqlite:
        section.checks.append(Check("peak", what, "postgresql", "SQLite not measured", None))
        return
    same_run = {lite.run: lite for lite in sqlite}
    shares = [
        pg.best(size).alerts_s / same_run[pg.run].best(size).alerts_s for pg in runs if pg.run in same_run
    ]
    if not shares:
        section.checks.append(Check("peak", what, "postgresql", "no run measured both", None))
        return
    section.add(
        f"  {'':<18} PostgreSQL / SQLite, {size:>2}-alert bodies, same run: {min(shares):.2f}x"
        + per_run([f"{s:.2f}x" for s in shares])
    )
    section.checks.append(
        Check("peak", what, "postgresql", f"{min(shares):.2f}x", min(shares) >= POSTGRESQL_VS_SQLITE)
    )


def _single(db: str, size: int, runs: list[PeakRun], section: Section) -> None:
    rows = [(r.single(size), r) for r in runs]
    measured = [(row, r) for row, r in rows if row is not None]
    if not measured:
        if size == 1:
            section.checks.append(
                Check(
                    "peak",
                    f"1 connection, 1-alert p50 < {SINGLE_CONNECTION_P50_MS:.0f} ms",
                    db,
                    "1 not in --concurrency",
                    None,
                )
            )
        return
    row, run = worst(measured, lambda pair: pair[0].result.p50_ms, higher_is_worse=True)
    ref = next((r for r in run.reference if r.alerts_per_body == size and r.load == "1"), None)
    p50, p99 = row.result.p50_ms, row.result.p99_ms
    section.add(
        f"  bridge-{db:<11} {size:>2}-alert bodies: "
        f"p50 {versus(p50, ref.result.p50_ms if ref else None, ' ms')}; "
        f"p99 {versus(p99, ref.result.p99_ms if ref else None, ' ms')}; {row.rps:,.0f} req/s"
        + per_run([f"p50 {r.result.p50_ms:.2f} ms" for r, _ in measured])
    )
    if size == 1:
        section.checks.append(
            Check(
                "peak",
                f"1 connection, 1-alert p50 < {SINGLE_CONNECTION_P50_MS:.0f} ms",
                db,
                f"{p50:.2f} ms",
                p50 < SINGLE_CONNECTION_P50_MS,
            )
        )
