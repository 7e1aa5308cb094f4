"""Who is on call: pure functions over a rotation and an instant (DST-safe).

Handoffs happen at a local wall-clock time in the rotation's time zone, so a "Mon 09:00"
handoff stays at 09:00 in Amsterdam across daylight-saving changes. Shift counting uses
calendar dates, never 24-hour multiples, for daily and weekly shifts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.durations import parse_duration

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The first shift of a rotation without an explicit `start` begins at the first handoff on or
# after this date: any fixed date works, it only has to be the same on every replica.
DEFAULT_ANCHOR = date(2024, 1, 1)


@dataclass(frozen=True)
class Override:
    person: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Rotation:
    id: str
    members: tuple[str, ...]
    shift: str
    handoff_day: int | None  # 0 = Monday; weekly only
    handoff_time: time
    tz: ZoneInfo
    start: datetime | None = None
    overrides: tuple[Override, ...] = ()


def parse_handoff(shift: str, handoff: str | None) -> tuple[int | None, time]:
    """'Mon 09:00' for weekly shifts, '09:00' for daily ones; defaults Monday / 09:00."""
    text = (handoff or ("Mon 09:00" if shift == "weekly" else "09:00")).strip()
    day: int | None = None
    parts = text.split()
    if len(parts) == 2:
        if parts[0][:3].lower() not in WEEKDAYS:
            raise ValueError(f"unknown weekday in handoff {handoff!r}")
        day, text = WEEKDAYS.index(parts[0][:3].lower()), parts[1]
    elif len(parts) != 1:
        raise ValueError(f"handoff must look like 'Mon 09:00' or '09:00', got {handoff!r}")
    try:
        hour, minute = (int(x) for x in text.split(":"))
        at = time(hour, minute)
    except ValueError:
        raise ValueError(f"handoff time must be HH:MM, got {handoff!r}") from None
    if shift == "weekly" and day is None:
        day = 0
    if shift != "weekly" and day is not None:
        raise ValueError("a weekday in handoff only makes sense for weekly shifts")
    return day, at


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


def _shift_start(rotation: Rotation, at: datetime) -> tuple[int, datetime, datetime]:
    """(index of the shift holding `at`, its start, its end)."""
    tz = rotation.tz
    if rotation.shift in ("daily", "weekly"):
        step = 7 if rotation.shift == "weekly" else 1
        local = at.astimezone(tz)
        day = local.date()
        if rotation.shift == "weekly":
            assert rotation.handoff_day is not None
            day -= timedelta(days=(day.weekday() - rotation.handoff_day) % 7)
        if _local(day, rotation.handoff_time, tz) > at:
            day -= timedelta(days=step)
        anchor = rotation.start.astimezone(tz).date() if rotation.start else DEFAULT_ANCHOR
        if rotation.shift == "weekly":
            assert rotation.handoff_day is not None
            anchor += timedelta(days=(rotation.handoff_day - anchor.weekday()) % 7)
        index = (day - anchor).days // step
        start = _local(day, rotation.handoff_time, tz)
        end = _local(day + timedelta(days=step), rotation.handoff_time, tz)
        return index, start, end
    length = parse_duration(rotation.shift)
    # Fixed-length shifts count real time: do the arithmetic in UTC, not in local wall time.
    origin = (rotation.start or _local(DEFAULT_ANCHOR, time(0, 0), tz)).astimezone(UTC)
    index = math.floor((at - origin) / length)
    start = origin + index * length
    return index, start, start + length


def override_at(rotation: Rotation, at: datetime) -> Override | None:
    """The override in force at `at`; the last listed wins where they overlap."""
    for override in reversed(rotation.overrides):
        if override.start <= at < override.end:
            return override
    return None


def on_call(rotation: Rotation, at: datetime) -> str:
    """The person on call at `at`: an override if one covers it, else the shift's member."""
    override = override_at(rotation, at)
    if override is not None:
        return override.person
    index, _, _ = _shift_start(rotation, at)
    return rotation.members[index % len(rotation.members)]


def shift_bounds(rotation: Rotation, at: datetime) -> tuple[datetime, datetime]:
    """Start and end of the regular shift holding `at` (overrides not applied)."""
    _, start, end = _shift_start(rotation, at)
    return start, end
