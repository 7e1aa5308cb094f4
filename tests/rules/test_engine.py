"""RuleSet.classify: rule order, severities, incident keys and unclassified alerts."""

from __future__ import annotations

import random
import string
from datetime import timedelta
from pathlib import Path

import pytest

from app.catalog.loader import load_catalog
from app.rules.engine import (
    DEFAULT_GROUP_BY,
    DEFAULT_REOPEN_WINDOW,
    DEFAULT_SEVERITY_MATRIX,
    IMPACT_LEVELS,
    MAX_KEY_LENGTH,
    SEVERITIES,
    UNCLASSIFIED,
    Impact,
    Rule,
    RuleSet,
    incident_key,
    worst_severity,
)
from app.rules.matchers import parse_matcher

ROOT = Path(__file__).resolve().parents[2]

# The documented matrix. Rows: technical impact; columns: harm impact (low, medium, high, critical).
EXPECTED_MATRIX = {
    "low": ("SEV4", "SEV3", "SEV2", "SEV1"),
    "medium": ("SEV3", "SEV3", "SEV2", "SEV1"),
    "high": ("SEV3", "SEV2", "SEV1", "SEV1"),
    "critical": ("SEV2", "SEV1", "SEV1", "SEV1"),
}
LEVELS = ("low", "medium", "high", "critical")
MATRIX_CELLS = [
    (technical, harm, EXPECTED_MATRIX[technical][column])
    for technical in LEVELS
    for column, harm in enumerate(LEVELS)
]


def make_rule(
    name: str,
    *matchers: str,
    kind: str = "technical_failure",
    severity: str | None = "SEV3",
    impact: Impact | None = None,
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY,
    runbook: str | None = None,
    auto_resolve: bool = True,
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
) -> Rule:
    return Rule(
        name=name,
        matchers=tuple(parse_matcher(m) for m in matchers),
        type=kind,
        severity=None if impact else severity,
        impact=impact,
        group_by=group_by,
        runbook=runbook,
        auto_resolve=auto_resolve,
        reopen_window=reopen_window,
    )


def rank(severity: str) -> int:
    """0 for SEV1 (worst) to 3 for SEV4."""
    return SEVERITIES.index(severity)


# Rule order


def test_first_matching_rule_wins() -> None:
    specific = make_rule("drift-critical", 'alertname="FeatureDrift"', 'severity="critical"', severity="SEV1")
    general = make_rule("drift", 'alertname="FeatureDrift"', severity="SEV3")
    ruleset = RuleSet((specific, general))

    critical = ruleset.classify({"alertname": "FeatureDrift", "severity": "critical", "model": "m"})
    warning = ruleset.classify({"alertname": "FeatureDrift", "severity": "warning", "model": "m"})

    assert (critical.rule, critical.severity) == ("drift-critical", "SEV1")
    assert (warning.rule, warning.severity) == ("drift", "SEV3")


def test_an_earlier_general_rule_shadows_a_later_specific_one() -> None:
    general = make_rule("drift", 'alertname="FeatureDrift"', severity="SEV3")
    specific = make_rule("drift-critical", 'alertname="FeatureDrift"', 'severity="critical"', severity="SEV1")
    ruleset = RuleSet((general, specific))

    result = ruleset.classify({"alertname": "FeatureDrift", "severity": "critical"})

    assert (result.rule, result.severity) == ("drift", "SEV3")


def test_all_matchers_of_a_rule_must_match() -> None:
    rule = make_rule("fairness", 'alertname=~"FairnessViolation|DemographicParityGap"', 'model!=""')
    ruleset = RuleSet((rule,))

    assert ruleset.match({"alertname": "DemographicParityGap", "model": "credit"}) is rule
    assert ruleset.match({"alertname": "DemographicParityGap"}) is None
    assert ruleset.match({"alertname": "FairnessViolationX", "model": "credit"}) is None


