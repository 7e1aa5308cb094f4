"""Who is on call: rotations across daylight-saving changes, duration shifts, overrides, handoffs."""

from __future__ import annotations

import itertools
import shutil
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.catalog.loader import load_catalog
from app.oncall.rotation import (
    DEFAULT_ANCHOR,
    Override,
    Rotation,
    on_call,
    parse_handoff,
    shift_bounds,
)

ROOT = Path(__file__).resolve().parents[2]
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")
PAIR = ("alice", "bob")
TRIO = ("alice", "bob", "carol")


def rotation(
    members: tuple[str, ...] = PAIR,
    shift: str = "weekly",
    handoff: str | None = None,
    tz: ZoneInfo = AMSTERDAM,
    start: datetime | None = None,
    overrides: tuple[Override, ...] = (),
) -> Rotation:
    day, at = parse_handoff(shift, handoff)
    return Rotation("primary", members, shift, day, at, tz, start, overrides)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def elapsed(start: datetime, end: datetime) -> timedelta:
    """Real time between two instants (subtracting datetimes of one ZoneInfo gives wall time)."""
    return end.astimezone(UTC) - start.astimezone(UTC)


def expected_weekly(monday: date, members: tuple[str, ...] = PAIR) -> str:
    """Without `start`, shift 0 is the week of DEFAULT_ANCHOR (a Monday)."""
    assert DEFAULT_ANCHOR.weekday() == 0
    return members[((monday - DEFAULT_ANCHOR).days // 7) % len(members)]


# --- weekly, Europe/Amsterdam, "Mon 09:00" --------------------------------------------------------


def test_weekly_handoff_before_spring_forward_is_0800_utc() -> None:
    rot = rotation(handoff="Mon 09:00")
    start, end = shift_bounds(rot, utc(2026, 3, 25, 12, 0))
    # 09:00 CET (UTC+1) on Monday 23 March, 09:00 CEST (UTC+2) on Monday 30 March.
    assert start == utc(2026, 3, 23, 8, 0)
    assert end == utc(2026, 3, 30, 7, 0)
    assert elapsed(start, end) == timedelta(days=7, hours=-1)  # absolute time: the week lost an hour
    assert start.astimezone(AMSTERDAM).replace(tzinfo=None) == datetime(2026, 3, 23, 9, 0)
    assert end.astimezone(AMSTERDAM).replace(tzinfo=None) == datetime(2026, 3, 30, 9, 0)


def test_weekly_handoff_after_spring_forward_is_0700_utc() -> None:
    rot = rotation(handoff="Mon 09:00")
    before = on_call(rot, utc(2026, 3, 30, 6, 59, 59))
    after = on_call(rot, utc(2026, 3, 30, 7, 0))
    assert before == expected_weekly(date(2026, 3, 23))
    assert after == expected_weekly(date(2026, 3, 30))
    assert before != after
    assert shift_bounds(rot, utc(2026, 3, 30, 7, 0)) == (utc(2026, 3, 30, 7, 0), utc(2026, 4, 6, 7, 0))
    # At 08:00 UTC (10:00 local) the handoff has already happened: no extra hour for the old shift.
    assert on_call(rot, utc(2026, 3, 30, 8, 0)) == after


def test_weekly_handoff_across_fall_back() -> None:
    rot = rotation(handoff="Mon 09:00")
    start, end = shift_bounds(rot, utc(2026, 10, 22, 12, 0))
    assert start == utc(2026, 10, 19, 7, 0)  # 09:00 CEST
    assert end == utc(2026, 10, 26, 8, 0)  # 09:00 CET
    assert elapsed(start, end) == timedelta(days=7, hours=1)
    old, new = expected_weekly(date(2026, 10, 19)), expected_weekly(date(2026, 10, 26))
    assert old != new
    assert on_call(rot, utc(2026, 10, 26, 7, 0)) == old  # 08:00 local: not yet
    assert on_call(rot, utc(2026, 10, 26, 7, 59, 59)) == old
    assert on_call(rot, utc(2026, 10, 26, 8, 0)) == new


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (datetime(2026, 3, 2, 9, 0, tzinfo=AMSTERDAM), datetime(2026, 4, 27, 9, 0, tzinfo=AMSTERDAM)),
        (datetime(2026, 9, 28, 9, 0, tzinfo=AMSTERDAM), datetime(2026, 11, 23, 9, 0, tzinfo=AMSTERDAM)),
    ],
)
def test_weekly_members_alternate_with_no_skipped_or_doubled_week(first: datetime, last: datetime) -> None:
    rot = rotation(handoff="Mon 09:00")
    at = first.astimezone(UTC)
    seen: list[tuple[date, str]] = []
    while at < last:
        start, end = shift_bounds(rot, at)
        assert start == at  # each shift starts where the previous one ended
        local = start.astimezone(AMSTERDAM)
        assert (local.weekday(), local.time()) == (0, time(9, 0))
        seen.append((local.date(), on_call(rot, at)))
        at = end
    assert [d for d, _ in seen] == [first.date() + timedelta(weeks=i) for i in range(8)]
    people = [p for _, p in seen]
    assert all(a != b for a, b in itertools.pairwise(people))
    assert people.count("alice") == people.count("bob") == 4
    assert people == [expected_weekly(d) for d, _ in seen]


