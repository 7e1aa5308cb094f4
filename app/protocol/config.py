"""The `communications:` section of the rules directory: who is told what, by when, and which
regulatory reports an organisation tracks beyond the shipped ones.

```yaml
communications:
  contact: "the model risk desk, ai-incidents@example.org"   # whom affected people may contact
  audiences:
    ml-lead: {people: [maria]}                 # internal: sent through the paging channels
    support: {teams: [ml-platform]}
    affected-users: {channel: "letter or e-mail from the customer team"}   # external: by hand
    regulator: {channel: "market surveillance authority portal"}
  policies:
    - name: fairness
      when: {types: [fairness_violation]}
      notify:
        - {audience: responsible-ai, within: 1h, from: opened}
        - audience: affected-users
          within: 72h
          from: aware
          holding: {template: affected-users-holding, within: 24h}
  regimes: []                                   # organisation-defined clocks (NIS2, DORA, ...)
```

Parsed here, below the catalog; app/communications applies it and app/incidents/obligations.py
runs the regimes' clocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.protocol.period import Period, parse_period
from app.sections import Merged, SectionKind, format_error
from app.vocabulary import ANCHORS, Anchor, HarmDomain, HarmLevel, IncidentType, RiskTier, Severity

SECTIONS: dict[str, SectionKind] = {"communications": "single"}

# Audiences outside the organisation: a person always approves what they are told.
EXTERNAL_BY_DEFAULT = frozenset({"affected-users", "regulator"})
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
PREVIOUS = "previous"  # a regime stage counting from the previous stage's first report


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AudienceSpec(Strict):
    name: str = ""  # how people call it ("Responsible AI board"); the id when empty
    people: list[str] = Field(default_factory=list)  # on-call people: their paging contacts
    teams: list[str] = Field(default_factory=list)  # teams: their fallback contacts
    channel: str = Field(default="", max_length=200)  # how it goes out otherwise ("letter", "portal")
    external: bool | None = None  # default: true for affected-users and regulator

    @model_validator(mode="after")
    def _somewhere(self) -> AudienceSpec:
        if not (self.people or self.teams or self.channel):
            raise ValueError("an audience needs `people`, `teams` or a `channel` (how it is reached)")
        return self


class Condition(Strict):
    """Which incidents a policy or regime applies to: every list given must contain the fact."""

    types: list[IncidentType] = Field(default_factory=list)
    severities: list[Severity] = Field(default_factory=list)
    harm_levels: list[HarmLevel] = Field(default_factory=list)
    harm_domains: list[HarmDomain] = Field(default_factory=list)
    risk_tiers: list[RiskTier] = Field(default_factory=list)
    personal_data_breach: bool | None = None
    moments: list[str] = Field(default_factory=list)  # moments a person recorded (all of them)


class HoldingSpec(Strict):
    template: str
    within: str

    @field_validator("within")
    @classmethod
    def _within(cls, value: str) -> str:
        parse_period(value)
        return value


class NotifySpec(Strict):
    audience: str
    within: str = "0m"
    from_: Anchor = Field(default="opened", alias="from")
    template: str | None = None  # default: the audience id
    approval: bool | None = None  # default: false inside, always true outside
    every: str | None = None  # recurring updates while the policy applies
    holding: HoldingSpec | None = None

    @field_validator("within", "every")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if value is not None:
            parse_period(value)
        return value

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None:
            period = parse_period(value)
            if not period.months and period.delta.total_seconds() < 300:
                raise ValueError("updates come at most every 5m")
        return value


class PolicySpec(Strict):
    name: str = Field(pattern=ID_PATTERN)
    when: Condition = Field(default_factory=Condition)
    notify: list[NotifySpec] = Field(min_length=1)


class CapSpec(Strict):
    within: str
    from_: str = Field(default="aware", alias="from")

    @field_validator("within")
    @classmethod
    def _within(cls, value: str) -> str:
        parse_period(value)
        return value


class StageSpec(Strict):
    name: str = Field(pattern=ID_PATTERN)
    within: str
    from_: str = Field(default="aware", alias="from")  # aware, opened, a moment, or previous
    at_most: CapSpec | None = None  # and no later than this (DORA: 24 h after awareness)
    basis: str = ""

    @field_validator("within")
    @classmethod
    def _within(cls, value: str) -> str:
        parse_period(value)
        return value


class RegimeSpec(Strict):
    name: str = Field(pattern=ID_PATTERN)
    basis: str = Field(min_length=1)
    effective_from: date | None = None
    when: Condition = Field(default_factory=Condition)
    stages: list[StageSpec] = Field(min_length=1)


class CommunicationsSpec(Strict):
    contact: str = ""
    audiences: dict[str, AudienceSpec] = Field(default_factory=dict)
    policies: list[PolicySpec] = Field(default_factory=list)
    regimes: list[RegimeSpec] = Field(default_factory=list)

    @field_validator("audiences")
    @classmethod
    def _ids(cls, value: dict[str, AudienceSpec]) -> dict[str, AudienceSpec]:
        for audience_id in value:
            if not re.match(ID_PATTERN, audience_id):
                raise ValueError(
                    f"audience id {audience_id!r}: use lower-case letters, digits, `-`, `_`, `.`"
                )
        return value


@dataclass(frozen=True)
class Audience:
    id: str
    name: str
    people: tuple[str, ...]
    teams: tuple[str, ...]
    channel: str
    external: bool

    def describe_channel(self) -> str:
        """What the API shows as the channel: paging for people and teams, else the stated way."""
        if self.people or self.teams:
            return "paging"
        return self.channel


@dataclass(frozen=True)
class Notify:
    audience: str
    within: Period
    anchor: Anchor
    template: str
    approval: bool
    every: Period | None = None
    holding_template: str | None = None
    holding_within: Period | None = None


@dataclass(frozen=True)
class Policy:
    name: str
    when: Condition
    notify: tuple[Notify, ...]


@dataclass(frozen=True)
class Stage:
    name: str
    within: Period
    anchor: str
    basis: str = ""
    cap: tuple[Period, str] | None = None


@dataclass(frozen=True)
class RegimeDef:
    name: str
    basis: str
    when: Condition
    stages: tuple[Stage, ...]
    effective_from: date | None = None


@dataclass(frozen=True)
class CommunicationsConfig:
    contact: str = ""
    audiences: dict[str, Audience] = field(default_factory=dict)
    policies: tuple[Policy, ...] = ()
    regimes: tuple[RegimeDef, ...] = ()

    def snapshot(self) -> dict[str, Any]:
        return {
            "audiences": sorted(self.audiences),
            "policies": [p.name for p in self.policies],
            "regimes": [r.name for r in self.regimes],
        }

    def templates_used(self) -> set[str]:
        names = set()
        for policy in self.policies:
            for step in policy.notify:
                names.add(step.template)
                if step.holding_template:
                    names.add(step.holding_template)
        return names


def _audience(audience_id: str, spec: AudienceSpec) -> Audience:
    external = spec.external if spec.external is not None else audience_id in EXTERNAL_BY_DEFAULT
    return Audience(
        audience_id, spec.name or audience_id, tuple(spec.people), tuple(spec.teams), spec.channel, external
    )


def _notify(spec: NotifySpec, audience: Audience, where: str, problems: list[str]) -> Notify:
    if audience.external and spec.approval is False:
        problems.append(
            f"{where}: communications: notice to {audience.id!r} is outside the organisation: "
            "a person always approves it (`approval: false` is not allowed)"
        )
    approval = True if audience.external else bool(spec.approval)
    if spec.holding is not None and not approval:
        problems.append(
            f"{where}: communications: a holding statement only serves a notice that waits for approval"
        )
    return Notify(
        audience=spec.audience,
        within=parse_period(spec.within),
        anchor=spec.from_,
        template=spec.template or spec.audience,
        approval=approval,
        every=parse_period(spec.every) if spec.every else None,
        holding_template=spec.holding.template if spec.holding else None,
        holding_within=parse_period(spec.holding.within) if spec.holding else None,
    )


def _stage(spec: StageSpec, first: bool, regime: str, where: str, problems: list[str]) -> Stage:
    if spec.from_ == PREVIOUS and first:
        problems.append(f"{where}: communications: regime {regime!r}: the first stage has no previous stage")
    cap = (parse_period(spec.at_most.within), spec.at_most.from_) if spec.at_most else None
    return Stage(spec.name, parse_period(spec.within), spec.from_, spec.basis, cap)


def _check_people(
    spec: CommunicationsSpec, people: set[str], teams: set[str], where: str, problems: list[str]
) -> None:
    for audience_id, audience in spec.audiences.items():
        for person in audience.people:
            if person not in people:
                problems.append(
                    f"{where}: communications: audience {audience_id!r}: unknown person {person!r}"
                )
        for team in audience.teams:
            if team not in teams:
                problems.append(f"{where}: communications: audience {audience_id!r}: unknown team {team!r}")


def _build(
    spec: CommunicationsSpec, where: str, people: set[str], teams: set[str], problems: list[str]
) -> CommunicationsConfig:
    _check_people(spec, people, teams, where, problems)
    audiences = {a: _audience(a, s) for a, s in spec.audiences.items()}
    policies = []
    for policy in spec.policies:
        steps = []
        for step in policy.notify:
            audience = audiences.get(step.audience)
            if audience is None:
                problems.append(
                    f"{where}: communications: policy {policy.name!r}: unknown audience {step.audience!r}"
                )
                continue
            steps.append(_notify(step, audience, where, problems))
        policies.append(Policy(policy.name, policy.when, tuple(steps)))
    regimes = []
    for regime in spec.regimes:
        stages = tuple(_stage(s, i == 0, regime.name, where, problems) for i, s in enumerate(regime.stages))
        regimes.append(RegimeDef(regime.name, regime.basis, regime.when, stages, regime.effective_from))
    _check_unique([p.name for p in policies], "policy", where, problems)
    _check_unique([r.name for r in regimes], "regime", where, problems)
    return CommunicationsConfig(spec.contact, audiences, tuple(policies), tuple(regimes))


def _check_unique(names: list[str], what: str, where: str, problems: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.append(f"{where}: communications: {what} {name!r} is defined twice")
        seen.add(name)


def parse_communications(
    merged: Merged, people: set[str], teams: set[str], problems: list[str]
) -> CommunicationsConfig:
    """Validate the `communications:` section against the on-call people and teams it names."""
    config = CommunicationsConfig()
    for item in merged.get("communications", []):
        value = {} if item.value is None else item.value
        try:
            spec = CommunicationsSpec.model_validate(value)
        except ValidationError as exc:
            problems.extend(format_error(item.where, "communications", exc))
            continue
        config = _build(spec, item.where, people, teams, problems)
    return config


__all__ = ["ANCHORS", "PREVIOUS", "CommunicationsConfig", "parse_communications"]
