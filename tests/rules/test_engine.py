"""RuleSet.classify: rule order, severities, incident keys and unclassified alerts."""

from __future__ import annotations

import random
import string
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from app.catalog.loader import load_catalog
from app.rules.engine import (
    DEFAULT_GROUP_BY,
    DEFAULT_HARM_BY_RISK_TIER,
    DEFAULT_REOPEN_WINDOW,
    DEFAULT_SEVERITY_MATRIX,
    IMPACT_LEVELS,
    MAX_KEY_LENGTH,
    SEVERITIES,
    UNCLASSIFIED,
    Impact,
    Rule,
    RuleSet,
    harm_raises,
    incident_key,
    missing_labels_note,
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


# Risk tiers raise harm


def fairness_rule(name: str = "fairness", impact: Impact = Impact("low", "high")) -> Rule:
    return make_rule(name, 'alertname="FairnessViolation"', kind="fairness_violation", impact=impact)


REGISTRY = {"credit-scorer": "high", "chatbot": "limited", "sandbox": "minimal"}


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        (0, {"low": "low", "medium": "medium", "high": "high", "critical": "critical"}),
        (1, {"low": "medium", "medium": "high", "high": "critical", "critical": "critical"}),
        (3, dict.fromkeys(LEVELS, "critical")),
        ("medium", {"low": "medium", "medium": "medium", "high": "high", "critical": "critical"}),
        ("low", {level: level for level in LEVELS}),
    ],
)
def test_harm_raises_by_steps_or_to_a_floor_and_never_lowers(
    how: int | str, expected: dict[str, str]
) -> None:
    assert harm_raises({"high": how}) == {"high": expected}


def test_default_raise_is_one_harm_level_for_high_risk_models_only() -> None:
    assert DEFAULT_HARM_BY_RISK_TIER == {"high": 1}
    assert RuleSet().harm_by_risk_tier == harm_raises({"high": 1})


def test_a_high_risk_model_raises_the_harm_of_an_impact_rule() -> None:
    ruleset = RuleSet((fairness_rule(),), risk_tiers=REGISTRY)

    high = ruleset.classify({"alertname": "FairnessViolation", "model": "credit-scorer"})
    sandbox = ruleset.classify({"alertname": "FairnessViolation", "model": "sandbox"})
    limited = ruleset.classify({"alertname": "FairnessViolation", "model": "chatbot"})

    assert high.severity == "SEV1"  # low x critical
    assert high.raised == (
        "SEV1, not SEV2: the model's risk tier is high, which raises harm from high to critical"
        " (harm_by_risk_tier)"
    )
    assert (sandbox.severity, sandbox.raised) == ("SEV2", None)
    assert (limited.severity, limited.raised) == ("SEV2", None)  # the default leaves limited alone
    assert high.key != sandbox.key


@pytest.mark.parametrize(
    "labels",
    [
        {"alertname": "FairnessViolation", "model": "unknown-model"},
        {"alertname": "FairnessViolation", "model": ""},
        {"alertname": "FairnessViolation"},
    ],
)
def test_models_the_registry_does_not_know_keep_the_rule_severity(labels: dict[str, str]) -> None:
    result = RuleSet((fairness_rule(),), risk_tiers=REGISTRY).classify(labels)
    assert (result.severity, result.raised) == ("SEV2", None)


def test_a_severity_given_directly_is_never_raised() -> None:
    fixed = make_rule("fixed", 'alertname="FairnessViolation"', kind="fairness_violation", severity="SEV3")
    result = RuleSet((fixed,), risk_tiers=REGISTRY).classify(
        {"alertname": "FairnessViolation", "model": "credit-scorer"}
    )
    assert (result.severity, result.raised) == ("SEV3", None)


def test_a_raise_that_does_not_change_the_severity_says_nothing() -> None:
    # high x high is SEV1 already; high x critical is SEV1 too.
    rule = fairness_rule(impact=Impact("high", "high"))
    result = RuleSet((rule,), risk_tiers=REGISTRY).classify(
        {"alertname": "FairnessViolation", "model": "credit-scorer"}
    )
    assert (result.severity, result.raised) == ("SEV1", None)


def test_floors_and_steps_per_tier_with_a_custom_matrix() -> None:
    matrix = {t: dict.fromkeys(LEVELS, "SEV4") for t in LEVELS}
    matrix["low"]["medium"] = "SEV3"
    matrix["low"]["high"] = "SEV2"
    rule = fairness_rule(impact=Impact("low", "low"))
    ruleset = RuleSet((rule,), matrix, harm_raises({"high": 2, "limited": "medium"}), REGISTRY)

    def severity(model: str) -> str:
        return ruleset.classify({"alertname": "FairnessViolation", "model": model}).severity

    assert (severity("credit-scorer"), severity("chatbot"), severity("sandbox")) == ("SEV2", "SEV3", "SEV4")


def test_no_tier_raises_harm_when_the_section_is_empty() -> None:
    ruleset = RuleSet((fairness_rule(),), harm_by_risk_tier={}, risk_tiers=REGISTRY)
    result = ruleset.classify({"alertname": "FairnessViolation", "model": "credit-scorer"})
    assert (result.severity, result.raised) == ("SEV2", None)


