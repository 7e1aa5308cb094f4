"""The pure rules engine: classify an alert's labels into type, severity, key and runbook.

No I/O here: a RuleSet is built by the loader and then only read, by any number of threads.
The model registry's risk tiers are handed in as a plain mapping (model id -> risk tier).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from app.rules.matchers import Matcher
from app.vocabulary import INCIDENT_TYPES, SEVERITIES, UNCLASSIFIED

__all__ = ["INCIDENT_TYPES", "SEVERITIES", "UNCLASSIFIED"]
IMPACT_LEVELS = ("low", "medium", "high", "critical")
DEFAULT_GROUP_BY = ("alertname", "model")
DEFAULT_REOPEN_WINDOW = timedelta(hours=1)
MAX_KEY_LENGTH = 400

# Rows: technical impact; columns: harm impact. Harm weighs at least as much as technical
# impact: a model that hurts people is urgent even when it is technically healthy.
DEFAULT_SEVERITY_MATRIX: dict[str, dict[str, str]] = {
    "low": {"low": "SEV4", "medium": "SEV3", "high": "SEV2", "critical": "SEV1"},
    "medium": {"low": "SEV3", "medium": "SEV3", "high": "SEV2", "critical": "SEV1"},
    "high": {"low": "SEV3", "medium": "SEV2", "high": "SEV1", "critical": "SEV1"},
    "critical": {"low": "SEV2", "medium": "SEV1", "high": "SEV1", "critical": "SEV1"},
}

# Unclassified alerts take their severity from the alert's own `severity` label.
LABEL_SEVERITY = {
    "critical": "SEV2",
    "page": "SEV2",
    "high": "SEV2",
    "error": "SEV3",
    "major": "SEV3",
    "warning": "SEV3",
    "medium": "SEV3",
    "minor": "SEV4",
    "low": "SEV4",
    "info": "SEV4",
}
DEFAULT_UNCLASSIFIED_SEVERITY = "SEV3"

# How a model's registry risk tier (the on-call file's `risk_tier`) weighs on the harm axis of
# rules with an impact: a number raises harm by that many levels, a level is a floor. The same
# fairness gap hurts more people, and more seriously, in a high-risk system (EU AI Act Annex III:
# credit, hiring, ...) than in a minimal-risk one.
DEFAULT_HARM_BY_RISK_TIER: dict[str, int | str] = {"high": 1}


def harm_raises(by_tier: Mapping[str, int | str]) -> dict[str, dict[str, str]]:
    """Risk tier -> harm level -> the harm level it becomes (a step or a floor; never lower)."""
    top = len(IMPACT_LEVELS) - 1
    raises: dict[str, dict[str, str]] = {}
    for tier, how in by_tier.items():
        raises[tier] = {}
        for i, level in enumerate(IMPACT_LEVELS):
            to = max(i, IMPACT_LEVELS.index(how)) if isinstance(how, str) else min(top, i + how)
            raises[tier][level] = IMPACT_LEVELS[to]
    return raises


def missing_labels_note(missing: Sequence[str]) -> str:
    """The timeline line of an incident opened from an alert lacking labels its rule requires."""
    names = ", ".join(f"`{name}`" for name in missing)
    note = f"alert has no {names} label{'s' if len(missing) > 1 else ''}"
    if "model" in missing:
        note += ": owner unknown, the default escalation policy pages"
    return note


def worst_severity(a: str, b: str) -> str:
    """The more severe of two severities (SEV1 beats SEV4)."""
    return a if SEVERITIES.index(a) <= SEVERITIES.index(b) else b


@dataclass(frozen=True)
class Impact:
    technical: str
    harm: str


@dataclass(frozen=True)
class InitialHarm:
    """The harm assessment a rule starts its incidents with (a person revises it later)."""

    level: str
    domains: tuple[str, ...] = ()
    causal_link: str = "suspected"
    risk_tiers: tuple[str, ...] = ()  # only for models of these registry tiers; empty: any model


@dataclass(frozen=True)
class Rule:
    name: str
    matchers: tuple[Matcher, ...]
    type: str
    severity: str | None = None
    impact: Impact | None = None
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    runbook: str | None = None
    auto_resolve: bool = True
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW
    description: str = ""
    source: str = ""
    group_with: str | None = None  # share incidents with this rule (its name goes in the key)
    harm: InitialHarm | None = None
    required_labels: tuple[str, ...] = ()  # still classified without them, but flagged

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True)
class Classification:
    rule: str
    type: str
    severity: str
    key: str
    group_labels: dict[str, str]
    runbook: str | None
    auto_resolve: bool
    reopen_window: timedelta
    harm: InitialHarm | None = None
    missing_labels: tuple[str, ...] = ()  # required by the rule, absent or empty in the alert
    raised: str | None = None  # why the model's risk tier made the severity worse than the rule's

    def notes(self) -> list[tuple[str, str, dict[str, object]]]:
        """Timeline lines (kind, message, data) an incident opened by this alert starts with."""
        out: list[tuple[str, str, dict[str, object]]] = []
        if self.missing_labels:
            data: dict[str, object] = {"missing_labels": list(self.missing_labels)}
            out.append(("labels_missing", missing_labels_note(self.missing_labels), data))
        if self.raised:
            out.append(("severity_by_risk_tier", self.raised, {"severity": self.severity}))
        return out


def _escape(value: str) -> str:
    """Label values quoted as Prometheus prints them, so no two groups share a key."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def incident_key(rule: str, group_by: Sequence[str], labels: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The dedup key: the rule name plus the values of its group_by labels."""
    group = {name: labels.get(name, "") for name in group_by}
    body = ",".join(f'{name}="{_escape(value)}"' for name, value in sorted(group.items()))
    key = f"{rule}:{{{body}}}"
    if len(key) > MAX_KEY_LENGTH:
        key = f"{rule}:sha256:{hashlib.sha256(body.encode()).hexdigest()}"
    return key, group


