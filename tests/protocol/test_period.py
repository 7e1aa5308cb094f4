"""Periods: durations and whole calendar months, added to a moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.protocol.period import Period, parse_period


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1mo", Period(months=1)),
        ("3mo", Period(months=3)),
        (" 12mo ", Period(months=12)),
        ("72h", Period(delta=timedelta(hours=72))),
        ("15d", Period(delta=timedelta(days=15))),
        ("1h30m", Period(delta=timedelta(minutes=90))),
        ("0m", Period()),
        ("2w", Period(delta=timedelta(weeks=2))),
    ],
)
def test_parse_period_reads_months_and_durations(text: str, expected: Period) -> None:
    assert parse_period(text) == expected


@pytest.mark.parametrize("text", ["soon", "1 mo", "mo", "1month", "1mo30m", "-1h", "72", "1.5h", "1000mo"])
def test_parse_period_refuses_bad_text_and_names_it(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_period(text)
    assert repr(text) in str(caught.value)


def test_parse_period_refuses_empty_text() -> None:
    with pytest.raises(ValueError, match="''"):
        parse_period("")


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2026, 1, 31, 12, tzinfo=UTC), 1, datetime(2026, 2, 28, 12, tzinfo=UTC)),
        (datetime(2028, 1, 31, 12, tzinfo=UTC), 1, datetime(2028, 2, 29, 12, tzinfo=UTC)),  # leap year
        (datetime(2100, 1, 31, 12, tzinfo=UTC), 1, datetime(2100, 2, 28, 12, tzinfo=UTC)),  # not leap
        (datetime(2000, 1, 31, 12, tzinfo=UTC), 1, datetime(2000, 2, 29, 12, tzinfo=UTC)),  # leap (400)
        (datetime(2026, 12, 15, 9, 30, tzinfo=UTC), 1, datetime(2027, 1, 15, 9, 30, tzinfo=UTC)),
        (datetime(2026, 11, 30, 8, tzinfo=UTC), 3, datetime(2027, 2, 28, 8, tzinfo=UTC)),
        (datetime(2026, 3, 31, 8, tzinfo=UTC), 1, datetime(2026, 4, 30, 8, tzinfo=UTC)),
        (datetime(2026, 1, 31, 8, tzinfo=UTC), 2, datetime(2026, 3, 31, 8, tzinfo=UTC)),
        (datetime(2026, 5, 10, 8, tzinfo=UTC), 12, datetime(2027, 5, 10, 8, tzinfo=UTC)),
        (datetime(2026, 5, 10, 8, tzinfo=UTC), 25, datetime(2028, 6, 10, 8, tzinfo=UTC)),
    ],
)
def test_months_are_calendar_months_ending_on_the_last_day(
    start: datetime, months: int, expected: datetime
) -> None:
    assert Period(months=months).after(start) == expected


def test_months_then_delta_are_added_in_that_order() -> None:
    period = Period(months=1, delta=timedelta(hours=36))
    assert period.after(datetime(2026, 1, 31, 12, tzinfo=UTC)) == datetime(2026, 3, 2, 0, tzinfo=UTC)


def test_a_duration_is_added_as_elapsed_time() -> None:
    start = datetime(2026, 2, 27, 12, tzinfo=UTC)
    assert parse_period("72h").after(start) == datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_after_keeps_the_time_zone_of_the_moment() -> None:
    cet = timezone(timedelta(hours=1))
    result = parse_period("1mo").after(datetime(2026, 1, 31, 23, 30, tzinfo=cet))
    assert result == datetime(2026, 2, 28, 23, 30, tzinfo=cet)
    assert result.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("period", "text"),
    [
        (Period(months=1), "1mo"),
        (Period(months=3), "3mo"),
        (Period(delta=timedelta(hours=72)), "3d"),
        (Period(delta=timedelta(hours=4)), "4h"),
        (Period(delta=timedelta(minutes=90)), "90m"),
        (Period(delta=timedelta(days=15)), "15d"),
        (Period(delta=timedelta(seconds=45)), "45s"),
        (Period(), "0s"),
    ],
)
def test_str_gives_the_largest_whole_unit(period: Period, text: str) -> None:
    assert str(period) == text


@pytest.mark.parametrize("text", ["1mo", "3mo", "72h", "15d", "1h30m", "45s", "2w"])
def test_str_reads_back_as_the_same_period(text: str) -> None:
    period = parse_period(text)
    assert parse_period(str(period)) == period
