"""parse_duration: the Prometheus-style durations used in rule files (reopen_window and friends)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("6h", timedelta(hours=6)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(weeks=2)),
        ("500ms", timedelta(milliseconds=500)),
        ("1m500ms", timedelta(minutes=1, milliseconds=500)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("90m", timedelta(minutes=90)),
        ("0", timedelta(0)),
        ("0m", timedelta(0)),
        ("0s", timedelta(0)),
        (0, timedelta(0)),
    ],
)
def test_valid_durations(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_minutes_are_not_mistaken_for_milliseconds() -> None:
    assert parse_duration("1m") == timedelta(seconds=60)
    assert parse_duration("1ms") == timedelta(milliseconds=1)


@pytest.mark.parametrize(
    "text",
    ["", "10", "1x", "h1", "1h 30m", "1.5h", "-1h", "1H", "m", "10m10", "ten minutes"],
)
def test_invalid_strings_are_rejected_with_the_offending_text(text: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_duration(text)
    assert repr(text) in str(excinfo.value)


@pytest.mark.parametrize("value", [-1, 10, 1.5, None, True, False, ["10m"]])
def test_non_string_values_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)  # type: ignore[arg-type]


def test_out_of_range_duration_raises_value_error() -> None:
    with pytest.raises(ValueError, match="9999999999w"):
        parse_duration("9999999999w")
