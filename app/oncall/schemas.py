"""The on-call file's shape: people, rotations, escalation policies, models, teams."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from app.durations import parse_duration
from app.oncall.hours import parse_working_hours
from app.vocabulary import ModelRole, RiskTier, Severity, Urgency

ID = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$", max_length=120)]


def _any_urgency() -> list[Urgency]:
    return ["high", "low"]


def _high_only() -> list[Urgency]:
    return ["high"]  # a phone call at 3 a.m. only for what is urgent


def _top_severities() -> list[Severity]:
    return ["SEV1", "SEV2"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmailContact(Strict):
    type: Literal["email"]
    address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    urgency: list[Urgency] = Field(default_factory=_any_urgency)


class WebhookContact(Strict):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret: str | None = None  # HMAC key of the signatures; the install's webhook key when unset
    urgency: list[Urgency] = Field(default_factory=_any_urgency)


class SlackContact(Strict):
    type: Literal["slack"]
    webhook_url: str = Field(pattern=r"^https?://")
    urgency: list[Urgency] = Field(default_factory=_any_urgency)


class PagerDutyContact(Strict):
    type: Literal["pagerduty"]
    routing_key: str = Field(min_length=32, max_length=32)
    urgency: list[Urgency] = Field(default_factory=_high_only)


class LogContact(Strict):
    """The page is written to the service's own log: for a first run and development (its
    links act on the incident, so whoever reads the log may act)."""

    type: Literal["log"]
    urgency: list[Urgency] = Field(default_factory=_any_urgency)


Contact = Annotated[
    EmailContact | WebhookContact | SlackContact | PagerDutyContact | LogContact,
    Field(discriminator="type"),
]


class PersonSpec(Strict):
    id: ID
    name: str = ""
    timezone: str = "UTC"
    contact: list[Contact] = Field(min_length=1)


class OverrideSpec(Strict):
    person: ID
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> OverrideSpec:
        if self.end <= self.start:
            raise ValueError("override end must be after its start")
        return self


class RotationSpec(Strict):
    id: ID
    members: list[ID] = Field(min_length=1)
    shift: str = "weekly"  # daily, weekly, or a duration such as 12h
    handoff: str | None = None  # "Mon 09:00" (weekly), "09:00" (daily); unused for durations
    timezone: str = "UTC"
    start: AwareDatetime | None = None  # when the first member's first shift begins
    overrides: list[OverrideSpec] = Field(default_factory=list)

    @field_validator("shift")
    @classmethod
    def _shift(cls, value: str) -> str:
        if value not in ("daily", "weekly") and parse_duration(value).total_seconds() < 60:
            raise ValueError("shift must be daily, weekly or a duration of at least 1m")
        return value


class StepSpec(Strict):
    notify: list[str] = Field(min_length=1)
    after: str = "0m"

    @field_validator("after")
    @classmethod
    def _after(cls, value: str) -> str:
        parse_duration(value)
        return value


class LowUrgencySpec(Strict):
    """How a policy pages for severities outside `paging.high_urgency`."""

    escalate: bool = False  # false: the first step only, no later steps and no repeats
    # "Mon-Fri 09:00-18:00": pages wait until then, in each person's own time zone.
    working_hours: str | None = None

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_working_hours(value)
        return value


class PolicySpec(Strict):
    id: ID
    steps: list[StepSpec] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=20)
    repeat_delay: str = "10m"
    # Unset: low-urgency incidents escalate as high-urgency ones do (only their contacts differ).
    low_urgency: LowUrgencySpec | None = None

    @field_validator("repeat_delay")
    @classmethod
    def _delay(cls, value: str) -> str:
        if parse_duration(value).total_seconds() < 60:
            raise ValueError("repeat_delay must be at least 1m")
        return value


class ModelSpec(Strict):
    id: ID
    owner: ID | None = None
    team: ID | None = None
    escalation_policy: ID | None = None
    tier: Literal["production", "staging", "development", "experimental"] = "production"
    description: str = ""
    # In plain words, the decisions the model makes or shapes ("whether a loan application is
    # approved"): what a notice to affected people says was affected.
    decisions: str = ""
    # Registry facts the regulatory clocks read (app/incidents/obligations.py).
    risk_tier: RiskTier = "minimal"
    role: ModelRole = "provider"


class TeamSpec(Strict):
    id: ID
    name: str = ""
    fallback: list[Contact] = Field(default_factory=list)


class PagingSpec(Strict):
    high_urgency: list[Severity] = Field(default_factory=_top_severities)
