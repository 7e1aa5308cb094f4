"""API schemas of communications, regulatory obligations and recorded moments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.incidents.schemas import Actor, EvidenceHold, Reason, When
from app.text import StorableText
from app.vocabulary import CommunicationStatus, ObligationStatus, ReportKind

__all__ = ["EvidenceHold"]

NoticeText = Annotated[StorableText, Field(min_length=1, max_length=20_000)]
Via = Annotated[StorableText, Field(min_length=1, max_length=200, description="how it went out otherwise")]


class CommunicationRead(BaseModel):
    id: int
    audience: str
    audience_name: str
    policy: str
    sequence: int = Field(description="1 for the first notice; recurring updates count up")
    holding: bool = Field(description="a pre-approved holding statement")
    due_at: datetime
    status: CommunicationStatus
    approval: bool = Field(description="a person approves it before it goes out")
    channel: str = Field(description="`paging` (the audience's paging contacts), or how it goes out")
    template: str
    text: str = Field(description="the draft, or the text rendered from the incident's facts")
    edited_by: str | None
    approved_by: str | None
    approved_at: datetime | None
    sent_at: datetime | None
    sent_by: str | None
    via: str | None
    late_reason: str | None
    cancel_reason: str | None
    seconds_left: float | None = Field(description="until due; negative once overdue; None once done")


class CommunicationList(BaseModel):
    items: list[CommunicationRead]


class DraftIn(BaseModel):
    """A person's edit of a notice: it becomes a draft that still needs approval."""

    model_config = ConfigDict(extra="forbid")

    by: Actor
    text: NoticeText


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: Actor
    text: NoticeText | None = None


class SendIn(BaseModel):
    """Approve and send; or, with `via`, record that it was sent another way."""

    model_config = ConfigDict(extra="forbid")

    by: Actor
    text: NoticeText | None = Field(default=None, description="the exact text: the draft if not given")
    via: Via | None = None
    late_reason: StorableText | None = Field(default=None, max_length=2_000)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: Actor
    reason: Reason


class PostponeIn(BaseModel):
    """Push a notice's due time back (a recurring update nobody needs yet)."""

    model_config = ConfigDict(extra="forbid")

    by: Actor
    minutes: int = Field(ge=1, le=7 * 24 * 60)


class ObligationRead(BaseModel):
    id: int
    regime: str
    stage: str
    due_at: datetime | None = Field(description="None while it counts from a moment still to come")
    status: ObligationStatus
    overdue: bool
    seconds_left: float | None
    basis: str
    initial_at: datetime | None
    initial_by: str | None
    completed_at: datetime | None
    completed_by: str | None
    reference: str | None
    late_reason: str | None


class ObligationList(BaseModel):
    items: list[ObligationRead]
    evidence_hold: EvidenceHold


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: Actor
    kind: ReportKind
    reference: StorableText | None = Field(
        default=None, max_length=500, description="the authority's case number"
    )
    late_reason: StorableText | None = Field(
        default=None, max_length=2_000, description="required when the report is late (GDPR Art. 33(1))"
    )


MomentName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class MomentIn(BaseModel):
    """A moment a regime counts from, such as `classified_major` (DORA) or `significant` (NIS2)."""

    model_config = ConfigDict(extra="forbid")

    by: Actor
    name: MomentName
    at: When = None


class MomentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    at: datetime
    by: str


class MomentList(BaseModel):
    items: list[MomentRead]
