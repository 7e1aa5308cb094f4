"""JSON columns are written with orjson and read back whatever wrote them."""

from __future__ import annotations

import json
import math

import pytest

from app.db import json_text, json_value


def test_json_columns_round_trip_what_intake_stores() -> None:
    value = {"labels": {"model": "churn", "é": "naïve \u2603"}, "count": 3, "ok": True, "none": None}

    assert json_value(json_text(value)) == value
    assert json.loads(json_text(value)) == value  # any reader of the database can read it


def test_keys_that_are_not_strings_become_strings_as_the_standard_library_makes_them() -> None:
    assert json_value(json_text({1: "a", 2: "b"})) == json.loads(json.dumps({1: "a", 2: "b"}))


@pytest.mark.parametrize(
    "stored",
    [json.dumps({"value": math.nan}), json.dumps({"big": 2**70}), b'{"bytes": 1}'],
)
def test_text_an_older_writer_stored_is_still_read(stored: str | bytes) -> None:
    assert json_value(stored) == json.loads(stored)


def test_text_that_is_not_json_is_an_error() -> None:
    with pytest.raises(ValueError):
        json_value("{not json")
