"""The communication protocol's records: notices owed to audiences, regulatory reports owed to
authorities, and the moments people record that start a regime's clock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime
from app.vocabulary import UNSENT_STATUSES

UNSENT_PREDICATE = text("status IN ({})".format(", ".join(f"'{s}'" for s in UNSENT_STATUSES)))


class Communication(Base):
    """One notice to one audience about one incident: due, drafted, approved, sent or cancelled.

    A recurring update is a chain of rows with the same key and growing `sequence`; the text
    sent is kept exactly as it went out.
    """

    __tablename__ = "communication"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))  # policy/audience, or policy/audience/holding
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    policy: Mapped[str] = mapped_column(String(80))
    audience: Mapped[str] = mapped_column(String(80))
    template: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str] = mapped_column(String(200))
    approval: Mapped[bool] = mapped_column(default=True)
    holding: Mapped[bool] = mapped_column(default=False)
    every_s: Mapped[int | None] = mapped_column(Integer)  # recurring: seconds between updates
    status: Mapped[str] = mapped_column(String(12))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str | None] = mapped_column(Text)  # a person's draft; None: rendered when read
    edited_by: Mapped[str | None] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_by: Mapped[str | None] = mapped_column(String(200))
    sent_text: Mapped[str | None] = mapped_column(Text)
    via: Mapped[str | None] = mapped_column(String(200))
    late_reason: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    postponed_by: Mapped[str | None] = mapped_column(String(200))  # its due time is a person's now
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("incident_id", "key", "sequence"),
        # The sweep looks for notices due and not yet sent.
        Index(
            "ix_communication_unsent_due_at",
            "due_at",
            sqlite_where=UNSENT_PREDICATE,
            postgresql_where=UNSENT_PREDICATE,
        ),
    )


class Obligation(Base):
    """One stage of one regulatory regime for one incident, and the reports made for it."""

    __tablename__ = "obligation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    regime: Mapped[str] = mapped_column(String(80))
    stage: Mapped[str] = mapped_column(String(80))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    basis: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    initial_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    initial_by: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(500))
    late_reason: Mapped[str | None] = mapped_column(Text)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("incident_id", "regime", "stage"),
        Index("ix_obligation_status_due_at", "status", "due_at"),
    )


class IncidentMoment(Base):
    """A moment a person records that a regime counts from (`classified_major`, `significant`)."""

    __tablename__ = "incident_moment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("incident_id", "name"),)