def test_weekly_hourly_sampling_around_dst_changes_sees_exactly_the_expected_handoffs() -> None:
    rot = rotation(handoff="Mon 09:00")
    for begin, handoffs in (
        (utc(2026, 3, 20), [utc(2026, 3, 23, 8), utc(2026, 3, 30, 7), utc(2026, 4, 6, 7)]),
        (utc(2026, 10, 16), [utc(2026, 10, 19, 7), utc(2026, 10, 26, 8), utc(2026, 11, 2, 8)]),
    ):
        changes = []
        previous = on_call(rot, begin)
        for hour in range(1, 24 * 21):
            at = begin + timedelta(hours=hour)
            person = on_call(rot, at)
            if person != previous:
                changes.append(at)
            previous = person
        assert changes == handoffs


def test_weekly_handoff_on_another_day() -> None:
    rot = rotation(handoff="Fri 17:30", tz=NEW_YORK)
    start, end = shift_bounds(rot, utc(2026, 6, 10, 12, 0))  # a Wednesday
    assert start.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2026, 6, 5, 17, 30)
    assert end.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2026, 6, 12, 17, 30)
    assert start == utc(2026, 6, 5, 21, 30)


# --- daily, America/New_York, "09:00" -------------------------------------------------------------


def test_daily_across_spring_forward() -> None:
    rot = rotation(TRIO, shift="daily", handoff="09:00", tz=NEW_YORK)
    start, end = shift_bounds(rot, utc(2026, 3, 8, 3, 0))
    assert start == utc(2026, 3, 7, 14, 0)  # 09:00 EST (UTC-5)
    assert end == utc(2026, 3, 8, 13, 0)  # 09:00 EDT (UTC-4)
    assert elapsed(start, end) == timedelta(hours=23)
    assert on_call(rot, utc(2026, 3, 8, 12, 59, 59)) != on_call(rot, utc(2026, 3, 8, 13, 0))
    assert shift_bounds(rot, utc(2026, 3, 8, 13, 0)) == (utc(2026, 3, 8, 13, 0), utc(2026, 3, 9, 13, 0))


def test_daily_across_fall_back() -> None:
    rot = rotation(TRIO, shift="daily", handoff="09:00", tz=NEW_YORK)
    start, end = shift_bounds(rot, utc(2026, 11, 1, 6, 0))
    assert start == utc(2026, 10, 31, 13, 0)  # 09:00 EDT
    assert end == utc(2026, 11, 1, 14, 0)  # 09:00 EST
    assert elapsed(start, end) == timedelta(hours=25)
    assert on_call(rot, utc(2026, 11, 1, 13, 30)) == on_call(rot, utc(2026, 10, 31, 13, 0))


def test_daily_members_cycle_in_order_across_both_dst_changes() -> None:
    rot = rotation(TRIO, shift="daily", handoff="09:00", tz=NEW_YORK)
    for first_day in (date(2026, 3, 1), date(2026, 10, 25)):
        people = []
        for offset in range(15):
            day = first_day + timedelta(days=offset)
            handoff = datetime.combine(day, time(9, 0), tzinfo=NEW_YORK)
            assert shift_bounds(rot, handoff)[0] == handoff
            assert on_call(rot, handoff - timedelta(seconds=1)) != on_call(rot, handoff)
            people.append(on_call(rot, handoff + timedelta(hours=3)))
        index = TRIO.index(people[0])
        assert people == [TRIO[(index + i) % 3] for i in range(15)]


# --- duration shifts ------------------------------------------------------------------------------


