"""The state of each declared heartbeat: when it was first seen, when it last beat, and the
incident its current silence opened."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime


class Heartbeat(Base):
    __tablename__ = "heartbeat"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    # When the service first saw it declared (or its first beat): a heartbeat that never beat
    # is silent from here.
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_beat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    beats: Mapped[int] = mapped_column(Integer, default=0)
    # The incident the current silence opened (or reopened); cleared once it beats again, so a
    # silence pages once, even when a person resolves its incident while it lasts.
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id", ondelete="SET NULL"))
