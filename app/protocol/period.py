"""Periods of the communication protocol: a Prometheus-style duration (`72h`, `15d`) or whole
calendar months (`1mo`: "one month after the notification"), added to a moment."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.durations import parse_duration

_MONTHS = re.compile(r"^(\d{1,3})mo$")


@dataclass(frozen=True)
class Period:
    months: int = 0
    delta: timedelta = timedelta(0)

    def after(self, moment: datetime) -> datetime:
        """The moment this period after `moment`; a month ends on the last day when shorter."""
        if not self.months:
            return moment + self.delta
        index = moment.month - 1 + self.months
        year, month = moment.year + index // 12, index % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        return moment.replace(year=year, month=month, day=day) + self.delta

    def __str__(self) -> str:
        if self.months:
            return f"{self.months}mo"
        seconds = int(self.delta.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds and seconds % size == 0:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"


def parse_period(text: str) -> Period:
    """`1mo`, `3mo`, or any duration app.durations reads; raises ValueError naming the text."""
    match = _MONTHS.match(text.strip()) if isinstance(text, str) else None
    if match:
        return Period(months=int(match.group(1)))
    return Period(delta=parse_duration(text))