def test_duration_shift_counts_absolute_time_from_start() -> None:
    start = utc(2026, 3, 28, 21, 0)  # 22:00 CET, the evening before clocks go forward
    rot = rotation(shift="12h", tz=AMSTERDAM, start=start)
    assert on_call(rot, start) == "alice"
    assert shift_bounds(rot, start) == (start, start + timedelta(hours=12))
    assert on_call(rot, start + timedelta(hours=11, minutes=59)) == "alice"
    assert on_call(rot, start + timedelta(hours=12)) == "bob"
    assert on_call(rot, start + timedelta(hours=24)) == "alice"
    # After the DST change the handoffs stay 12h of real time apart, so the local time moves.
    later_start, later_end = shift_bounds(rot, utc(2026, 3, 29, 22, 0))
    assert later_start == utc(2026, 3, 29, 21, 0)
    assert elapsed(later_start, later_end) == timedelta(hours=12)
    assert later_start.astimezone(AMSTERDAM).time() == time(23, 0)
    # Before `start` the cycle runs backwards.
    assert on_call(rot, start - timedelta(seconds=1)) == "bob"
    assert shift_bounds(rot, start - timedelta(seconds=1)) == (start - timedelta(hours=12), start)


def test_duration_shift_from_a_config_start_with_offset() -> None:
    start = datetime(2026, 10, 24, 20, 0, tzinfo=timezone(timedelta(hours=2)))  # 18:00 UTC
    rot = rotation(TRIO, shift="8h", start=start)
    handoffs = [utc(2026, 10, 24, 18) + timedelta(hours=8 * i) for i in range(6)]
    assert [on_call(rot, h) for h in handoffs] == [*TRIO, *TRIO]
    for h in handoffs:
        assert shift_bounds(rot, h) == (h, h + timedelta(hours=8))


def test_duration_shift_without_start_in_utc() -> None:
    rot = rotation(shift="12h", tz=ZoneInfo("UTC"))
    origin = datetime.combine(DEFAULT_ANCHOR, time(0, 0), tzinfo=UTC)
    assert on_call(rot, origin) == "alice"
    assert on_call(rot, origin + timedelta(hours=12)) == "bob"
    at = utc(2026, 7, 1, 22, 30)
    assert shift_bounds(rot, at) == (utc(2026, 7, 1, 12), utc(2026, 7, 2, 0))


def test_duration_shift_without_start_in_dst_zone_contains_the_instant() -> None:
    rot = rotation(shift="12h", tz=AMSTERDAM)
    at = utc(2024, 7, 1, 22, 30)
    start, end = shift_bounds(rot, at)
    assert start <= at < end
    assert elapsed(start, end) == timedelta(hours=12)


# --- explicit start -------------------------------------------------------------------------------


def test_explicit_start_decides_who_goes_first_weekly() -> None:
    first_monday = datetime(2026, 1, 12, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    rot = rotation(handoff="Mon 09:00", start=first_monday)
    assert on_call(rot, first_monday) == "alice"
    assert on_call(rot, first_monday + timedelta(weeks=1)) == "bob"
    assert on_call(rot, first_monday + timedelta(weeks=2)) == "alice"
    assert on_call(rot, first_monday - timedelta(seconds=1)) == "bob"
    a_week_later = rotation(handoff="Mon 09:00", start=first_monday + timedelta(weeks=1))
    assert on_call(a_week_later, first_monday + timedelta(weeks=1)) == "alice"
    assert on_call(a_week_later, first_monday) == "bob"


def test_explicit_start_mid_week_begins_at_the_next_handoff() -> None:
    wednesday = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)
    rot = rotation(handoff="Mon 09:00", start=wednesday)
    assert on_call(rot, utc(2026, 1, 19, 8, 0)) == "alice"  # Monday 19 January 09:00 CET
    assert on_call(rot, utc(2026, 1, 19, 7, 59)) == "bob"


