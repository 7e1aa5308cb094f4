"""This installation's own state: the keys it generated, and its replicas' readiness probes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime


class ServiceKey(Base):
    """A secret generated on first start and shared by every replica through the database."""

    __tablename__ = "service_key"

    purpose: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReadinessProbe(Base):
    """The last write each replica made to prove the database takes writes."""

    __tablename__ = "readiness_probe"

    replica: Mapped[str] = mapped_column(String(200), primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
