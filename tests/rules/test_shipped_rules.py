"""The shipped rules classify realistic alerts as an SRE expects: rule, type, severity, runbook,
which alerts share an incident, fairness without a `model` label, and the registry's risk tiers.

Alerts are built from the example Prometheus rules (examples/prometheus/ml-alerts.rules.yml) and
the webhooks captured from Alertmanager 0.25 (tests/fixtures). The registry is the test's own, so
edits to the shipped on-call file do not move these expectations.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.catalog.loader import Catalog, load_catalog
from app.rules.engine import DEFAULT_HARM_BY_RISK_TIER, UNCLASSIFIED, RuleSet, harm_raises
from tests.support import load_fixture_requests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "prometheus" / "ml-alerts.rules.yml"
# model id -> registry risk tier: a high-risk credit model, a minimal-risk production model, a
# sandbox model (experimental tier, minimal risk) and a limited-risk chat assistant.
REGISTRY = {
    "credit-scorer": "high",
    "fraud-scorer": "minimal",
    "sandbox-ranker": "minimal",
    "support-chat": "limited",
}
# Values for the labels an example alert aggregates by (`by (model, group)` and so on).
BY_LABELS = {"model": "fraud-scorer", "group": "age", "pipeline": "features-daily", "provider": "acme-ai"}
MISSING_MODEL = "alert has no `model` label: owner unknown, the default escalation policy pages"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(ROOT / "rules", ROOT / "runbooks")


@pytest.fixture(scope="module")
def ruleset(catalog: Catalog) -> RuleSet:
    return catalog.ruleset.with_risk_tiers(REGISTRY)


def alert(
    alertname: str, severity: str = "warning", model: str | None = "fraud-scorer", **more: str
) -> dict[str, str]:
    """Labels as the example Prometheus rules set them (model omitted when None)."""
    labels = {"alertname": alertname, "severity": severity, "team": "ml-platform", **more}
    if model is not None:
        labels["model"] = model
    return labels


def example_alerts() -> list[tuple[dict[str, str], str]]:
    """Every alerting rule of the example file: its labels and the runbook id its runbook_url names."""
    out = []
    for group in yaml.safe_load(EXAMPLES.read_text(encoding="utf-8"))["groups"]:
        for rule in group["rules"]:
            by = {name: value for name, value in BY_LABELS.items() if name in rule["expr"]}
            labels = {"alertname": rule["alert"], **by, **rule["labels"]}
            out.append((labels, rule["annotations"]["runbook_url"].rsplit("/", 1)[1]))
    return out


EXAMPLE_ALERTS = example_alerts()


# Every example alert is classified, with the runbook its annotation names


@pytest.mark.parametrize(
    ("labels", "runbook"),
    EXAMPLE_ALERTS,
    ids=[f"{a['alertname']}-{a['severity']}" for a, _ in EXAMPLE_ALERTS],
)
def test_every_example_alert_has_a_rule_and_its_runbook(
    ruleset: RuleSet, labels: dict[str, str], runbook: str
) -> None:
    result = ruleset.classify(labels)

    assert result.rule != UNCLASSIFIED
    assert result.runbook == runbook
    assert result.missing_labels == ()


def test_every_shipped_rule_is_reached_by_an_example_alert(ruleset: RuleSet) -> None:
    reached = {ruleset.classify(labels).rule for labels, _ in EXAMPLE_ALERTS}
    assert reached == {rule.name for rule in ruleset.rules}


# Rule, type and severity of realistic alerts (on a minimal-risk model; runbooks are checked above)

PD, TF, FV = "performance_degradation", "technical_failure", "fairness_violation"
CASES: list[tuple[dict[str, str], str, str, str]] = [
    # Model quality
    (alert("ModelAccuracyDrop", "critical"), "accuracy-drop", PD, "SEV2"),
    (alert("FeatureDrift", "critical", feature="tenure"), "feature-drift-critical", PD, "SEV2"),
    (alert("FeatureDrift", feature="tenure"), "feature-drift", PD, "SEV4"),
    (alert("PredictionDrift", "critical"), "prediction-drift-critical", PD, "SEV2"),
    (alert("PredictionDrift"), "prediction-drift", PD, "SEV3"),
    (
        alert("TrainingServingSkew", "critical", feature="tenure"),
        "training-serving-skew-critical",
        PD,
        "SEV2",
    ),
    (alert("TrainingServingSkew", feature="tenure"), "training-serving-skew", PD, "SEV3"),
    # Data pipelines and labels
    (alert("DataPipelineFailed", pipeline="features-daily"), "data-pipeline-failed", TF, "SEV3"),
    (
        alert("DataPipelineStale", "critical", pipeline="features-daily"),
        "data-pipeline-stale-critical",
        TF,
        "SEV2",
    ),
    (alert("DataPipelineStale", pipeline="features-daily"), "data-pipeline-stale", TF, "SEV3"),
    (alert("GroundTruthLabelsMissing", "critical"), "missing-ground-truth-critical", TF, "SEV3"),
    (alert("GroundTruthLabelDelayHigh"), "missing-ground-truth", TF, "SEV4"),
    # Serving and vendors: a critical outage is SEV1, in-house or not
    (alert("ModelServingErrors", "critical"), "model-serving-errors-critical", TF, "SEV1"),
    (alert("ModelServingErrors"), "model-serving-errors", TF, "SEV3"),
    (alert("ModelServingLatencyHigh"), "model-serving-latency", TF, "SEV3"),
    (
        alert("ThirdPartyModelAPIErrors", "critical", provider="acme"),
        "third-party-model-api-errors-critical",
        TF,
        "SEV1",
    ),
    (alert("ThirdPartyModelAPIErrors", provider="acme"), "third-party-model-api-errors", TF, "SEV3"),
    (alert("VendorModelVersionChanged", provider="acme"), "vendor-model-change", PD, "SEV3"),
    (
        alert("VendorModelEvalRegression", "critical", provider="acme"),
        "vendor-model-change-critical",
        PD,
        "SEV2",
    ),
    # Responsible AI
    (alert("DemographicParityGap", group="age"), "fairness", FV, "SEV2"),
    (alert("FairnessViolation", group="age"), "fairness", FV, "SEV2"),
    (alert("DisparateImpactRatioLow", group="age"), "fairness", FV, "SEV2"),
    (alert("DisparateImpactRatioLow", "critical", group="age"), "fairness-critical", FV, "SEV1"),
    (alert("HarmfulOutputRate", "critical"), "harmful-output-rate", "safety", "SEV1"),
    (alert("ProhibitedUseDetected", "critical"), "prohibited-use-or-consent", "ethical", "SEV1"),
    (alert("ConsentViolation", "critical"), "prohibited-use-or-consent", "ethical", "SEV1"),
    # Generative AI
    (alert("LLMHallucinationRate", "critical", "support-chat"), "llm-hallucination-critical", PD, "SEV2"),
    (alert("LLMHallucinationRate", model="support-chat"), "llm-hallucination", PD, "SEV3"),
    (alert("LLMGroundednessLow", model="support-chat"), "llm-hallucination", PD, "SEV3"),
    (
        alert("PromptInjectionDetected", "critical", "support-chat"),
        "prompt-injection-critical",
        "safety",
        "SEV2",
    ),
    (alert("JailbreakAttemptsHigh", model="support-chat"), "prompt-injection", "safety", "SEV3"),
    (alert("PIIInModelOutput", "critical", "support-chat"), "pii-leakage-critical", "ethical", "SEV1"),
    (alert("ModelOutputPIIRate", model="support-chat"), "pii-leakage", "ethical", "SEV2"),
]


@pytest.mark.parametrize(("labels", "rule", "type_", "severity"), CASES, ids=[c[1] for c in CASES])
def test_shipped_classification(
    ruleset: RuleSet, labels: dict[str, str], rule: str, type_: str, severity: str
) -> None:
    result = ruleset.classify(labels)
    assert (result.rule, result.type, result.severity) == (rule, type_, severity)
    assert result.raised is None  # none of these models is high-risk
    assert result.missing_labels == ()


def test_captured_webhooks_classify_as_expected(ruleset: RuleSet) -> None:
    seen: dict[tuple[str, str], tuple[str, str, str]] = {}
    for request in load_fixture_requests():
        for item in request["body"]["alerts"]:
            result = ruleset.classify(item["labels"])
            seen[item["labels"]["alertname"], item["labels"].get("instance", "")] = (
                result.rule,
                result.severity,
                result.key,
            )

    assert seen["FeatureDrift", ""][:2] == ("feature-drift", "SEV4")
    assert seen["ModelAccuracyDrop", "a"][:2] == ("accuracy-drop", "SEV2")
    assert seen["ModelAccuracyDrop", "a"][2] == seen["ModelAccuracyDrop", "b"][2]  # one incident, two series


@pytest.mark.parametrize("type_", ["fairness_violation", "safety", "ethical"])
def test_responsible_ai_incidents_stay_open_for_a_person(ruleset: RuleSet, type_: str) -> None:
    rules = [rule for rule in ruleset.rules if rule.type == type_]
    assert rules
    for rule in rules:
        assert rule.auto_resolve is False, rule.name
        assert "model" in rule.required_labels, rule.name


def test_every_shipped_rule_gives_an_impact_and_a_description(ruleset: RuleSet) -> None:
    for rule in ruleset.rules:
        assert rule.impact is not None, (
            f"{rule.name}: give an impact so the model's risk tier can weigh on it"
        )
        assert rule.description.strip(), rule.name


# Grouping: which alerts share an incident


FAIRNESS_FAMILY = [
    alert("DemographicParityGap", group="age"),
    alert("FairnessViolation", group="age"),  # equalized odds
    alert("DisparateImpactRatioLow", group="age"),
    alert("DisparateImpactRatioLow", "critical", group="sex"),
    alert("FairnessViolation", group="ethnicity"),
]


def test_one_models_fairness_alerts_share_one_incident_at_the_worst_severity(ruleset: RuleSet) -> None:
    results = [ruleset.classify(labels) for labels in FAIRNESS_FAMILY]

    assert {r.key for r in results} == {'fairness:{model="fraud-scorer"}'}
    assert {r.type for r in results} == {"fairness_violation"}
    assert sorted(r.severity for r in results)[0] == "SEV1"  # the incident takes the worst


def test_two_models_fairness_alerts_are_two_incidents(ruleset: RuleSet) -> None:
    first = ruleset.classify(alert("DemographicParityGap", group="age", model="fraud-scorer"))
    second = ruleset.classify(alert("FairnessViolation", group="age", model="credit-scorer"))
    assert first.key != second.key
    assert second.key == 'fairness:{model="credit-scorer"}'


@pytest.mark.parametrize(
    "pair",
    [
        (
            alert("DataPipelineFailed", pipeline="p", model="a"),
            alert("DataPipelineStale", "critical", pipeline="p", model="b"),
        ),
        (
            alert("ThirdPartyModelAPIErrors", provider="acme-ai", model="a"),
            alert("ThirdPartyModelAPIErrors", "critical", provider="acme-ai", model="b"),
        ),
        (alert("LLMGroundednessLow"), alert("LLMHallucinationRate", "critical")),
        (alert("GroundTruthLabelDelayHigh"), alert("GroundTruthLabelsMissing", "critical")),
        (alert("JailbreakAttemptsHigh"), alert("PromptInjectionDetected", "critical")),
        (alert("ModelOutputPIIRate"), alert("PIIInModelOutput", "critical")),
        (
            alert("VendorModelVersionChanged", provider="acme-ai"),
            alert("VendorModelEvalRegression", "critical", provider="acme-ai"),
        ),
        (alert("FeatureDrift", feature="age"), alert("FeatureDrift", "critical", feature="income")),
        (alert("ModelServingErrors"), alert("ModelServingErrors", "critical")),
    ],
    ids=lambda pair: pair[1]["alertname"],
)
def test_one_problem_is_one_incident(ruleset: RuleSet, pair: tuple[dict[str, str], dict[str, str]]) -> None:
    milder, worse = (ruleset.classify(labels) for labels in pair)
    assert milder.key == worse.key
    assert milder.rule != worse.rule  # the critical rule raises the open incident in place


@pytest.mark.parametrize(
    "pair",
    [
        (alert("DataPipelineFailed", pipeline="p"), alert("DataPipelineFailed", pipeline="q")),
        (
            alert("ThirdPartyModelAPIErrors", provider="acme-ai"),
            alert("ThirdPartyModelAPIErrors", provider="other-ai"),
        ),
        (alert("ModelServingErrors"), alert("ModelServingLatencyHigh")),
        (
            alert("HarmfulOutputRate", "critical"),
            alert("HarmfulOutputRate", "critical", model="support-chat"),
        ),
        (
            alert("VendorModelVersionChanged", provider="acme-ai", model="a"),
            alert("VendorModelVersionChanged", provider="acme-ai", model="b"),
        ),
    ],
    ids=lambda pair: pair[1]["alertname"],
)
def test_different_problems_are_different_incidents(
    ruleset: RuleSet, pair: tuple[dict[str, str], dict[str, str]]
) -> None:
    first, second = (ruleset.classify(labels) for labels in pair)
    assert first.key != second.key


# A responsible-AI signal without a `model` label is never noise


@pytest.mark.parametrize(
    ("labels", "rule", "type_", "severity"),
    [
        (alert("FairnessViolation", model=None, group="age"), "fairness", "fairness_violation", "SEV2"),
        (alert("DemographicParityGap", model=None), "fairness", "fairness_violation", "SEV2"),
        (
            alert("DisparateImpactRatioLow", "critical", model=None),
            "fairness-critical",
            "fairness_violation",
            "SEV1",
        ),
        (alert("FairnessViolation", model="", group="age"), "fairness", "fairness_violation", "SEV2"),
        (alert("HarmfulOutputRate", "critical", model=None), "harmful-output-rate", "safety", "SEV1"),
        (
            alert("ProhibitedUseDetected", "critical", model=None),
            "prohibited-use-or-consent",
            "ethical",
            "SEV1",
        ),
        (alert("ConsentViolation", "critical", model=None), "prohibited-use-or-consent", "ethical", "SEV1"),
        (
            alert("PromptInjectionDetected", "critical", model=None),
            "prompt-injection-critical",
            "safety",
            "SEV2",
        ),
        (alert("PIIInModelOutput", "critical", model=None), "pii-leakage-critical", "ethical", "SEV1"),
    ],
    ids=lambda v: v["alertname"] if isinstance(v, dict) else None,
)
def test_responsible_ai_alert_without_model_is_classified_and_flagged(
    ruleset: RuleSet, labels: dict[str, str], rule: str, type_: str, severity: str
) -> None:
    result = ruleset.classify(labels)

    assert (result.rule, result.type, result.severity) == (rule, type_, severity)
    assert result.auto_resolve is False
    assert result.missing_labels == ("model",)
    assert result.notes()[0] == ("labels_missing", MISSING_MODEL, {"missing_labels": ["model"]})


# The registry's risk tier raises harm


def test_shipped_tier_raise_is_the_default(catalog: Catalog) -> None:
    assert catalog.ruleset.harm_by_risk_tier == harm_raises(DEFAULT_HARM_BY_RISK_TIER)
    assert catalog.ruleset.risk_tiers == {m.id: m.risk_tier for m in catalog.oncall.models.values()}


def test_a_high_risk_models_fairness_alert_is_worse_than_a_sandbox_models(ruleset: RuleSet) -> None:
    high = ruleset.classify(alert("FairnessViolation", group="age", model="credit-scorer"))
    sandbox = ruleset.classify(alert("FairnessViolation", group="age", model="sandbox-ranker"))

    assert (high.severity, sandbox.severity) == ("SEV1", "SEV2")
    assert high.raised is not None and "risk tier is high" in high.raised
    assert sandbox.raised is None
    assert ("severity_by_risk_tier", high.raised, {"severity": "SEV1"}) in high.notes()


@pytest.mark.parametrize(
    ("labels", "sandbox", "high_risk"),
    [
        (alert("ModelAccuracyDrop", "critical"), "SEV2", "SEV1"),
        (alert("FeatureDrift"), "SEV4", "SEV3"),
        (alert("PredictionDrift"), "SEV3", "SEV3"),
        (alert("DataPipelineStale", "critical", pipeline="p"), "SEV2", "SEV1"),
        (alert("GroundTruthLabelDelayHigh"), "SEV4", "SEV3"),
        (alert("ModelServingErrors", "critical"), "SEV1", "SEV1"),
        (alert("LLMHallucinationRate"), "SEV3", "SEV2"),
        (alert("ModelOutputPIIRate"), "SEV2", "SEV1"),
        (alert("JailbreakAttemptsHigh"), "SEV3", "SEV2"),
    ],
    ids=lambda v: v["alertname"] if isinstance(v, dict) else None,
)
def test_risk_tier_severities(ruleset: RuleSet, labels: dict[str, str], sandbox: str, high_risk: str) -> None:
    def severity(model: str) -> str:
        return ruleset.classify({**labels, "model": model}).severity

    assert (severity("sandbox-ranker"), severity("credit-scorer")) == (sandbox, high_risk)
    assert severity("support-chat") == sandbox  # limited risk: no raise by default
    assert severity("not-in-the-registry") == sandbox