def test_rule_without_matchers_matches_everything() -> None:
    catch_all = make_rule("catch-all")
    assert RuleSet((catch_all,)).match({}) is catch_all
    assert RuleSet((catch_all,)).classify({"alertname": "Anything"}).rule == "catch-all"


def test_classification_carries_the_rule_settings() -> None:
    rule = make_rule(
        "fairness",
        'alertname="FairnessViolation"',
        kind="fairness_violation",
        impact=Impact("low", "high"),
        group_by=("model",),
        runbook="fairness-violation",
        auto_resolve=False,
        reopen_window=timedelta(hours=6),
    )

    result = RuleSet((rule,)).classify({"alertname": "FairnessViolation", "model": "credit", "group": "g"})

    assert result.rule == "fairness"
    assert result.type == "fairness_violation"
    assert result.severity == "SEV2"
    assert result.key == 'fairness:{model="credit"}'
    assert result.group_labels == {"model": "credit"}
    assert result.runbook == "fairness-violation"
    assert result.auto_resolve is False
    assert result.reopen_window == timedelta(hours=6)


# Severity


@pytest.mark.parametrize("severity", SEVERITIES)
def test_severity_given_directly(severity: str) -> None:
    rule = make_rule("r", 'alertname="A"', severity=severity)
    assert RuleSet((rule,)).classify({"alertname": "A"}).severity == severity


def test_default_matrix_is_the_documented_one() -> None:
    documented = {t: dict(zip(LEVELS, row, strict=True)) for t, row in EXPECTED_MATRIX.items()}
    assert documented == DEFAULT_SEVERITY_MATRIX
    assert tuple(IMPACT_LEVELS) == LEVELS


@pytest.mark.parametrize(("technical", "harm", "expected"), MATRIX_CELLS)
def test_severity_from_impact_uses_the_default_matrix(technical: str, harm: str, expected: str) -> None:
    rule = make_rule("r", 'alertname="A"', impact=Impact(technical, harm))
    ruleset = RuleSet((rule,))

    assert ruleset.severity_of(rule) == expected
    assert ruleset.classify({"alertname": "A"}).severity == expected


@pytest.mark.parametrize(
    ("technical", "harm"),
    [(t, h) for t in LEVELS for h in LEVELS if LEVELS.index(h) > LEVELS.index(t)],
)
def test_harm_weighs_at_least_as_much_as_technical_impact(technical: str, harm: str) -> None:
    harm_heavy = DEFAULT_SEVERITY_MATRIX[technical][harm]
    technical_heavy = DEFAULT_SEVERITY_MATRIX[harm][technical]
    assert rank(harm_heavy) <= rank(technical_heavy)


@pytest.mark.parametrize(("technical", "harm", "_"), MATRIX_CELLS)
def test_more_impact_never_means_a_milder_severity(technical: str, harm: str, _: str) -> None:
    here = rank(DEFAULT_SEVERITY_MATRIX[technical][harm])
    t, h = LEVELS.index(technical), LEVELS.index(harm)
    if t + 1 < len(LEVELS):
        assert rank(DEFAULT_SEVERITY_MATRIX[LEVELS[t + 1]][harm]) <= here
    if h + 1 < len(LEVELS):
        assert rank(DEFAULT_SEVERITY_MATRIX[technical][LEVELS[h + 1]]) <= here


def test_custom_matrix_changes_derived_severities() -> None:
    matrix = {t: dict.fromkeys(LEVELS, "SEV4") for t in LEVELS}
    matrix["low"]["high"] = "SEV1"
    derived = make_rule("derived", 'alertname="A"', impact=Impact("low", "high"))
    other = make_rule("other", 'alertname="B"', impact=Impact("critical", "critical"))
    direct = make_rule("direct", 'alertname="C"', severity="SEV2")
    ruleset = RuleSet((derived, other, direct), matrix)

    assert ruleset.classify({"alertname": "A"}).severity == "SEV1"
    assert ruleset.classify({"alertname": "B"}).severity == "SEV4"
    # A severity given directly ignores the matrix.
    assert ruleset.classify({"alertname": "C"}).severity == "SEV2"
    # The default matrix is untouched.
    assert RuleSet((derived,)).classify({"alertname": "A"}).severity == "SEV2"