def test_explicit_start_decides_who_goes_first_daily() -> None:
    start = datetime(2026, 3, 4, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    rot = rotation(TRIO, shift="daily", handoff="09:00", tz=NEW_YORK, start=start)
    assert [on_call(rot, start + timedelta(days=i, hours=1)) for i in range(4)] == [*TRIO, "alice"]
    # Still one member per local day after clocks went forward on 8 March.
    assert on_call(rot, utc(2026, 3, 10, 13, 0)) == TRIO[6 % 3]
    assert on_call(rot, utc(2026, 3, 10, 12, 59)) == TRIO[5 % 3]


def test_without_start_the_default_anchor_is_used() -> None:
    rot = rotation(handoff="Mon 09:00")
    same = rotation(handoff="Mon 09:00", start=datetime(2024, 1, 1, 9, 0, tzinfo=AMSTERDAM))
    for week in range(0, 200, 7):
        at = utc(2025, 1, 1) + timedelta(weeks=week, hours=5)
        assert on_call(rot, at) == on_call(same, at)


# --- the instant of handoff -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "rot",
    [
        rotation(handoff="Mon 09:00"),
        rotation(TRIO, shift="daily", handoff="09:00", tz=NEW_YORK),
        rotation(shift="12h", start=utc(2026, 1, 1, 6, 0)),
    ],
    ids=["weekly", "daily", "12h"],
)
def test_the_instant_of_handoff_belongs_to_the_new_shift(rot: Rotation) -> None:
    at = utc(2026, 5, 13, 12, 0)
    start, end = shift_bounds(rot, at)
    assert shift_bounds(rot, end)[0] == end
    assert shift_bounds(rot, end - timedelta(microseconds=1)) == (start, end)
    assert on_call(rot, end) != on_call(rot, end - timedelta(microseconds=1))
    assert shift_bounds(rot, start)[0] == start


# --- overrides ------------------------------------------------------------------------------------


def test_override_start_is_inclusive_and_end_exclusive() -> None:
    begin, finish = utc(2026, 5, 13, 12), utc(2026, 5, 14, 12)
    regular = rotation(handoff="Mon 09:00")
    other = "bob" if on_call(regular, begin) == "alice" else "alice"
    rot = rotation(handoff="Mon 09:00", overrides=(Override(other, begin, finish),))
    assert on_call(rot, begin - timedelta(microseconds=1)) != other
    assert on_call(rot, begin) == other
    assert on_call(rot, finish - timedelta(microseconds=1)) == other
    assert on_call(rot, finish) != other
    # The regular shift's bounds are not changed by an override.
    assert shift_bounds(rot, begin) == shift_bounds(regular, begin)


def test_overlapping_overrides_the_last_listed_wins() -> None:
    rot = rotation(
        TRIO,
        handoff="Mon 09:00",
        overrides=(
            Override("bob", utc(2026, 5, 1), utc(2026, 5, 10)),
            Override("carol", utc(2026, 5, 5), utc(2026, 5, 7)),
        ),
    )
    assert on_call(rot, utc(2026, 5, 4, 12)) == "bob"
    assert on_call(rot, utc(2026, 5, 5)) == "carol"
    assert on_call(rot, utc(2026, 5, 6, 23, 59)) == "carol"
    assert on_call(rot, utc(2026, 5, 7)) == "bob"
    reversed_order = rotation(TRIO, handoff="Mon 09:00", overrides=tuple(reversed(rot.overrides)))
    assert on_call(reversed_order, utc(2026, 5, 6)) == "bob"


def test_override_may_name_someone_outside_the_members() -> None:
    rot = rotation(PAIR, overrides=(Override("dave", utc(2026, 2, 1), utc(2026, 2, 2)),))
    assert on_call(rot, utc(2026, 2, 1, 12)) == "dave"
    assert on_call(rot, utc(2026, 2, 2)) in PAIR


def test_the_shipped_override_puts_dan_on_call_over_christmas(tmp_path: Path) -> None:
    rules, runbooks = tmp_path / "rules", tmp_path / "runbooks"
    rules.mkdir()
    runbooks.mkdir()
    shutil.copy(ROOT / "rules" / "oncall.yaml", rules / "oncall.yaml")
    rot = load_catalog(rules, runbooks).oncall.rotations["risk-ml-oncall"]
    assert rot.overrides == (Override("dan", utc(2026, 12, 24), utc(2026, 12, 27)),)
    assert on_call(rot, utc(2026, 12, 24)) == "dan"
    assert on_call(rot, utc(2026, 12, 26, 23, 59, 59)) == "dan"
    # Move the alternation by one week: the override still holds, the regular shift does not.
    shifted = Rotation(
        rot.id, ("dan", "carol"), rot.shift, rot.handoff_day, rot.handoff_time, rot.tz, None, rot.overrides
    )
    assert on_call(shifted, utc(2026, 12, 23, 12)) == "carol"
    assert on_call(shifted, utc(2026, 12, 24)) == "dan"
    assert on_call(shifted, utc(2026, 12, 27)) == "carol"  # end is exclusive
    assert on_call(shifted, utc(2026, 12, 23, 23, 59, 59)) == "carol"


