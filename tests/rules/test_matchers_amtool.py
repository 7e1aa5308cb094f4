"""Matchers mean here what they mean in Alertmanager: one table of cases, answered by amtool and by
the bridge, and both must give the table's answer.

Every match case is a matcher on a label of its own (`c<i>`). One alertmanager.yml holds them all,
one route per case (receiver `c<i>`, `continue: true`), so a single `amtool config routes test`
given every case's label lists the routes whose matcher matched. Every validity case is a config
file of its own; a single `amtool check-config` over all of them says which Alertmanager accepts.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.rules.matchers import MatcherError, parse_matchers
from tests.support import require_binary

# (the matcher after its label name, the label's value (None: the alert lacks it), matches?)
MATCH_CASES: list[tuple[str, str | None, bool]] = [
    # POSIX classes (ASCII, as in Go)
    ('=~"[[:alpha:]]+"', "fraud", True),
    ('=~"[[:alpha:]]+"', "fraud3", False),
    ('=~"[[:alpha:]]+"', "héllo", False),
    ('=~"[[:digit:]]{3}"', "503", True),
    ('=~"[[:^alpha:]]+"', "123-456", True),
    ('=~"[[:upper:]][[:lower:]]+"', "Fraud", True),
    ('=~"[[:word:]]+"', "fraud_v3", True),
    # (?U) swaps greedy and lazy; anchoring still asks for the whole value
    ('=~"(?U)a+"', "aaa", True),
    ('=~"(?U)a+b"', "aab", True),
    ('=~"(?U)a+"', "", False),
    # Unicode classes
    ('=~"\\pL+"', "fraudé", True),
    ('=~"\\pL+"', "fraud-v3", False),
    ('=~"\\PL+"', "123", True),
    ('=~"\\p{Greek}+"', "αβγ", True),
    ('=~"\\p{Han}+"', "中文", True),
    # inline flags, also in mid-pattern: they hold from there to the end of the group
    ('=~"Model(?i)acc.*"', "ModelACCuracy", True),
    ('=~"Model(?i)acc.*"', "modelAccuracy", False),
    ('=~"(?i)fairness.*"', "FAIRNESSViolation", True),
    ('=~"a(?i:b)c"', "aBc", True),
    ('=~"a(?i:b)c"', "aBC", False),
    ('=~"(?s)a.b"', "a\nb", True),
    ('=~"a.b"', "a\nb", False),
    ('=~"(?m)a$"', "a", True),
    # anchored as ^(?:value)$: a partial match is no match
    ('=~"foo"', "foobar", False),
    ('=~"foo"', "xfoo", False),
    ('=~"foo|bar"', "foobar", False),
    ('=~"Fairness.*"', "FairnessViolation", True),
    # ... and the value is pasted in as written: a)|(b reads ^(?:a)|(b)$
    ('=~"a)|(b"', "abc", True),
    ('=~"a)|(b"', "cab", True),
    ('=~"a)|(b"', "ca", False),
    # a missing label and an empty one are both ""
    ('=""', None, True),
    ('=""', "", True),
    ('!=""', None, False),
    ('!=""', "fraud-v3", True),
    ('=~".*"', None, True),
    ('=~".+"', None, False),
    ('=~".+"', "", False),
    ('!~".+"', None, True),
    ('=~"a|"', None, True),
    # =, !=, !~
    ('="Foo"', "Foo", True),
    ('="Foo"', "foo", False),
    ('="Foo"', "Foo ", False),
    ('!="Foo"', "Bar", True),
    ('!="Foo"', "Foo", False),
    ('!~"info|none"', "critical", True),
    ('!~"info|none"', "info", False),
    ('!~"(?i)INFO"', "info", False),
    ('="a.*"', "a.*", True),
    ('="a.*"', "abc", False),
    # escapes: only \n, \" and \\ mean something to the matcher parser; others reach the regex
    ('="say \\"hi\\""', 'say "hi"', True),
    ('="line1\\nline2"', "line1\nline2", True),
    ('="line1\\nline2"', "line1\\nline2", False),
    ('="a\\qb"', "a\\qb", True),
    ('="a,b"', "a,b", True),
    ('=~"a\\.b"', "a.b", True),
    ('=~"a\\.b"', "axb", False),
    ('=~"model-\\\\d+"', "model-42", True),
    ('=~"model-\\d+"', "model-42", True),
    ('=~"model-\\d+"', "model-x", False),
    ('=~"\\x{41}\\x42"', "AB", True),
    ('=~"\\Qa.b\\E"', "a.b", True),
    ('=~"\\Qa.b\\E"', "axb", False),
    ('=~"[(?<]+"', "(?<", True),
    # unquoted values; a trailing } is cut off (Alertmanager reads {a="b"} lists), so a{2 is literal
    ("= spaced out ", "spaced out", True),
    ('=a\\"', 'a"', True),
    ("=~a{2}", "a{2", True),
    ("=~a{2}", "aa", False),
    # Unicode: . is one code point; \w, \d and \b are ASCII; (?i) folds simply, as Go does
    ('=~"."', "é", True),
    ('=~"."', "😀", True),
    ('=~"\\x{1F600}"', "😀", True),
    ('=~"\\w+"', "héllo", False),
    ('=~"(?i)k"', "\u212a", True),
    ('=~"(?i)straße"', "STRAẞE", True),
    ('=~"(?i)straße"', "STRASSE", False),
    ('="üñíçødé"', "üñíçødé", True),
    ('=~"[à-ü]+"', "éü", True),
]

# (one entry of a route's `matchers` list, does Alertmanager accept it?)
VALIDITY_CASES: list[tuple[str, bool]] = [
    ('model=~"[[:alpha:]]+"', True),
    ('x=~"[[:foo:]]"', False),
    ('x=~"(?U)a+"', True),
    ('x=~"\\pL"', True),
    ('x=~"\\p{Greek}"', True),
    ('x=~"\\p{greek}"', False),
    ('alertname=~"Model(?i)acc.*"', True),
    ('x=~"(?i-)a"', False),
    ('x=~"(?x)a"', False),
    ('x=~"(?)"', True),
    # look-around and backreferences: RE2 has none
    ('alertname=~"(?!Watchdog).*"', False),
    ('x=~"(?=a)a"', False),
    ('x=~"(?<=a)b"', False),
    ('x=~"(a)\\1"', False),
    ('x=~"\\8"', False),
    ('x=~"\\12"', True),  # octal, not a backreference
    # accepted by RE2 in C++ but not by Go's regexp
    ('x=~"\\C"', False),
    ('x=~"(?<n>a)"', False),
    ('x=~"(?P<é>a)"', False),
    ('x=~"(?P<n>a)"', True),
    ('x=~"\\Q\\C(?<n>\\E"', True),  # literal text
    ('x=~"[(?<]"', True),  # a character class
    # regex syntax
    ('x=~"("', False),
    ('x=~"a{1000}"', True),
    ('x=~"a{1001}"', False),
    ('x=~"a**"', False),
    ('x=~"a*+"', False),
    ('x=~"\\z"', True),
    ('x=~"\\Z"', False),
    ('x=~"\\x{10FFFF}"', True),
    ('x=~"\\x{110000}"', False),
    ('x=~"a)|(b"', True),
    # label names
    ('a:b="x"', True),
    (':a="x"', True),
    ('1abc="x"', False),
    ('foo-bar="x"', False),
    ('é="x"', False),
    ("x\t=\t'tabs'", True),
    ('x\u00a0="a"', False),  # Go's \s is ASCII
    # quoting
    ('x="end\\"', False),
    ("x=end\\", True),
    ('x=a\\"', True),
    ('x="abc', False),
    ('x="a"b"', False),
    ('x=abc"', False),
    ('x=""x"', False),
    ("x=~a{2}", True),
    # lists: commas outside quotes separate matchers, braces and one trailing comma may surround them
    ('x="a",y="b"', True),
    ('x=~"a,b"', True),
    ("x=a,b", False),
    ('{x="a"}', True),
    (' {x="a"}', False),
    ('x="a",', True),
    ('x="a",,', False),
    ("", True),
    ('x="a"\u00a0', True),  # the last matcher is trimmed of Unicode spaces...
    ('x="a"\u00a0,y="b"', False),  # ...the others only of ASCII ones
]


def label(index: int) -> str:
    return f"c{index}"


def quoted(value: str) -> str:
    """`value` as a double-quoted matcher value."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def bridge_matches(index: int) -> bool:
    tail, value, _ = MATCH_CASES[index]
    (matcher,) = parse_matchers(label(index) + tail)
    return matcher.matches({} if value is None else {label(index): value})