# incident_key


def test_key_has_rule_name_and_group_labels_sorted_by_name() -> None:
    labels = {"model": "credit", "alertname": "FeatureDrift", "feature": "age"}

    key, group = incident_key("drift", ("model", "alertname"), labels)

    assert key == 'drift:{alertname="FeatureDrift",model="credit"}'
    assert group == {"model": "credit", "alertname": "FeatureDrift"}


def test_key_does_not_depend_on_group_by_order() -> None:
    labels = {"model": "credit", "alertname": "FeatureDrift", "pipeline": "p"}
    first, _ = incident_key("r", ("pipeline", "model", "alertname"), labels)
    second, _ = incident_key("r", ("alertname", "pipeline", "model"), labels)
    assert first == second == 'r:{alertname="FeatureDrift",model="credit",pipeline="p"}'


def test_missing_group_labels_are_empty() -> None:
    key, group = incident_key("r", ("alertname", "model"), {"alertname": "A"})
    assert key == 'r:{alertname="A",model=""}'
    assert group == {"alertname": "A", "model": ""}


def test_missing_and_empty_group_labels_give_the_same_key() -> None:
    absent, _ = incident_key("r", ("alertname", "model"), {"alertname": "A"})
    empty, _ = incident_key("r", ("alertname", "model"), {"alertname": "A", "model": ""})
    assert absent == empty


def test_empty_group_by_gives_one_key_per_rule() -> None:
    key, group = incident_key("r", (), {"alertname": "A", "model": "m"})
    assert key == "r:{}"
    assert group == {}


def test_labels_outside_group_by_do_not_change_the_key() -> None:
    rule = make_rule("drift", 'alertname="FeatureDrift"', group_by=("alertname", "model"))
    ruleset = RuleSet((rule,))
    base = {"alertname": "FeatureDrift", "model": "credit"}

    keys = {
        ruleset.classify({**base, "feature": feature, "instance": instance}).key
        for feature in ("age", "income")
        for instance in ("a:9100", "b:9100")
    }

    assert keys == {'drift:{alertname="FeatureDrift",model="credit"}'}


def test_different_group_values_give_different_keys() -> None:
    group_by = ("alertname", "model")
    keys = {
        incident_key("r", group_by, {"alertname": a, "model": m})[0]
        for a in ("A", "B")
        for m in ("credit", "fraud", "")
    }
    assert len(keys) == 6


def test_different_rules_give_different_keys_for_the_same_labels() -> None:
    labels = {"alertname": "A", "model": "m"}
    assert incident_key("r1", DEFAULT_GROUP_BY, labels)[0] != incident_key("r2", DEFAULT_GROUP_BY, labels)[0]


def test_quotes_in_values_cannot_make_distinct_groups_collide() -> None:
    group_by = ("alertname", "model")
    first, _ = incident_key("r", group_by, {"alertname": 'A",model="B', "model": "C"})
    second, _ = incident_key("r", group_by, {"alertname": "A", "model": 'B",model="C'})
    assert first != second


def _key_for_value_length(length: int) -> str:
    return incident_key("r", ("model",), {"model": "m" * length})[0]


def test_keys_up_to_the_limit_stay_readable() -> None:
    # 'r:{model="' + value + '"}' is 12 characters plus the value.
    key = _key_for_value_length(MAX_KEY_LENGTH - 12)
    assert len(key) == MAX_KEY_LENGTH
    assert key.startswith('r:{model="mmm')


def test_keys_over_the_limit_are_hashed() -> None:
    key = _key_for_value_length(MAX_KEY_LENGTH - 11)
    assert key.startswith("r:sha256:")
    assert "mmm" not in key


