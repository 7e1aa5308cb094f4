"""The rules' own sections of the rules directory: `rules`, `severity_matrix`, `harm_by_risk_tier`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, get_args

from pydantic import TypeAdapter, ValidationError

from app.durations import parse_duration
from app.rules.engine import (
    DEFAULT_HARM_BY_RISK_TIER,
    DEFAULT_SEVERITY_MATRIX,
    IMPACT_LEVELS,
    Impact,
    InitialHarm,
    Rule,
    RuleSet,
    harm_raises,
)
from app.rules.matchers import Matcher, MatcherError, parse_matchers
from app.rules.schemas import RuleSpec, SeverityMatrixSpec
from app.sections import Located, Merged, SectionKind, format_error
from app.vocabulary import RiskTier

RISK_TIERS: tuple[str, ...] = get_args(RiskTier)
SECTIONS: dict[str, SectionKind] = {
    "rules": "list",
    "severity_matrix": "single",
    "harm_by_risk_tier": "single",
}


def checked_matchers(raw: dict[str, Any], where: str, problems: list[str]) -> list[Matcher] | None:
    """The item's `matchers` (each entry one or more, as in Alertmanager); None after a problem."""
    matchers: list[Matcher] = []
    ok = True
    entries = raw.get("matchers")
    for text in entries if isinstance(entries, list) else []:
        try:
            matchers.extend(parse_matchers(text))
        except MatcherError as exc:
            problems.append(f"{where}: {exc}")
            ok = False
    return matchers if ok else None


def known(raw: dict[str, Any], key: str, names: Collection[str], where: str, problems: list[str]) -> bool:
    """False (and a problem) when the item names, under `key`, something that is not in `names`."""
    value = raw.get(key)
    if isinstance(value, str) and value not in names:
        problems.append(f"{where}: unknown {key.replace('_', ' ')} {value!r}")
        return False
    return True


def _build_rule(item: Located, runbooks: Collection[str], problems: list[str]) -> Rule | None:
    raw = item.value if isinstance(item.value, dict) else {}
    label = f"rule {raw['name']!r}" if raw.get("name") else "rule"
    # Matchers and runbook are checked even when other keys are wrong: report everything at once.
    matchers = checked_matchers(raw, f"{item.where}: {label}", problems)
    ok = matchers is not None
    ok = known(raw, "runbook", runbooks, f"{item.where}: {label}", problems) and ok
    try:
        spec = RuleSpec.model_validate(item.value)
    except ValidationError as exc:
        problems.extend(format_error(item.where, label, exc))
        return None
    if not ok:
        return None
    return Rule(
        name=spec.name,
        matchers=tuple(matchers or ()),
        type=spec.type,
        severity=spec.severity,
        impact=Impact(spec.impact.technical, spec.impact.harm) if spec.impact else None,
        group_by=tuple(spec.group_by),
        runbook=spec.runbook,
        auto_resolve=spec.auto_resolve,
        reopen_window=parse_duration(spec.reopen_window),
        description=spec.description,
        source=item.where,
        group_with=spec.group_with,
        harm=_initial_harm(spec),
        required_labels=tuple(spec.required_labels),
    )


def _initial_harm(spec: RuleSpec) -> InitialHarm | None:
    if spec.harm is None:
        return None
    h = spec.harm
    return InitialHarm(h.level, tuple(h.domains), h.causal_link, tuple(h.risk_tiers))


def _severity_matrix(items: list[Located], problems: list[str]) -> dict[str, dict[str, str]] | None:
    if not items:
        return None
    item = items[0]
    try:
        matrix = TypeAdapter(SeverityMatrixSpec).validate_python(item.value)
    except ValidationError as exc:
        problems.extend(format_error(item.where, "severity_matrix", exc))
        return None
    cells = {(str(t), str(h)) for t, row in matrix.items() for h in row}
    missing = [f"{t}/{h}" for t in IMPACT_LEVELS for h in IMPACT_LEVELS if (t, h) not in cells]
    if missing:
        problems.append(f"{item.where}: severity_matrix: missing cells {', '.join(missing)}")
        return None
    return {str(t): {str(h): str(s) for h, s in row.items()} for t, row in matrix.items()}


def _harm_by_risk_tier(items: list[Located], problems: list[str]) -> dict[str, dict[str, str]] | None:
    """The section as risk tier -> harm level -> raised level; None when absent or invalid."""
    if not items:
        return None
    item = items[0]
    if item.value is None:  # present but empty: no tier raises harm
        return {}
    if not isinstance(item.value, dict):
        problems.append(f"{item.where}: harm_by_risk_tier: must be a mapping such as {{high: 1}}")
        return None
    by_tier: dict[str, int | str] = {}
    for tier, how in item.value.items():
        if tier not in RISK_TIERS:
            known = ", ".join(RISK_TIERS)
            problems.append(f"{item.where}: harm_by_risk_tier: unknown risk tier {tier!r} (known: {known})")
        elif (type(how) is int and 0 <= how < len(IMPACT_LEVELS)) or how in IMPACT_LEVELS:
            by_tier[tier] = how
        else:
            levels = ", ".join(IMPACT_LEVELS)
            problems.append(
                f"{item.where}: harm_by_risk_tier: {tier}: {how!r} is neither a number of harm levels "
                f"to add (0-{len(IMPACT_LEVELS) - 1}) nor a harm level to raise to ({levels})"
            )
    if len(by_tier) != len(item.value):
        return None
    return harm_raises(by_tier)


def parse_rules(merged: Merged, runbooks: Collection[str], problems: list[str]) -> RuleSet:
    """Validate the rules (names unique, runbooks known, group_with resolvable) and the matrix."""
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for item in merged.get("rules", []):
        rule = _build_rule(item, runbooks, problems)
        if rule is None:
            continue
        if rule.name in seen:
            problems.append(f"{item.where}: duplicate rule name {rule.name!r} (first at {seen[rule.name]})")
            continue
        seen[rule.name] = item.where
        rules.append(rule)
    for rule in rules:
        if rule.group_with is not None and rule.group_with not in seen:
            unknown = rule.group_with
            problems.append(f"{rule.source}: rule {rule.name!r}: group_with names unknown rule {unknown!r}")
    matrix = _severity_matrix(merged.get("severity_matrix", []), problems)
    by_tier = _harm_by_risk_tier(merged.get("harm_by_risk_tier", []), problems)
    return RuleSet(
        tuple(rules),
        matrix if matrix is not None else DEFAULT_SEVERITY_MATRIX,
        by_tier if by_tier is not None else harm_raises(DEFAULT_HARM_BY_RISK_TIER),
    )
