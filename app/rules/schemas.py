"""The shape of rule files, as pydantic models that reject unknown keys."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.durations import parse_duration
from app.rules.engine import DEFAULT_GROUP_BY, IMPACT_LEVELS
from app.vocabulary import CausalLink, HarmDomain, HarmLevel, IncidentType, RiskTier, Severity

Level = Literal["low", "medium", "high", "critical"]
assert set(Level.__args__) == set(IMPACT_LEVELS)  # type: ignore[attr-defined]
LabelName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImpactSpec(Strict):
    technical: Level
    harm: Level


class InitialHarmSpec(Strict):
    """A suspected harm the incident starts with, e.g. a fairness alert on a high-risk model."""

    level: HarmLevel
    domains: list[HarmDomain] = Field(default_factory=list)
    causal_link: CausalLink = "suspected"
    risk_tiers: list[RiskTier] = Field(default_factory=list)


class RuleSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=120)
    matchers: list[str] = Field(default_factory=list)
    type: IncidentType
    severity: Severity | None = None
    impact: ImpactSpec | None = None
    group_by: list[str] = Field(default_factory=lambda: list(DEFAULT_GROUP_BY))
    runbook: str | None = None
    group_with: str | None = None
    auto_resolve: StrictBool = True
    reopen_window: str | int = "1h"
    description: str = ""
    harm: InitialHarmSpec | None = None
    required_labels: list[LabelName] = Field(default_factory=list)

    @field_validator("reopen_window")
    @classmethod
    def _duration(cls, value: str | int) -> str:
        parse_duration(value)
        return str(value)

    @field_validator("group_by", "required_labels")
    @classmethod
    def _once_each(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"{info.field_name} lists a label twice")
        return value

    @model_validator(mode="after")
    def _one_severity(self) -> RuleSpec:
        if (self.severity is None) == (self.impact is None):
            raise ValueError("give exactly one of `severity` or `impact`")
        return self


SeverityMatrixSpec = dict[Level, dict[Level, Severity]]