CLASSIFIED_KEPT = 16_384  # label sets whose classification a rule set remembers


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    severity_matrix: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_SEVERITY_MATRIX)
    # Risk tier -> harm level -> raised harm level (see harm_raises).
    harm_by_risk_tier: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: harm_raises(DEFAULT_HARM_BY_RISK_TIER)
    )
    # Model id -> registry risk tier, handed in by the catalog from the on-call file's models.
    risk_tiers: Mapping[str, str] = field(default_factory=dict)
    # (rule name, risk tier) -> (severity, why) where the tier makes the severity worse: worked
    # out once here so classifying stays a dict lookup.
    _raised: dict[tuple[str, str], tuple[str, str]] = field(init=False, repr=False, compare=False)
    # Label sets seen lately -> their classification. Alertmanager repeats the same alerts every
    # group_interval, so most alerts were classified before; the rules never change in a set.
    _seen: dict[tuple[tuple[str, str], ...], Classification] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        raised: dict[tuple[str, str], tuple[str, str]] = {}
        for rule in self.rules:
            if rule.impact is None:
                continue
            technical, harm = rule.impact.technical, rule.impact.harm
            base = self.severity_matrix[technical][harm]
            for tier, raises in self.harm_by_risk_tier.items():
                severity = self.severity_matrix[technical][raises[harm]]
                if severity != base:
                    why = (
                        f"{severity}, not {base}: the model's risk tier is {tier}, which raises "
                        f"harm from {harm} to {raises[harm]} (harm_by_risk_tier)"
                    )
                    raised[(rule.name, tier)] = (severity, why)
        object.__setattr__(self, "_raised", raised)

    def with_risk_tiers(self, risk_tiers: Mapping[str, str]) -> RuleSet:
        """The same rules, knowing each registered model's risk tier (model id -> tier)."""
        return replace(self, risk_tiers=dict(risk_tiers))

    def severity_of(self, rule: Rule) -> str:
        if rule.severity is not None:
            return rule.severity
        assert rule.impact is not None
        return self.severity_matrix[rule.impact.technical][rule.impact.harm]

    def match(self, labels: Mapping[str, str]) -> Rule | None:
        """The first rule, in file-name then file order, whose matchers all match."""
        for rule in self.rules:
            if rule.matches(labels):
                return rule
        return None

    def classify(self, labels: Mapping[str, str]) -> Classification:
        """Classify one alert; an alert no rule matches is `unclassified`, never dropped.

        The answer depends on the labels alone, so it is remembered for the last few thousand
        label sets (a Classification is never changed by its users)."""
        seen = tuple(labels.items())
        found = self._seen.get(seen)
        if found is None:
            if len(self._seen) >= CLASSIFIED_KEPT:
                self._seen.clear()
            found = self._seen[seen] = self._classify(labels)
        return found

    def _classify(self, labels: Mapping[str, str]) -> Classification:
        rule = self.match(labels)
        if rule is None:
            key, group = incident_key(UNCLASSIFIED, DEFAULT_GROUP_BY, labels)
            severity = LABEL_SEVERITY.get(labels.get("severity", "").lower(), DEFAULT_UNCLASSIFIED_SEVERITY)
            return Classification(
                rule=UNCLASSIFIED,
                type=UNCLASSIFIED,
                severity=severity,
                key=key,
                group_labels=group,
                runbook=None,
                auto_resolve=True,
                reopen_window=DEFAULT_REOPEN_WINDOW,
            )
        key, group = incident_key(rule.group_with or rule.name, rule.group_by, labels)
        severity, raised = self.severity_of(rule), None
        tier = self.risk_tiers.get(labels.get("model", ""))
        if tier is not None and (rule.name, tier) in self._raised:
            severity, raised = self._raised[(rule.name, tier)]
        return Classification(
            rule=rule.name,
            type=rule.type,
            severity=severity,
            key=key,
            group_labels=group,
            runbook=rule.runbook,
            auto_resolve=rule.auto_resolve,
            reopen_window=rule.reopen_window,
            harm=rule.harm,
            missing_labels=tuple(name for name in rule.required_labels if not labels.get(name)),
            raised=raised,
        )
