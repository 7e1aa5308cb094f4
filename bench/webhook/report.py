"""The report: what the runs found (Results), the table of every measured run, the sections the
scenarios write, and number formats shared by them (an absolute figure, then its ratio to the
reference where there is one)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .accounting import Accounting
from .common import ratio
from .measure import Row
from .targets import Check

T = TypeVar("T")
NOISE_PCT = 50  # CPU % used outside the measured processes that marks a run as disturbed


@dataclass
class Results:
    runs: int
    dbs: tuple[str, ...]
    selected: tuple[str, ...]
    parse_only: dict[int, list[Row]] = field(default_factory=dict)  # run -> its closed-loop sweep
    accounting: dict[str, list[Accounting]] = field(default_factory=dict)  # db -> every bridge server
    notes: list[str] = field(default_factory=list)  # problems of the reference measurements
    errors: list[tuple[str, str, int, str]] = field(default_factory=list)  # scenario, db, run, what
    _data: dict[tuple[str, str], list[Any]] = field(default_factory=dict)

    def add(self, scenario: str, db: str, value: Any) -> None:
        self._data.setdefault((scenario, db), []).append(value)

    def of(self, scenario: str, db: str) -> list[Any]:
        """The results of `scenario` on `db`, one per run, in run order."""
        return self._data.get((scenario, db), [])

    def account(self, db: str, accounting: Accounting) -> None:
        self.accounting.setdefault(db, []).append(accounting)


@dataclass
class Section:
    """What one scenario has to say: its lines of the report and its targets."""

    title: str
    lines: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


def times(value: float | None) -> str:
    """A ratio as `0.21x`; `-` when there is none."""
    return "-" if value is None or math.isnan(value) else f"{value:.2f}x"


def versus(value: float, reference: float | None, unit: str = "", digits: int = 2) -> str:
    """`value`, and its ratio to `reference` (`= 0.21x parse-only`) when there is one."""
    text = f"{value:,.{digits}f}{unit}"
    r = ratio(value, reference)
    return text if r is None else f"{text} = {r:.2f}x parse-only {reference:,.{digits}f}{unit}"


def worst(values: Sequence[T], key: Callable[[T], float], higher_is_worse: bool) -> T:
    """The worst of the runs' results by `key` (NaN counts as the worst)."""

    def badness(item: T) -> float:
        value = key(item)
        if math.isnan(value):
            return math.inf
        return value if higher_is_worse else -value

    return max(values, key=badness)


def per_run(values: Sequence[str]) -> str:
    """`runs: a / b / c` when there was more than one run, else nothing."""
    return f" (runs: {' / '.join(values)})" if len(values) > 1 else ""


HEADER = (
    f"{'run':>3} {'target':<18} {'scenario':<8} {'alerts':>6} {'conc':>14} {'req/s':>8} {'alerts/s':>9} "
    f"{'x p/o':>6} {'p50 ms':>8} {'p99 ms':>8} {'x p/o':>6} {'non-2xx':>7} {'errors':>6} {'batch':>6} "
    f"{'srv cpu% loop+other+children':>28} {'pg%':>4} {'gen%':>4} {'host%':>5}"
)
LEGEND = (
    "(conc: open connections, or a paced open-loop rate; x p/o: alerts/s and p99 as a multiple of "
    "the parse-only app's under the same load in the same run; batch: webhook requests per commit; "
    "srv cpu%: server event-loop thread + its other threads + its child processes; pg%: all "
    "postgres processes; gen%: load generator; host%: whole machine, 200 = both cores busy, "
    f"! = more than {NOISE_PCT}% of a core went to other processes during the run)"
)


def format_row(row: Row) -> str:
    r, c = row.result, row.cpu
    ref = row.reference
    batch = f"{row.batch:.1f}" if row.batch is not None else "-"
    srv = f"{max(0.0, c['loop']):.0f}+{max(0.0, c['other']):.0f}+{max(0.0, c['children']):.0f}"
    pg = f"{c['pg']:.0f}" if row.target.endswith("postgresql") else "-"
    elsewhere = c["host"] - c["loop"] - c["other"] - c["children"] - c["pg"] - c["gen"]
    host = f"{c['host']:.0f}" + ("!" if elsewhere > NOISE_PCT else "")
    x_rate = times(ratio(row.alerts_s, ref.alerts_s)) if ref else "-"
    x_p99 = times(ratio(r.p99_ms, ref.result.p99_ms)) if ref else "-"
    return (
        f"{row.run:>3} {row.target:<18} {row.scenario:<8} {row.alerts_per_body:>6} {row.load:>14} "
        f"{row.rps:>8,.0f} {row.alerts_s:>9,.0f} {x_rate:>6} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {x_p99:>6} "
        f"{r.non2xx:>7} {r.errors:>6} {batch:>6} {srv:>28} {pg:>4} {c['gen']:>4.0f} {host:>5}"
    )


def table(rows: list[Row]) -> list[str]:
    return [HEADER, *(format_row(row) for row in rows), LEGEND]