def test_a_critical_variant_is_raised_under_its_own_rule_and_keys_with_the_general_one() -> None:
    critical = make_rule(
        "drift-critical",
        'alertname="Drift"',
        'severity="critical"',
        kind="performance_degradation",
        impact=Impact("high", "medium"),
    )
    critical = replace(critical, group_with="drift")
    general = make_rule(
        "drift", 'alertname="Drift"', kind="performance_degradation", impact=Impact("low", "low")
    )
    ruleset = RuleSet((critical, general), risk_tiers=REGISTRY)

    worse = ruleset.classify({"alertname": "Drift", "severity": "critical", "model": "credit-scorer"})
    milder = ruleset.classify({"alertname": "Drift", "severity": "warning", "model": "credit-scorer"})

    assert (worse.rule, worse.severity) == ("drift-critical", "SEV1")  # high x high
    assert (milder.rule, milder.severity) == ("drift", "SEV3")  # low x medium
    assert worse.key == milder.key


def test_with_risk_tiers_keeps_the_rules_and_leaves_the_original_alone() -> None:
    plain = RuleSet((fairness_rule(),))
    known = plain.with_risk_tiers(REGISTRY)

    assert known.rules == plain.rules and known.severity_matrix == plain.severity_matrix
    assert plain.risk_tiers == {}
    labels = {"alertname": "FairnessViolation", "model": "credit-scorer"}
    assert (plain.classify(labels).severity, known.classify(labels).severity) == ("SEV2", "SEV1")


# Required labels


def test_missing_required_labels_are_flagged_not_unclassified() -> None:
    rule = replace(fairness_rule(), group_by=("model",), required_labels=("model", "group"))
    ruleset = RuleSet((rule,))

    without = ruleset.classify({"alertname": "FairnessViolation", "model": "", "severity": "warning"})
    partial = ruleset.classify({"alertname": "FairnessViolation", "model": "credit"})
    complete = ruleset.classify({"alertname": "FairnessViolation", "model": "credit", "group": "age"})

    assert (without.rule, without.type, without.severity) == ("fairness", "fairness_violation", "SEV2")
    assert without.missing_labels == ("model", "group")
    assert partial.missing_labels == ("group",)
    assert complete.missing_labels == ()
    assert complete.notes() == []


def test_notes_for_a_missing_model_and_a_raised_severity() -> None:
    rule = replace(fairness_rule(), required_labels=("model",))
    ruleset = RuleSet((rule,), risk_tiers=REGISTRY)

    (flag,) = ruleset.classify({"alertname": "FairnessViolation"}).notes()
    (raised,) = ruleset.classify({"alertname": "FairnessViolation", "model": "credit-scorer"}).notes()

    assert flag == (
        "labels_missing",
        "alert has no `model` label: owner unknown, the default escalation policy pages",
        {"missing_labels": ["model"]},
    )
    assert raised[0] == "severity_by_risk_tier"
    assert raised[1].startswith("SEV1, not SEV2: the model's risk tier is high")
    assert raised[2] == {"severity": "SEV1"}


@pytest.mark.parametrize(
    ("missing", "note"),
    [
        (("model",), "alert has no `model` label: owner unknown, the default escalation policy pages"),
        (("pipeline",), "alert has no `pipeline` label"),
        (
            ("provider", "model"),
            "alert has no `provider`, `model` labels: owner unknown, the default escalation policy pages",
        ),
    ],
)
def test_missing_labels_note(missing: tuple[str, ...], note: str) -> None:
    assert missing_labels_note(missing) == note


def test_unclassified_alerts_carry_no_flags() -> None:
    result = RuleSet(risk_tiers=REGISTRY).classify({"alertname": "X", "model": "credit-scorer"})
    assert (result.missing_labels, result.raised, result.notes()) == ((), None, [])


# The shipped rules


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_catalog(ROOT / "rules", ROOT / "runbooks").ruleset


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


def test_a_remembered_classification_is_the_one_the_rules_give() -> None:
    drift = make_rule("drift", 'alertname="FeatureDrift"', severity="SEV3", group_by=("model",))
    ruleset = RuleSet((drift,))
    labels = {"alertname": "FeatureDrift", "model": "churn"}

    first = ruleset.classify(labels)
    again = ruleset.classify(dict(labels))
    other = ruleset.classify({"alertname": "FeatureDrift", "model": "credit"})

    assert again == first
    assert (other.key, first.key) == ('drift:{model="credit"}', 'drift:{model="churn"}')
    # A model's risk tier is part of the rule set: a new set does not answer from the old one's memory.
    tiered = replace(drift, impact=Impact("high", "medium"), severity=None)
    plain = RuleSet((tiered,))
    assert plain.classify(labels).severity == "SEV2"
    assert plain.with_risk_tiers({"churn": "high"}).classify(labels).severity == "SEV1"


def test_the_memory_of_classifications_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.rules.engine.CLASSIFIED_KEPT", 8)
    ruleset = RuleSet((make_rule("drift", 'alertname="FeatureDrift"'),))

    keys = {ruleset.classify({"alertname": "FeatureDrift", "model": f"m{i}"}).key for i in range(50)}

    assert len(keys) == 50
    assert len(ruleset._seen) <= 8
