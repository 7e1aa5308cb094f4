"""API schemas of incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from app.rules.schemas import Level
from app.text import MAX_DB_ID, StorableText
from app.vocabulary import (
    CausalLink,
    HarmDomain,
    HarmLevel,
    IncidentSource,
    IncidentType,
    LinkRelation,
    NoteKind,
    Severity,
)


class RunbookRef(BaseModel):
    id: str | None
    title: str | None
    url: str
    # Why this runbook, and the revision of its file then; absent on incidents opened before.
    reason: str | None = None
    revision: str | None = None


class IncidentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    rule: str
    status: str
    type: str
    severity: str
    title: str
    model: str | None
    labels: dict[str, str]
    alert_count: int
    firing_count: int
    flap_count: int
    runbook: RunbookRef | None
    owner: str | None
    team: str | None
    escalation_policy: str | None
    unowned: bool
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    last_alert_at: datetime
    updated_at: datetime
    source: str
    reported_by: str | None
    description: str
    impact_started_at: datetime | None
    contained_at: datetime | None
    contained_by: str | None
    lead: str | None
    comms_lead: str | None
    reviewer: str | None
    snoozed_until: datetime | None
    duplicate_of: int | None
    restricted: bool
    peak_severity: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    source: str
    first_seen_at: datetime
    last_seen_at: datetime
    receive_count: int


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any] | None
    starred: bool
    hidden: bool


class LinkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    incident_id: int
    other_id: int
    relation: str
    created_at: datetime
    created_by: str


MemberState = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="a two-letter country code")]


class HarmData(BaseModel):
    """What a harm assessment says (one version of it, as stored)."""

    model_config = ConfigDict(extra="forbid")

    level: HarmLevel
    domains: list[HarmDomain] = Field(default_factory=list, max_length=4)
    affected_groups: list[Annotated[StorableText, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50
    )
    persons_affected: int | None = Field(default=None, ge=0, le=2**53)
    personal_data_breach: bool = False
    death: bool = False
    widespread: bool = False
    member_states: list[MemberState] = Field(default_factory=list, max_length=60)
    causal_link: CausalLink = "suspected"


class HarmRead(HarmData):
    """One version of the harm assessment: what it says, who made it, when and why."""

    model_config = ConfigDict(extra="forbid")

    version: int
    aware_at: datetime = Field(description="when the organisation became aware of the harm")
    by: str
    reason: str
    at: datetime


class HarmHistory(BaseModel):
    items: list[HarmRead]


class EvidenceHold(BaseModel):
    """While a serious-incident report is owed, changes that would hamper the investigation wait."""

    active: bool
    message: str
    regimes: list[str]


NEXT_PAGE = "path of the page of older ones (GET it as is); null when there are none"


class IncidentDetail(IncidentRead):
    alerts: list[AlertRead] = Field(description="the most recent `alerts_limit` alerts, oldest first")
    alerts_total: int = Field(description="all alerts, those of duplicates folded into it too")
    alerts_next: str | None = Field(description=NEXT_PAGE)
    timeline: list[EventRead] = Field(description="the most recent `timeline_limit` entries, oldest first")
    timeline_total: int = Field(description="all entries, hidden ones too")
    timeline_next: str | None = Field(description=NEXT_PAGE)
    links: list[LinkRead] = []
    harm: HarmRead | None = None
    evidence_hold: EvidenceHold | None = None


class AlertPage(BaseModel):
    """A page of an incident's alerts, newest first."""

    items: list[AlertRead]
    next: str | None = Field(description=NEXT_PAGE)


class EventPage(BaseModel):
    """A page of an incident's timeline, newest first."""

    items: list[EventRead]
    next: str | None = Field(description=NEXT_PAGE)


class IncidentPage(BaseModel):
    items: list[IncidentRead]
    total: int
    limit: int
    offset: int


