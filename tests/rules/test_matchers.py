"""Label matchers behave like Alertmanager's (prometheus/alertmanager pkg/labels).

=, !=, =~ and !~; regexes are RE2, anchored at both ends; a label the alert does not have
has the value "" for every operator. tests/rules/test_matchers_amtool.py checks the same
reading against amtool itself.
"""

from __future__ import annotations

import pytest

from app.rules.matchers import Matcher, MatcherError, parse_matcher, parse_matchers


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        # Equality is exact and case-sensitive.
        ('alertname="Foo"', {"alertname": "Foo"}, True),
        ('alertname="Foo"', {"alertname": "foo"}, False),
        ('alertname="Foo"', {"alertname": "Foo "}, False),
        ('alertname="Foo"', {"other": "Foo"}, False),
        ('alertname="Foo"', {}, False),
        ('alertname!="Foo"', {"alertname": "Bar"}, True),
        ('alertname!="Foo"', {"alertname": "Foo"}, False),
        ('alertname!="Foo"', {}, True),
        # Regexes must match the whole value.
        ('x=~"foo"', {"x": "foo"}, True),
        ('x=~"foo"', {"x": "foobar"}, False),
        ('x=~"foo"', {"x": "barfoo"}, False),
        ('x=~"foo|bar"', {"x": "foo"}, True),
        ('x=~"foo|bar"', {"x": "bar"}, True),
        ('x=~"foo|bar"', {"x": "foobarx"}, False),
        ('x=~"foo|bar"', {"x": "foobar"}, False),
        ('x=~"foo|bar"', {"x": "xbar"}, False),
        ('x=~"fo+"', {"x": "foooo"}, True),
        ('x=~"Fairness.*"', {"x": "FairnessViolation"}, True),
        ('x=~"Fairness.*"', {"x": "NotFairnessViolation"}, False),
        ('x=~"a.c"', {"x": "abc"}, True),
        ('x=~"a.c"', {"x": "a\nc"}, False),
        ('x!~"foo"', {"x": "foobar"}, True),
        ('x!~"foo"', {"x": "foo"}, False),
        ('x!~"foo|bar"', {"x": "bar"}, False),
        ('x!~"foo|bar"', {"x": "baz"}, True),
        # A missing label is the empty string.
        ('model!=""', {}, False),
        ('model!=""', {"model": ""}, False),
        ('model!=""', {"model": "fraud-v3"}, True),
        ('x=""', {}, True),
        ('x=""', {"x": ""}, True),
        ('x=""', {"x": "a"}, False),
        ('x=~".*"', {}, True),
        ('x=~".+"', {}, False),
        ('x!~".+"', {}, True),
        ('x!~".+"', {"x": "a"}, False),
        ('x!~".*"', {}, False),
        ('x=~"a|"', {}, True),
    ],
)
def test_matches(matcher: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(matcher).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('alertname="Foo"', "alertname", "=", "Foo"),
        ("alertname=Foo", "alertname", "=", "Foo"),
        ("alertname!=Foo", "alertname", "!=", "Foo"),
        ("alertname=~Foo.*", "alertname", "=~", "Foo.*"),
        ('alertname = "Foo"', "alertname", "=", "Foo"),
        ('  alertname  !=  "Foo"  ', "alertname", "!=", "Foo"),
        ('x =~ "a|b"', "x", "=~", "a|b"),
        ('x!~"a.*"', "x", "!~", "a.*"),
        ('x\t=\t"tabs"', "x", "=", "tabs"),
        ('_private="v"', "_private", "=", "v"),
        ('Model_2="v"', "Model_2", "=", "v"),
        ('x="say \\"hi\\""', "x", "=", 'say "hi"'),
        ('x="back\\\\slash"', "x", "=", "back\\slash"),
        ('x="line1\\nline2"', "x", "=", "line1\nline2"),
        ('x="a=b"', "x", "=", "a=b"),
        ('x="a!=b"', "x", "=", "a!=b"),
        ('x="a b"', "x", "=", "a b"),
        ('x=" padded "', "x", "=", " padded "),
        ('x="üñíçødé"', "x", "=", "üñíçødé"),
        ('x=""', "x", "=", ""),
        ("x=", "x", "=", ""),
    ],
)
def test_parse(text: str, name: str, op: str, value: str) -> None:
    matcher = parse_matcher(text)
    assert (matcher.name, matcher.op, matcher.value) == (name, op, value)


def test_escaped_values_match_the_unescaped_text() -> None:
    assert parse_matcher('x="say \\"hi\\""').matches({"x": 'say "hi"'})
    assert parse_matcher('x="line1\\nline2"').matches({"x": "line1\nline2"})
    assert not parse_matcher('x="line1\\nline2"').matches({"x": "line1\\nline2"})