# --- parse_handoff --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shift", "handoff", "expected"),
    [
        ("weekly", None, (0, time(9, 0))),
        ("daily", None, (None, time(9, 0))),
        ("12h", None, (None, time(9, 0))),
        ("weekly", "Mon 09:00", (0, time(9, 0))),
        ("weekly", "Fri 17:30", (4, time(17, 30))),
        ("weekly", "sunday 00:00", (6, time(0, 0))),
        ("weekly", "WED 23:59", (2, time(23, 59))),
        ("weekly", "10:15", (0, time(10, 15))),
        ("daily", "07:45", (None, time(7, 45))),
        ("daily", "  08:00 ", (None, time(8, 0))),
    ],
)
def test_parse_handoff(shift: str, handoff: str | None, expected: tuple[int | None, time]) -> None:
    assert parse_handoff(shift, handoff) == expected


@pytest.mark.parametrize(
    ("shift", "handoff", "message"),
    [
        ("weekly", "Funday 09:00", "unknown weekday"),
        ("weekly", "25:00", "HH:MM"),
        ("daily", "25:00", "HH:MM"),
        ("daily", "09:60", "HH:MM"),
        ("daily", "9am", "HH:MM"),
        ("daily", "09:00:00", "HH:MM"),
        ("weekly", "Mon 09:00 CET", "must look like"),
        ("daily", "Mon 09:00", "only makes sense for weekly"),
        ("12h", "Tue 09:00", "only makes sense for weekly"),
    ],
)
def test_parse_handoff_errors(shift: str, handoff: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_handoff(shift, handoff)


# --- properties -----------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Amsterdam",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
]
instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)
# Handoffs between 04:00 and 23:59 stay clear of the hours clocks jump in these zones.
handoff_times = st.builds(time, st.integers(4, 23), st.integers(0, 59))


@st.composite
def calendar_rotations(draw: st.DrawFn) -> Rotation:
    shift = draw(st.sampled_from(["daily", "weekly"]))
    members = tuple(f"p{i}" for i in range(draw(st.integers(1, 4))))
    day = draw(st.integers(0, 6)) if shift == "weekly" else None
    tz = ZoneInfo(draw(st.sampled_from(ZONES)))
    start = draw(st.none() | instants)
    return Rotation("r", members, shift, day, draw(handoff_times), tz, start)


@settings(max_examples=300, deadline=None)
@given(rot=calendar_rotations(), at=instants)
def test_property_calendar_shifts_hold_the_instant(rot: Rotation, at: datetime) -> None:
    person = on_call(rot, at)
    start, end = shift_bounds(rot, at)
    assert person in rot.members
    assert start <= at < end
    local_start, local_end = start.astimezone(rot.tz), end.astimezone(rot.tz)
    days = 7 if rot.shift == "weekly" else 1
    assert local_end.replace(tzinfo=None) - local_start.replace(tzinfo=None) == timedelta(days=days)
    assert local_start.time() == rot.handoff_time
    if rot.shift == "weekly":
        assert local_start.weekday() == rot.handoff_day
    assert abs(elapsed(start, end) - timedelta(days=days)) <= timedelta(hours=1)
    # The same instant written in another zone gets the same answer.
    assert on_call(rot, at.astimezone(rot.tz)) == person
    assert on_call(rot, at.astimezone(timezone(timedelta(hours=-3, minutes=-30)))) == person
    # The next shift starts where this one ends, with the next member.
    following = on_call(rot, end)
    assert following == rot.members[(rot.members.index(person) + 1) % len(rot.members)]


@settings(max_examples=300, deadline=None)
@given(
    minutes=st.integers(1, 60 * 24 * 14),
    members=st.integers(1, 4),
    start=instants,
    at=instants,
    offset=st.integers(-14 * 60, 14 * 60),
)
def test_property_duration_shifts_hold_the_instant(
    minutes: int, members: int, start: datetime, at: datetime, offset: int
) -> None:
    length = timedelta(minutes=minutes)
    origin = start.astimezone(timezone(timedelta(minutes=offset)))
    rot = Rotation(
        "r", tuple(f"p{i}" for i in range(members)), f"{minutes}m", None, time(9), AMSTERDAM, origin
    )
    begin, end = shift_bounds(rot, at)
    assert begin <= at < end
    assert end - begin == length
    assert (begin - start) % length == timedelta(0)
    index = (begin - start) // length
    assert on_call(rot, at) == rot.members[index % members]