class ActionIn(BaseModel):
    """Who acts, and why."""

    model_config = ConfigDict(extra="forbid")

    by: StorableText = Field(min_length=1, max_length=200)
    note: StorableText = Field(default="", max_length=10_000)


class ActionResult(BaseModel):
    changed: bool
    incident: IncidentRead


# --- what people send while working an incident ---------------------------------------------

Actor = Annotated[StorableText, Field(min_length=1, max_length=200, description="who does it")]
Reason = Annotated[StorableText, Field(min_length=1, max_length=2_000)]
When = Annotated[AwareDatetime | None, Field(description="when it happened, if not now")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImpactIn(Strict):
    technical: Level
    harm: Level


class ReportIn(Strict):
    """An incident no alert caught: a user's report, a reviewer's finding, a vendor's notice."""

    title: StorableText = Field(min_length=1, max_length=500)
    type: IncidentType
    severity: Severity | None = None
    impact: ImpactIn | None = Field(default=None, description="severity from the technical x harm matrix")
    model: StorableText | None = Field(default=None, min_length=1, max_length=200)
    description: StorableText = Field(default="", max_length=20_000)
    labels: dict[StorableText, StorableText] = Field(default_factory=dict, max_length=50)
    reported_by: Actor
    source: IncidentSource = "user_report"
    impact_started_at: When = None

    @model_validator(mode="after")
    def _one_severity(self) -> ReportIn:
        if (self.severity is None) == (self.impact is None):
            raise ValueError("give either `severity` or `impact`, not both and not neither")
        return self


class NoteIn(Strict):
    by: Actor
    text: StorableText = Field(min_length=1, max_length=10_000)
    kind: NoteKind = "note"
    rationale: StorableText = Field(default="", max_length=10_000, description="for a decision: why")
    at: When = None


class ContainIn(Strict):
    by: Actor
    note: StorableText = Field(
        default="", max_length=10_000, description="rolled back, disabled, constrained..."
    )
    at: When = None


class ReclassifyIn(Strict):
    by: Actor
    reason: Reason
    type: IncidentType | None = None
    severity: Severity | None = None

    @model_validator(mode="after")
    def _something(self) -> ReclassifyIn:
        if self.type is None and self.severity is None:
            raise ValueError("give `type`, `severity` or both")
        return self


class ReassignIn(Strict):
    by: Actor
    to: Actor


class EscalateIn(Strict):
    by: Actor


class SnoozeIn(Strict):
    by: Actor
    minutes: int = Field(ge=1, le=24 * 60)


class LinkIn(Strict):
    by: Actor
    incident_id: int = Field(ge=1, le=MAX_DB_ID)
    relation: LinkRelation


class RolesIn(Strict):
    """Roles to hand over; a role left out stays as it is, an empty string clears it."""

    by: Actor
    lead: StorableText | None = Field(default=None, max_length=200)
    comms_lead: StorableText | None = Field(default=None, max_length=200)
    reviewer: StorableText | None = Field(default=None, max_length=200)


class CorrectIn(Strict):
    by: Actor
    reason: Reason
    impact_started_at: When = None
    contained_at: When = None


class EventMarkIn(Strict):
    by: Actor
    starred: bool | None = None
    hidden: bool | None = None


class RestrictIn(Strict):
    """Restrict an incident to the people working on it, or open it to everyone again."""

    by: Actor
    restricted: bool
    reason: Reason


class AccessIn(Strict):
    """Let one more person see a restricted incident."""

    by: Actor
    person: Actor


class AccessRequestIn(Strict):
    by: Actor


class AccessRequestAccepted(BaseModel):
    """The request is recorded if there is anything to record; nothing more is said."""

    status: Literal["received"] = "received"


class HarmIn(HarmData):
    """A new version of the incident's harm assessment; earlier versions stay on record."""

    model_config = ConfigDict(extra="forbid")

    by: Actor
    aware_at: When = Field(default=None, description="when the organisation knew: now if not given")
    reason: StorableText = Field(default="", max_length=2_000)