def bridge_accepts(text: str) -> bool:
    try:
        parse_matchers(text)
    except MatcherError:
        return False
    return True


def config(matchers: list[str]) -> str:
    """An alertmanager.yml with one route per matcher (receiver c<i>), each letting the next try."""
    routes = [{"receiver": label(i), "matchers": [m], "continue": True} for i, m in enumerate(matchers)]
    receivers: list[dict[str, Any]] = [{"name": "none"}, *({"name": label(i)} for i in range(len(matchers)))]
    document = {"route": {"receiver": "none", "routes": routes}, "receivers": receivers}
    return yaml.safe_dump(document, allow_unicode=True)


@pytest.fixture(scope="module")
def amtool() -> str:
    return require_binary("amtool", "prometheus-alertmanager")


@pytest.fixture(scope="module")
def amtool_matched(amtool: str, tmp_path_factory: pytest.TempPathFactory) -> set[int]:
    """The match cases whose route amtool says an alert with every case's label reaches."""
    path = tmp_path_factory.mktemp("amtool-routes") / "alertmanager.yml"
    path.write_text(config([label(i) + tail for i, (tail, _, _) in enumerate(MATCH_CASES)]), encoding="utf-8")
    alert = [f"{label(i)}={quoted(v)}" for i, (_, v, _) in enumerate(MATCH_CASES) if v is not None]
    command = [amtool, "config", "routes", "test", f"--config.file={path}", *alert]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    receivers = set(run.stdout.strip().split(",")) - {"none"}
    assert all(re.fullmatch(r"c\d+", r) for r in receivers), run.stdout
    return {int(r[1:]) for r in receivers}


