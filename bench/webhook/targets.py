"""The targets, and the table of PASS/FAIL that ends the report.

Every figure judged is the worst of the runs (--runs). Ratios compare with the parse-only app
(or, for history and PostgreSQL, the reference named) measured in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass

# peak alerts/s of SQLite as a share of the parse-only app's, per body size (alerts per body)
SQLITE_PEAK_RATIO = {1: 0.35, 10: 0.20}
POSTGRESQL_VS_SQLITE = 0.80  # PostgreSQL's peak as a share of SQLite's, per body size
PACED_P99_MS = 50.0  # answer p99 at half the peak request rate (paced open loop)
SINGLE_CONNECTION_P50_MS = 5.0  # one connection alone, 1-alert bodies
PAGE_P50_MS = 100.0  # page latency under the half-peak load
PAGE_P99_MS = 250.0
STORM_SECONDS = 15.0  # first request to the last answer
STORM_RSS_MB = 300.0  # peak RSS of the serve process and its children during the storm
HISTORY_RATIO = 0.80  # intake peak on the full database as a share of the empty database's
BIG_BODY_P99_MS = 1000.0  # 1-alert answer p99 while the big body is being taken in
IDLE_RSS_MB = 120.0  # RSS after start-up and one webhook, summed over the processes


@dataclass
class Check:
    scenario: str
    what: str
    db: str  # sqlite, postgresql, or "-" when it concerns no one database
    measured: str
    ok: bool | None  # None: not judged (could not be measured); never counts as a FAIL

    @property
    def verdict(self) -> str:
        return "-" if self.ok is None else ("PASS" if self.ok else "FAIL")


def table(checks: list[Check], runs: int) -> list[str]:
    """The targets as a table, and one closing line with the overall verdict."""
    worst = f"measured (worst of {runs} runs)" if runs > 1 else "measured"
    widths = [
        max([len("scenario"), *(len(c.scenario) for c in checks)]),
        max([len("target"), *(len(c.what) for c in checks)]),
        max([len("db"), *(len(c.db) for c in checks)]),
        max([len(worst), *(len(c.measured) for c in checks)]),
    ]

    def line(cells: tuple[str, str, str, str, str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, [*widths, 7], strict=True)).rstrip()

    out = [line(("scenario", "target", "db", worst, "verdict"))]
    out.append(line(tuple("-" * w for w in [*widths, 7])))  # type: ignore[arg-type]
    out += [line((c.scenario, c.what, c.db, c.measured, c.verdict)) for c in checks]
    failed = [c for c in checks if c.ok is False]
    judged = [c for c in checks if c.ok is not None]
    out.append("")
    out.append(
        f"{'FAIL' if failed else 'PASS'}: {len(judged) - len(failed)} of {len(judged)} targets met"
        + (f", {len(checks) - len(judged)} not judged" if len(judged) < len(checks) else "")
        + (f"; failed: {', '.join(sorted({c.scenario for c in failed}))}" if failed else "")
    )
    return out