def test_long_keys_are_bounded_deterministic_and_distinct() -> None:
    rule = "a-rule-with-a-fairly-long-name"
    group_by = ("alertname", "model")
    long_a = {"alertname": "A", "model": "x" * 5000}
    long_b = {"alertname": "A", "model": "x" * 4999 + "y"}
    long_c = {"alertname": "B", "model": "x" * 5000}

    key_a, group_a = incident_key(rule, group_by, long_a)
    key_b, _ = incident_key(rule, group_by, long_b)
    key_c, _ = incident_key(rule, group_by, long_c)

    assert key_a.startswith(f"{rule}:")
    assert all(len(k) <= MAX_KEY_LENGTH for k in (key_a, key_b, key_c))
    assert len(key_a) <= len(rule) + 80
    assert incident_key(rule, group_by, dict(long_a))[0] == key_a
    assert len({key_a, key_b, key_c}) == 3
    assert incident_key("other-rule", group_by, long_a)[0] != key_a
    # The group labels keep the full values for display.
    assert group_a["model"] == "x" * 5000


def test_long_multibyte_values_are_hashed_too() -> None:
    key, _ = incident_key("r", ("model",), {"model": "é" * 1000})
    assert key.startswith("r:sha256:")
    assert len(key) <= MAX_KEY_LENGTH


# Unclassified alerts


@pytest.mark.parametrize(
    ("severity_label", "expected"),
    [
        ("critical", "SEV2"),
        ("CRITICAL", "SEV2"),
        ("page", "SEV2"),
        ("high", "SEV2"),
        ("error", "SEV3"),
        ("major", "SEV3"),
        ("warning", "SEV3"),
        ("medium", "SEV3"),
        ("minor", "SEV4"),
        ("low", "SEV4"),
        ("info", "SEV4"),
        ("Info", "SEV4"),
        ("bogus", "SEV3"),
        ("", "SEV3"),
        (None, "SEV3"),
    ],
)
def test_unclassified_severity_comes_from_the_severity_label(
    severity_label: str | None, expected: str
) -> None:
    labels = {"alertname": "SomethingNew", "model": "m"}
    if severity_label is not None:
        labels["severity"] = severity_label
    ruleset = RuleSet((make_rule("other", 'alertname="Other"', severity="SEV1"),))

    result = ruleset.classify(labels)

    assert result.severity == expected


def test_unclassified_alert_shape() -> None:
    ruleset = RuleSet((make_rule("other", 'alertname="Other"', severity="SEV1", auto_resolve=False),))

    result = ruleset.classify(
        {"alertname": "SomethingNew", "model": "m", "severity": "critical", "instance": "i"}
    )

    assert result.rule == UNCLASSIFIED == "unclassified"
    assert result.type == "unclassified"
    assert result.severity == "SEV2"
    assert result.key == 'unclassified:{alertname="SomethingNew",model="m"}'
    assert result.group_labels == {"alertname": "SomethingNew", "model": "m"}
    assert result.runbook is None
    assert result.auto_resolve is True
    assert result.reopen_window == DEFAULT_REOPEN_WINDOW == timedelta(hours=1)


def test_unclassified_alerts_group_by_alertname_and_model() -> None:
    ruleset = RuleSet()
    same = {
        ruleset.classify({"alertname": "X", "model": "m", "instance": i, "severity": s}).key
        for i in ("a", "b")
        for s in ("warning", "critical")
    }
    other_model = ruleset.classify({"alertname": "X", "model": "n"}).key
    other_alert = ruleset.classify({"alertname": "Y", "model": "m"}).key

    assert len(same) == 1
    assert len({*same, other_model, other_alert}) == 3


def test_empty_ruleset_classifies_everything_as_unclassified() -> None:
    result = RuleSet().classify({})
    assert (result.rule, result.type, result.severity) == ("unclassified", "unclassified", "SEV3")
    assert result.key == 'unclassified:{alertname="",model=""}'


