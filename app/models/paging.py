"""Paging aggregates: the notification outbox and each incident's escalation clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UTCDateTime
from app.vocabulary import PENDING, SENDING


class Notification(Base):
    """One message to one contact of one person: a row before it is a request (outbox)."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)  # receivers dedupe on it
    recipient: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    # A reference to the contact (app/paging/contacts.py), never a copy: no URL, key or secret.
    # Rows from older versions hold a full copy; the column keeps its name.
    contact_ref: Mapped[dict[str, Any]] = mapped_column("contact", JSONType)
    kind: Mapped[str] = mapped_column(
        String(20)
    )  # page, escalation, severity, acknowledge, resolve, fallback
    step: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A communication's notice: the exact text it carries (no secret: a person approved it).
    communication_id: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "ix_notification_due",
            "next_attempt_at",
            sqlite_where=text(f"status IN ('{PENDING}', '{SENDING}')"),
            postgresql_where=text(f"status IN ('{PENDING}', '{SENDING}')"),
        ),
        Index("ix_notification_incident_id_status", "incident_id", "status"),
    )


class Escalation(Base):
    """Where an incident is in its escalation policy, and when the next step is due."""

    __tablename__ = "escalation"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True)
    policy: Mapped[dict[str, Any]] = mapped_column(JSONType)  # frozen snapshot
    next_index: Mapped[int] = mapped_column(Integer, default=0)  # into the flattened schedule
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: finished or stopped

    __table_args__ = (Index("ix_escalation_due_at", "due_at"),)
