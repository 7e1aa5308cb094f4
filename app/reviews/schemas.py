"""API schemas of post-incident reviews and improvement actions.

Blameless by design: the fields describe systems, signals and decisions (what the root cause
was, what contributed, what went well and badly), never who is to blame.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.incidents.schemas import Actor, Reason
from app.text import StorableText
from app.vocabulary import ActionStatus, HarmLevel, Priority, ReviewStatus, RootCauseCategory

Line = Annotated[StorableText, Field(min_length=1, max_length=2_000)]
Long = Annotated[StorableText, Field(max_length=20_000)]
Items = Annotated[list[Line], Field(max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Impact(Strict):
    duration_seconds: float | None = Field(default=None, ge=0, description="from impact start to resolution")
    users_affected: int | None = Field(default=None, ge=0, le=2**53)
    decisions_affected: Long = Field(default="", description="which decisions, and how many")
    notes: Long = ""


class Detection(Strict):
    how: Long = Field(default="", description="the alert, report or person that caught it")
    when: datetime | None = None
    delay_seconds: float | None = Field(default=None, ge=0, description="from impact start to detection")


class TimelineEntry(Strict):
    at: datetime
    what: Line
    actor: StorableText = Field(default="", max_length=200)


class RootCause(Strict):
    category: RootCauseCategory | None = None
    narrative: Long = Field(default="", description="the trigger, as a chain of system events")


class HarmReview(Strict):
    """Who was harmed and whether they were told: required for every review, of every type."""

    affected_groups: Items = Field(default_factory=list)
    harm_level: HarmLevel | None = None
    users_notified: bool | None = None
    users_notified_at: AwareDatetime | None = None
    notes: Long = ""


class ReviewDocument(Strict):
    summary: Long = ""
    impact: Impact = Field(default_factory=Impact)
    detection: Detection = Field(default_factory=Detection)
    timeline: list[TimelineEntry] = Field(default_factory=list, max_length=500)
    root_cause: RootCause = Field(default_factory=RootCause)
    contributing_factors: Items = Field(default_factory=list)
    went_well: Items = Field(default_factory=list)
    went_badly: Items = Field(default_factory=list)
    harm_assessment: HarmReview = Field(default_factory=HarmReview)
    no_action_reason: Long = Field(default="", description="why no improvement action is needed")


class ReviewIn(Strict):
    """A change to the review: the fields given replace the stored ones; `status` moves it."""

    by: Actor
    status: ReviewStatus | None = None
    summary: Long | None = None
    impact: Impact | None = None
    detection: Detection | None = None
    timeline: list[TimelineEntry] | None = Field(default=None, max_length=500)
    root_cause: RootCause | None = None
    contributing_factors: Items | None = None
    went_well: Items | None = None
    went_badly: Items | None = None
    harm_assessment: HarmReview | None = None
    no_action_reason: Long | None = None
    owner: Annotated[StorableText, Field(min_length=1, max_length=200)] | None = None


class ActionIn(Strict):
    by: Actor | None = None
    title: Annotated[StorableText, Field(min_length=1, max_length=500)]
    owner: Actor
    due: AwareDatetime | None = Field(
        default=None, description="default: by priority (high 7d, medium 30d, low 90d)"
    )
    priority: Priority = "medium"
    ticket_url: Annotated[str, Field(max_length=2_000, pattern=r"^https?://")] | None = None


class ActionPatch(Strict):
    status: ActionStatus
    reason: Reason | None = Field(default=None, description="required for wont_do")
    by: Actor | None = None


class ActionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int
    title: str
    owner: str
    due_at: datetime
    priority: Priority
    ticket_url: str | None
    status: ActionStatus
    reason: str | None
    created_by: str
    created_at: datetime
    done_at: datetime | None
    overdue: bool = False


class ActionList(BaseModel):
    items: list[ActionRead]


class ReviewRead(ReviewDocument):
    model_config = ConfigDict(extra="ignore")

    incident_id: int
    status: ReviewStatus
    required: bool
    owner: str | None
    due_at: datetime
    overdue: bool
    updated_by: str | None
    approved_by: str | None
    approved_at: datetime | None
    created_at: datetime
    updated_at: datetime
    actions: list[ActionRead]
    blameless: str = Field(
        default="Describe systems, signals and decisions, not people: what made the failure possible "
        "and what would have caught it sooner. Nobody is to blame; the system is what we change."
    )


class CloseIn(Strict):
    by: Actor