def test_regex_escapes_reach_the_regex_engine() -> None:
    matcher = parse_matcher('x=~"model-\\\\d+"')
    assert matcher.value == "model-\\d+"
    assert matcher.matches({"x": "model-42"})
    assert not matcher.matches({"x": "model-x"})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('x="a\\qb"', "a\\qb"),  # \q means nothing: the backslash stays
        ('x=~"a\\.b"', "a\\.b"),  # \. reaches the regex engine as written
        ('x="\\t"', "\\t"),  # not a tab: only \n, \" and \\ are escapes
        ("x=end\\", "end\\"),  # a backslash with nothing after it is kept too
    ],
)
def test_unknown_escapes_keep_their_backslash(text: str, value: str) -> None:
    matcher = parse_matcher(text)
    assert matcher.value == value
    assert parse_matcher(str(matcher)).value == value  # and survive a round trip


def test_an_unknown_escape_in_a_regex_is_the_regex_escape() -> None:
    matcher = parse_matcher('summary=~"a\\.b"')
    assert matcher.matches({"summary": "a.b"})
    assert not matcher.matches({"summary": "axb"})
    assert not matcher.matches({"summary": "a\\.b"})


def test_regex_metacharacters_in_equality_matchers_are_literal() -> None:
    matcher = parse_matcher('x="a.*"')
    assert matcher.matches({"x": "a.*"})
    assert not matcher.matches({"x": "abc"})


@pytest.mark.parametrize(
    "text",
    [
        "alertname",
        'alertname"Foo"',
        'alertname:"Foo"',
        '=~"Foo"',
        '="Foo"',
        "",
        "   ",
        '1abc="x"',
        'foo-bar="x"',
        'foo.bar="x"',
        'x=~"("',
        'x!~"[a-"',
        'x=~"a{2,1}"',
        'x=~"*"',
    ],
)
def test_parse_errors_name_the_matcher(text: str) -> None:
    with pytest.raises(MatcherError) as excinfo:
        parse_matcher(text)
    assert repr(text) in str(excinfo.value)


def test_bad_regex_error_says_it_is_a_regex_problem() -> None:
    with pytest.raises(MatcherError, match="regex"):
        parse_matcher('x=~"("')


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            'x="abc',
        ),
        pytest.param(
            'x=abc"',
        ),
        pytest.param(
            'x="a"b"',
        ),
    ],
)
def test_quoting_errors_name_the_matcher(text: str) -> None:
    with pytest.raises(MatcherError) as excinfo:
        parse_matcher(text)
    assert repr(text) in str(excinfo.value)


@pytest.mark.parametrize("text", ['x="abc', 'x=abc"', 'x="a"b"', 'x=""x"'])
def test_quoting_errors_are_matcher_errors(text: str) -> None:
    with pytest.raises(MatcherError, match="quote"):
        parse_matcher(text)


@pytest.mark.parametrize("value", [None, 42, ["x=y"], b'x="y"'])
def test_non_strings_are_rejected(value: object) -> None:
    with pytest.raises(MatcherError, match="string"):
        parse_matcher(value)  # type: ignore[arg-type]


def test_matcher_error_is_a_value_error() -> None:
    assert issubclass(MatcherError, ValueError)


def test_inline_case_insensitive_flag() -> None:
    matcher = parse_matcher('alertname=~"(?i)fairness.*"')
    assert matcher.matches({"alertname": "FairnessViolation"})
    assert not matcher.matches({"alertname": "ModelAccuracyDrop"})


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("alertname=Foo", 'alertname="Foo"'),
        ('alertname = "Foo"', 'alertname="Foo"'),
        ('x=~"foo|bar"', 'x=~"foo|bar"'),
        ("x!~.+", 'x!~".+"'),
        ('x!=""', 'x!=""'),
        ('x="say \\"hi\\""', 'x="say \\"hi\\""'),
        ('x="back\\\\slash"', 'x="back\\\\slash"'),
        ('x="line1\\nline2"', 'x="line1\\nline2"'),
    ],
)
def test_str_renders_the_canonical_form(text: str, rendered: str) -> None:
    assert str(parse_matcher(text)) == rendered


