"""What the heartbeat endpoints answer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class HeartbeatRead(BaseModel):
    """A declared heartbeat and where it stands."""

    name: str
    interval_seconds: float
    matchers: list[str] = Field(description="alerts that beat it through the webhook; empty: POST only")
    escalation_policy: str | None = Field(description="the policy its incidents page; null: the default")
    severity: str
    declared_at: datetime | None = Field(description="when the service first saw it declared")
    last_beat_at: datetime | None
    beats: int
    silent: bool = Field(description="no beat for longer than its interval")
    incident_id: int | None = Field(description="the incident its current silence opened")


class HeartbeatList(BaseModel):
    items: list[HeartbeatRead]
    total: int


class BeatAccepted(BaseModel):
    status: Literal["accepted"]
    heartbeat: HeartbeatRead
