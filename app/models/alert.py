"""Alerts as received: one row per alert series (fingerprint) within an incident."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UTCDateTime


class Alert(Base):
    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # NULL only for a resolved notification about an alert never seen firing: kept, not dropped.
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))
    labels: Mapped[dict[str, str]] = mapped_column(JSONType)
    annotations: Mapped[dict[str, str]] = mapped_column(JSONType)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    generator_url: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(40), default="alertmanager")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    receive_count: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        UniqueConstraint("incident_id", "fingerprint"),
        Index("ix_alert_fingerprint_id", "fingerprint", "id"),
        # An incident's alerts newest first, a page at a time (keyset on id).
        Index("ix_alert_incident_id_id", "incident_id", "id"),
    )
