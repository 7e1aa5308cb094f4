"""Payload schemas: the Alertmanager webhook (version 4) and the normalized alert we store."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Alertmanager sends Go's zero time for "not set".
GO_ZERO_YEAR = 1


class AmAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AwareDatetime
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(default="", max_length=64)


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook body; unknown fields are tolerated (newer versions add some)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    receiver: str = ""
    status: Literal["firing", "resolved"]
    alerts: list[AmAlert]
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    groupKey: str = ""
    truncatedAlerts: int = 0


@dataclass(frozen=True, slots=True)
class AlertIn:
    """One alert as the incident flow sees it, whatever monitor sent it."""

    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str = ""
    source: str = "alertmanager"


def label_fingerprint(labels: dict[str, str]) -> str:
    """A stable fingerprint for monitors that do not send one."""
    body = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def from_alertmanager(payload: AlertmanagerWebhook) -> list[AlertIn]:
    out = []
    for alert in payload.alerts:
        ends_at = alert.endsAt
        if ends_at is not None and ends_at.year == GO_ZERO_YEAR:
            ends_at = None
        out.append(
            AlertIn(
                fingerprint=alert.fingerprint or label_fingerprint(alert.labels),
                status=alert.status,
                labels=alert.labels,
                annotations=alert.annotations,
                starts_at=alert.startsAt,
                ends_at=ends_at,
                generator_url=alert.generatorURL,
            )
        )
    return out
