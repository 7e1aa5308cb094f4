"""API schemas of incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.text import StorableText


class RunbookRef(BaseModel):
    id: str | None
    title: str | None
    url: str


class IncidentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    rule: str
    status: str
    type: str
    severity: str
    title: str
    model: str | None
    labels: dict[str, str]
    alert_count: int
    firing_count: int
    flap_count: int
    runbook: RunbookRef | None
    owner: str | None
    team: str | None
    escalation_policy: str | None
    unowned: bool
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    last_alert_at: datetime
    updated_at: datetime


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    source: str
    first_seen_at: datetime
    last_seen_at: datetime
    receive_count: int


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any] | None


class IncidentDetail(IncidentRead):
    alerts: list[AlertRead]
    timeline: list[EventRead]


class IncidentPage(BaseModel):
    items: list[IncidentRead]
    total: int
    limit: int
    offset: int


class ActionIn(BaseModel):
    """Who acts, and why."""

    model_config = ConfigDict(extra="forbid")

    by: StorableText = Field(min_length=1, max_length=200)
    note: StorableText = Field(default="", max_length=10_000)


class ActionResult(BaseModel):
    changed: bool
    incident: IncidentRead
