"""parse_duration reads durations as Prometheus does (model.ParseDuration in prometheus/common).

Which texts are durations is asked of promtool itself: every case becomes the `for:` of an alerting
rule in a file of its own, and one `promtool check rules` over all the files says which load. The
values come from Prometheus' own tests (model/time_test.go) and from the units' definitions.
"""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from app.durations import parse_duration
from tests.support import require_binary

# (text, does Prometheus accept it?)
VALIDITY_CASES: list[tuple[str, bool]] = [
    ("0", True),
    ("0s", True),
    ("0w", True),
    ("1y", True),
    ("1w", True),
    ("1d", True),
    ("6h", True),
    ("1h30m", True),
    ("1m500ms", True),
    ("1y1w1d1h1m1s1ms", True),
    ("01h", True),
    ("1h0m", True),
    ("30m1h", False),  # out of order
    ("1ms1s", False),
    ("1m1m", False),  # a unit twice
    ("1.5h", False),  # whole numbers only
    ("", False),
    ("-1m", False),
    ("1", False),
    ("d", False),
    ("1y1m1d", False),
    ("1M", False),
    ("1H", False),
    ("1h 30m", False),
    (" 1m", False),
    ("1m ", False),
    ("1m\n", False),
    ("\uff11m", False),  # a full-width digit one
    ("1 m", False),
    ("+1m", False),
    ("1mo", False),
    ("292y", True),  # a Go time.Duration holds about 292 years
    ("293y", False),
    ("106751d", True),
    ("106752d", False),
    ("9223372036854ms", True),
    ("9223372036855ms", False),
    ("200y10400w", False),
    ("2584200h", False),
]

# Prometheus' own TestParseDuration cases, and what the units mean.
VALUES: list[tuple[str, timedelta]] = [
    ("0", timedelta(0)),
    ("0w", timedelta(0)),
    ("0s", timedelta(0)),
    ("324ms", timedelta(milliseconds=324)),
    ("3s", timedelta(seconds=3)),
    ("5m", timedelta(minutes=5)),
    ("1h", timedelta(hours=1)),
    ("4d", timedelta(days=4)),
    ("4d1h", timedelta(days=4, hours=1)),
    ("14d", timedelta(weeks=2)),
    ("3w", timedelta(weeks=3)),
    ("3w2d1h", timedelta(days=23, hours=1)),
    ("10y", timedelta(days=3650)),
    ("289y", timedelta(days=289 * 365)),
    ("1y1w1d1h1m1s1ms", timedelta(days=373, hours=1, minutes=1, seconds=1, milliseconds=1)),
    ("9223372036854ms", timedelta(milliseconds=9223372036854)),
]


def accepts(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def promtool_accepted(tmp_path_factory: pytest.TempPathFactory) -> dict[int, bool]:
    """For each validity case, whether promtool loads an alerting rule with that `for:`."""
    promtool = require_binary("promtool", "prometheus")
    directory = tmp_path_factory.mktemp("promtool")
    files: list[Path] = []
    for i, (text, _) in enumerate(VALIDITY_CASES):
        rule = {"alert": "A", "expr": "vector(1)", "for": text}
        files.append(directory / f"d{i}.yml")
        files[-1].write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}), encoding="utf-8")
    run = subprocess.run(
        [promtool, "check", "rules", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Each file's "Checking" line goes to stdout, with SUCCESS under it; a failure's reason goes
    # to stderr, after the file's name.
    passed = {int(i) for i in re.findall(r"^Checking \S*/d(\d+)\.yml\n\s+SUCCESS", run.stdout, re.MULTILINE)}
    failed = {int(i) for i in re.findall(r"^\S*/d(\d+)\.yml: ", run.stderr, re.MULTILINE)}
    assert not passed & failed and len(passed | failed) == len(files), run.stdout + run.stderr
    return {i: i in passed for i in range(len(files))}


@pytest.mark.parametrize("index", range(len(VALIDITY_CASES)), ids=[repr(t) for t, _ in VALIDITY_CASES])
def test_the_bridge_accepts_as_the_table_says(index: int) -> None:
    text, valid = VALIDITY_CASES[index]
    assert accepts(text) is valid


@pytest.mark.parametrize("index", range(len(VALIDITY_CASES)), ids=[repr(t) for t, _ in VALIDITY_CASES])
def test_promtool_and_the_bridge_agree(index: int, promtool_accepted: dict[int, bool]) -> None:
    text, valid = VALIDITY_CASES[index]
    assert {"promtool": promtool_accepted[index], "bridge": accepts(text)} == {
        "promtool": valid,
        "bridge": valid,
    }


@pytest.mark.parametrize(("text", "expected"), VALUES)
def test_values_are_prometheus_values(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["30m1h", "1m1m", "1ms1s"])
def test_units_out_of_order_say_so(text: str) -> None:
    with pytest.raises(ValueError, match="in the order y, w, d, h, m, s, ms") as excinfo:
        parse_duration(text)
    assert repr(text) in str(excinfo.value)


@pytest.mark.parametrize("text", ["", "1.5h", "293y", " 1m", "-1m"])
def test_every_refusal_names_the_text(text: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_duration(text)
    assert repr(text) in str(excinfo.value)
