"""Post-incident reviews and the improvement actions they decide, tracked to done."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UTCDateTime


class Review(Base):
    """The blameless review of one incident: what happened, why, what went well and badly."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(12))
    owner: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # summary, impact, detection, timeline, root_cause, contributing_factors, went_well,
    # went_badly, harm_assessment, no_action_reason: the document, validated by its schema.
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_review_status_due_at", "status", "due_at"),)


class ReviewAction(Base):
    """One improvement action: owned, due, prioritised, done or explicitly not done (with why)."""

    __tablename__ = "review_action"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    priority: Mapped[str] = mapped_column(String(8))
    ticket_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_review_action_incident_id", "incident_id"),
        Index("ix_review_action_status_due_at", "status", "due_at"),
        Index("ix_review_action_owner", "owner"),
    )


class ActionDigest(Base):
    """The weekly digest of open actions sent to one owner: one row per owner and ISO week."""

    __tablename__ = "action_digest"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    week: Mapped[str] = mapped_column(String(8))  # 2026-W49
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("owner", "week"),)
