"""The pure rules engine: classify an alert's labels into type, severity, key and runbook.

No I/O here: a RuleSet is built by the loader and then only read, by any number of threads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    severity_matrix: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_SEVERITY_MATRIX)

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
        """Classify one alert; an alert no rule matches is `unclassified`, never dropped."""
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
        return Classification(
            rule=rule.name,
            type=rule.type,
            severity=self.severity_of(rule),
            key=key,
            group_labels=group,
            runbook=rule.runbook,
            auto_resolve=rule.auto_resolve,
            reopen_window=rule.reopen_window,
            harm=rule.harm,
        )