# worst_severity


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("SEV1", "SEV4", "SEV1"),
        ("SEV4", "SEV1", "SEV1"),
        ("SEV3", "SEV2", "SEV2"),
        ("SEV2", "SEV3", "SEV2"),
        ("SEV3", "SEV3", "SEV3"),
        ("SEV4", "SEV4", "SEV4"),
    ],
)
def test_worst_severity(a: str, b: str, expected: str) -> None:
    assert worst_severity(a, b) == expected


@pytest.mark.parametrize(("a", "b"), [("SEV0", "SEV1"), ("SEV1", "sev2"), ("", "SEV3")])
def test_worst_severity_rejects_unknown_severities(a: str, b: str) -> None:
    with pytest.raises(ValueError):
        worst_severity(a, b)


# The shipped rules


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_catalog(ROOT / "rules", ROOT / "runbooks").ruleset


@pytest.mark.parametrize(
    ("labels", "rule", "severity"),
    [
        ({"alertname": "FairnessViolation", "model": "credit"}, "fairness", "SEV2"),
        ({"alertname": "DemographicParityGap", "model": "credit"}, "fairness", "SEV2"),
        ({"alertname": "FairnessViolation"}, "unclassified", "SEV3"),
        (
            {"alertname": "FeatureDrift", "model": "m", "severity": "critical"},
            "feature-drift-critical",
            "SEV2",
        ),
        ({"alertname": "FeatureDrift", "model": "m", "severity": "warning"}, "feature-drift", "SEV4"),
        (
            {"alertname": "DisparateImpactRatioLow", "model": "m", "severity": "critical"},
            "disparate-impact-critical",
            "SEV1",
        ),
        ({"alertname": "HarmfulOutputRate", "model": "m"}, "harmful-output-rate", "SEV1"),
        (
            {"alertname": "ModelServingErrors", "model": "m", "severity": "critical"},
            "model-serving-errors-critical",
            "SEV2",
        ),
        ({"alertname": "ConsentViolation", "model": "m"}, "prohibited-use-or-consent", "SEV1"),
    ],
)
def test_shipped_rules_classify_known_alerts(
    shipped: RuleSet, labels: dict[str, str], rule: str, severity: str
) -> None:
    result = shipped.classify(labels)
    assert (result.rule, result.severity) == (rule, severity)


def _random_labels(rng: random.Random, interesting: list[str]) -> dict[str, str]:
    keys = ["alertname", "model", "severity", "group", "pipeline", "provider"]
    labels: dict[str, str] = {}
    for _ in range(rng.randint(0, 8)):
        if rng.random() < 0.5:
            key = rng.choice(keys)
        else:
            key = "".join(rng.choices(string.ascii_lowercase + "_", k=rng.randint(1, 8)))
        if rng.random() < 0.5:
            value = rng.choice(interesting)
        else:
            value = "".join(rng.choices(string.printable + "éü\u2603\x00", k=rng.randint(0, 600)))
        labels[key] = value
    return labels


def test_classify_is_deterministic_and_total_on_random_labels(shipped: RuleSet) -> None:
    """A seeded fuzz over the shipped rules; the property test does the same with hypothesis."""
    interesting = [m.value for r in shipped.rules for m in r.matchers] + ["critical", "warning", ""]
    # A rule that shares incidents with another (group_with) keys them under that rule's name.
    key_owner = {r.name: r.group_with or r.name for r in shipped.rules} | {UNCLASSIFIED: UNCLASSIFIED}
    rng = random.Random(20240611)
    seen_rules = set()
    for _ in range(2000):
        labels = _random_labels(rng, interesting)
        first = shipped.classify(labels)
        again = shipped.classify(dict(reversed(list(labels.items()))))
        assert first == again
        assert first.severity in SEVERITIES
        assert first.key.startswith(f"{key_owner[first.rule]}:")
        assert len(first.key) <= MAX_KEY_LENGTH
        seen_rules.add(first.rule)
    # The fuzz reaches both the rules and the unclassified path.
    assert "unclassified" in seen_rules
    assert len(seen_rules) > 3
