"""Working hours, pure: "Mon-Fri 09:00-18:00" in a person's time zone, and when they next begin.

Low-urgency pages of a policy with `low_urgency.working_hours` wait for them. The times are
local wall-clock times, so 09:00 stays 09:00 across daylight-saving changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EVERY_DAY = frozenset(range(7))


@dataclass(frozen=True)
class WorkingHours:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time

    def snapshot(self) -> dict[str, Any]:
        """A JSON copy, frozen onto an incident with its escalation policy."""
        start, end = self.start.strftime("%H:%M"), self.end.strftime("%H:%M")
        return {"days": sorted(self.days), "start": start, "end": end}

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> WorkingHours:
        return cls(frozenset(int(d) for d in data["days"]), _clock(data["start"]), _clock(data["end"]))


def _clock(text: str) -> time:
    try:
        hour, minute = (int(part) for part in text.split(":"))
        return time(hour, minute)
    except ValueError:
        raise ValueError(f"a time must be HH:MM, got {text!r}") from None


def _day(text: str) -> int:
    """'Mon' or 'monday' (any case)."""
    name = text.strip().lower()
    if not name:
        raise ValueError("a weekday is missing (days look like Mon-Fri or Sat,Sun)")
    for index, day in enumerate(WEEKDAYS):
        if name in (day, day[:3]):
            return index
    raise ValueError(f"unknown weekday {text.strip()!r}")


def _days(text: str) -> frozenset[int]:
    """'Mon-Fri', 'Sat,Sun', 'Mon-Wed,Fri'; a range may wrap around the week ('Fri-Mon')."""
    days: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.partition("-")
        if not dash:
            days.add(_day(first))
            continue
        start, stop = _day(first), _day(last)
        days.update((start + i) % 7 for i in range((stop - start) % 7 + 1))
    return frozenset(days)


def parse_working_hours(text: str) -> WorkingHours:
    """'Mon-Fri 09:00-18:00', 'Mon,Wed 08:00-12:00', or '09:00-17:00' for every day."""
    parts = text.split()
    if len(parts) not in (1, 2):
        raise ValueError(f"working hours look like 'Mon-Fri 09:00-18:00', got {text!r}")
    days = _days(parts[0]) if len(parts) == 2 else EVERY_DAY
    first, dash, last = parts[-1].partition("-")
    if not dash or ":" not in parts[-1]:
        raise ValueError(f"working hours need a time range such as 09:00-18:00, got {text!r}")
    start, end = _clock(first), _clock(last)
    if end <= start:
        raise ValueError(f"working hours must end after they start on the same day, got {text!r}")
    return WorkingHours(days, start, end)


def next_open(hours: WorkingHours, tz: ZoneInfo, at: datetime) -> datetime:
    """`at` itself when it falls inside the working hours in `tz`, else when they next begin (UTC)."""
    today = at.astimezone(tz).date()
    for offset in range(8):
        day = today + timedelta(days=offset)
        if day.weekday() not in hours.days:
            continue
        # Aware datetimes of different zones compare as instants.
        start = datetime.combine(day, hours.start, tzinfo=tz)
        end = datetime.combine(day, hours.end, tzinfo=tz)
        if at < end:
            return at if at >= start else start.astimezone(UTC)
    raise ValueError("working hours without a day")  # parse_working_hours never builds one