@pytest.mark.parametrize(
    "matcher",
    [
        Matcher("alertname", "=", "Foo"),
        Matcher("x", "!=", ""),
        Matcher("x", "=", 'quote " inside'),
        Matcher("x", "=", "back\\slash and \\n literal"),
        Matcher("x", "=", "new\nline"),
        Matcher("x", "=", " spaces  "),
        Matcher("x", "=", "=~!"),
        Matcher("x", "=", "üñíçødé"),
        parse_matcher('x=~"a\\\\d+|b"'),
        parse_matcher('x!~"\\"quoted\\"|.*\\\\.*"'),
    ],
)
def test_str_round_trips_through_parse_matcher(matcher: Matcher) -> None:
    parsed = parse_matcher(str(matcher))
    assert parsed == matcher
    assert str(parsed) == str(matcher)


def test_round_tripped_regex_matches_the_same_values() -> None:
    original = parse_matcher('x=~"a\\\\d+|\\"q\\""')
    parsed = parse_matcher(str(original))
    for value in ["a1", "a123", 'a"', '"q"', "q", "a", ""]:
        assert parsed.matches({"x": value}) is original.matches({"x": value}), value
    assert parsed.matches({"x": '"q"'})
    assert parsed.matches({"x": "a7"})


def test_a_list_entry_may_hold_several_matchers() -> None:
    assert parse_matchers('{alertname="A", model=~"x,y" , }') == [
        parse_matcher('alertname="A"'),
        parse_matcher('model=~"x,y"'),
    ]
    assert parse_matchers("") == []


def test_parse_matcher_wants_exactly_one() -> None:
    with pytest.raises(MatcherError, match="holds 2 matchers") as excinfo:
        parse_matcher('alertname="A",model="m"')
    assert repr('alertname="A",model="m"') in str(excinfo.value)
    assert parse_matcher('{alertname="A"}') == parse_matcher('alertname="A"')


def test_a_list_names_the_part_it_cannot_parse() -> None:
    with pytest.raises(MatcherError) as excinfo:
        parse_matchers('x="a",y')
    assert "'y'" in str(excinfo.value)
    assert repr('x="a",y') in str(excinfo.value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("\\C", "\\C"),
        ("(?<n>a)", "(?P<name>re)"),
        ("(?P<é>a)", "ASCII"),
        ("(?!Watchdog).*", "(?!"),
        ("(a)\\1", "\\1"),
    ],
)
def test_regexes_go_refuses_are_refused_with_the_reason(value: str, reason: str) -> None:
    text = f'x=~"{value}"'
    with pytest.raises(MatcherError) as excinfo:
        parse_matcher(text)
    message = str(excinfo.value)
    assert message.startswith(f"bad regex in matcher {text!r}: ")
    assert reason in message


def test_a_bad_regex_is_reported_not_logged(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(MatcherError):
        parse_matcher('x=~"a{2,1}"')
    assert capfd.readouterr() == ("", "")


def test_matchers_made_directly_compile_their_regex() -> None:
    matcher = Matcher("model", "=~", "fraud-.*")
    assert matcher.matches({"model": "fraud-v3"})
    assert not matcher.matches({"model": "churn-v1"})
    assert matcher == parse_matcher('model=~"fraud-.*"')
    with pytest.raises(MatcherError, match="bad regex"):
        Matcher("model", "!~", "(")
    with pytest.raises(MatcherError, match="operator"):
        Matcher("model", "~=", "x")


def test_matchers_are_hashable_values() -> None:
    assert len({parse_matcher('x=~"a|b"'), parse_matcher("x =~ a|b"), parse_matcher('x!~"a|b"')}) == 2


@pytest.mark.parametrize("op", ["=~", "!~"])
def test_answers_stay_right_past_the_remembered_values(op: str) -> None:
    # More distinct values than a matcher remembers, each asked twice: every answer is computed
    # or remembered correctly, for the regex path and the literal-alternatives path alike.
    regex = parse_matcher(f'instance{op}".*:9090"')
    literal = parse_matcher(f'instance{op}"host-1|host-22|host-333"')
    values = [f"host-{i}:{9090 if i % 3 else 9100}" for i in range(3000)] + ["host-1", "host-22", "host-4"]
    for value in values * 2:
        labels = {"instance": value}
        assert regex.matches(labels) is (value.endswith(":9090") is (op == "=~")), value
        assert literal.matches(labels) is ((value in {"host-1", "host-22", "host-333"}) is (op == "=~")), (
            value
        )


def test_a_lone_surrogate_in_a_label_is_matched_as_a_replacement_character() -> None:
    # JSON may carry "\ud800"; Go's decoder turns it into U+FFFD, Python's keeps it as is.
    assert parse_matcher('x=~".+"').matches({"x": "a\ud800"})
    assert parse_matcher('x=~"a\\x{FFFD}"').matches({"x": "a\ud800"})
    assert not parse_matcher('x=~"a"').matches({"x": "a\ud800"})


def test_a_value_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(MatcherError, match="UTF-8"):
        parse_matcher('x="\ud800"')
