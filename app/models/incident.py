"""The incident aggregate: one row per incident, its timeline in incident_event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UTCDateTime
from app.vocabulary import OPEN_STATUSES

# The partial unique index below is what makes "one open incident per key" true under
# concurrency, on SQLite and PostgreSQL alike.
OPEN_PREDICATE = text("status IN ({})".format(", ".join(f"'{s}'" for s in OPEN_STATUSES)))


class Incident(Base):
    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(512))
    rule: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(200))
    labels: Mapped[dict[str, str]] = mapped_column(JSONType)
    runbook: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    alert_count: Mapped[int] = mapped_column(Integer, default=0)
    firing_count: Mapped[int] = mapped_column(Integer, default=0)
    flap_count: Mapped[int] = mapped_column(Integer, default=0)
    auto_resolve: Mapped[bool] = mapped_column(default=True)
    owner: Mapped[str | None] = mapped_column(String(120))
    team: Mapped[str | None] = mapped_column(String(120))
    escalation_policy: Mapped[str | None] = mapped_column(String(120))
    unowned: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    last_alert_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The workspace: where it came from, when harm began and was contained, who has which role.
    source: Mapped[str] = mapped_column(String(20), default="monitoring", server_default="monitoring")
    reported_by: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    impact_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contained_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contained_by: Mapped[str | None] = mapped_column(String(200))
    # The worst severity alerts asked for: a person may lower `severity` below it, and only an
    # alert worse than this raises it again.
    alert_severity: Mapped[str | None] = mapped_column(String(8))
    lead: Mapped[str | None] = mapped_column(String(200))
    comms_lead: Mapped[str | None] = mapped_column(String(200))
    reviewer: Mapped[str | None] = mapped_column(String(200))
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duplicate_of: Mapped[int | None] = mapped_column(Integer)  # the incident this one was folded into
    # Seen only by its responders, the people paged for it and those granted access
    # (app/incidents/access.py); the API token holder sees everything.
    restricted: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # The worst severity it ever had (a person may lower `severity` later), and its closing.
    peak_severity: Mapped[str | None] = mapped_column(String(8))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index(
            "uq_incident_open_key",
            "key",
            unique=True,
            sqlite_where=OPEN_PREDICATE,
            postgresql_where=OPEN_PREDICATE,
        ),
        # Each key's newest incident: one backward step (app/incidents/repository.py).
        Index("ix_incident_key_id", "key", "id"),
        Index("ix_incident_status_opened_at", "status", "opened_at"),
        Index("ix_incident_opened_at", "opened_at"),
        # The escalation job looks for snoozes that ran out every few seconds.
        Index(
            "ix_incident_snoozed_until",
            "snoozed_until",
            sqlite_where=text("snoozed_until IS NOT NULL"),
            postgresql_where=text("snoozed_until IS NOT NULL"),
        ),
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class IncidentEvent(Base):
    """One line of an incident's timeline: what changed, when, and who did it."""

    __tablename__ = "incident_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    starred: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    hidden: Mapped[bool] = mapped_column(default=False, server_default=text("false"))

    # The timeline in order of time, either way, a page at a time (keyset on at, then id).
    __table_args__ = (Index("ix_incident_event_incident_id_at_id", "incident_id", "at", "id"),)


class IncidentLink(Base):
    """One incident marked as a duplicate of, or related to, another."""

    __tablename__ = "incident_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    other_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    relation: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("incident_id", "other_id", "relation"),
        Index("ix_incident_link_other_id", "other_id"),
    )


class IncidentAccess(Base):
    """A person invited to see a restricted incident."""

    __tablename__ = "incident_access"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    person: Mapped[str] = mapped_column(String(200))
    granted_by: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("incident_id", "person"),)


class HarmAssessment(Base):
    """One version of an incident's harm assessment; every version is kept, the highest is current."""

    __tablename__ = "harm_assessment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    # The incident is locked while a version is written, so max + 1 is the next one; the
    # constraint keeps two versions from ever sharing a number.
    __table_args__ = (UniqueConstraint("incident_id", "version"),)