@pytest.fixture(scope="module")
def amtool_accepted(amtool: str, tmp_path_factory: pytest.TempPathFactory) -> dict[int, bool]:
    """For each validity case, whether `amtool check-config` accepts a route with that entry."""
    directory = tmp_path_factory.mktemp("amtool-check")
    files: list[Path] = []
    for i, (text, _) in enumerate(VALIDITY_CASES):
        files.append(directory / f"v{i}.yml")
        files[-1].write_text(config([text]), encoding="utf-8")
    command = [amtool, "check-config", *map(str, files)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    verdicts = dict(re.findall(r"^Checking '.*/v(\d+)\.yml'\s+(SUCCESS|FAILED)", run.stdout, re.MULTILINE))
    assert len(verdicts) == len(files), run.stdout + run.stderr
    return {int(i): verdict == "SUCCESS" for i, verdict in verdicts.items()}


def test_the_table_covers_every_operator() -> None:
    operators = {parse_matchers(label(i) + tail)[0].op for i, (tail, _, _) in enumerate(MATCH_CASES)}
    assert operators == {"=", "!=", "=~", "!~"}


@pytest.mark.parametrize("index", range(len(MATCH_CASES)), ids=[f"{t} {v!r}" for t, v, _ in MATCH_CASES])
def test_the_bridge_matches_as_the_table_says(index: int) -> None:
    assert bridge_matches(index) is MATCH_CASES[index][2]


@pytest.mark.parametrize("index", range(len(MATCH_CASES)), ids=[f"{t} {v!r}" for t, v, _ in MATCH_CASES])
def test_amtool_and_the_bridge_agree_on_matching(index: int, amtool_matched: set[int]) -> None:
    expected = MATCH_CASES[index][2]
    assert {"amtool": index in amtool_matched, "bridge": bridge_matches(index)} == {
        "amtool": expected,
        "bridge": expected,
    }


@pytest.mark.parametrize("index", range(len(VALIDITY_CASES)), ids=[t for t, _ in VALIDITY_CASES])
def test_the_bridge_accepts_as_the_table_says(index: int) -> None:
    text, valid = VALIDITY_CASES[index]
    assert bridge_accepts(text) is valid


@pytest.mark.parametrize("index", range(len(VALIDITY_CASES)), ids=[t for t, _ in VALIDITY_CASES])
def test_amtool_and_the_bridge_agree_on_validity(index: int, amtool_accepted: dict[int, bool]) -> None:
    text, valid = VALIDITY_CASES[index]
    assert {"amtool": amtool_accepted[index], "bridge": bridge_accepts(text)} == {
        "amtool": valid,
        "bridge": valid,
    }
