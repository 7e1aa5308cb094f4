"""The `heartbeats:` section of the rules directory: senders that must beat at least every
`interval`, or an incident opens (a dead man's switch).

```yaml
heartbeats:
  - name: watchdog
    matchers: ['alertname="Watchdog"']   # an always-firing alert beats it through the webhook
    interval: 5m
    escalation_policy: platform           # default: the on-call file's default policy
    severity: SEV2                        # the default
  - name: nightly-scoring                 # no matchers: beaten by POST /heartbeats/nightly-scoring
    interval: 26h
```
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.durations import parse_duration
from app.rules.config import checked_matchers, known
from app.rules.matchers import Matcher
from app.sections import Located, Merged, SectionKind, format_error
from app.vocabulary import Severity

SECTIONS: dict[str, SectionKind] = {"heartbeats": "list"}
KEY_PREFIX = "heartbeat:"
# A name is part of a URL path, an incident key and a metric label: kept plain.
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=120)]


class HeartbeatSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    matchers: list[str] = Field(default_factory=list)
    interval: str
    escalation_policy: str | None = None
    severity: Severity = "SEV2"
    runbook: str | None = None
    description: str = ""

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: str) -> str:
        if parse_duration(value) <= timedelta(0):
            raise ValueError("the interval must be longer than 0")
        return value


@dataclass(frozen=True)
class Heartbeat:
    """One declared heartbeat, validated."""

    name: str
    interval: timedelta
    matchers: tuple[Matcher, ...] = ()
    escalation_policy: str | None = None  # None: the on-call file's default policy
    severity: str = "SEV2"
    runbook: str | None = None
    description: str = ""
    source: str = ""  # file:line

    @property
    def key(self) -> str:
        """The key of the incidents a silence of this heartbeat opens."""
        return f"{KEY_PREFIX}{self.name}"

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with these labels is a beat (never, without matchers)."""
        return bool(self.matchers) and all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True)
class HeartbeatsConfig:
    """Every declared heartbeat; `fed_by_alerts` are those the webhook looks for."""

    heartbeats: tuple[Heartbeat, ...] = ()
    # Computed once: the webhook reads it for every request, and an empty one costs it nothing.
    fed_by_alerts: tuple[Heartbeat, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "fed_by_alerts", tuple(h for h in self.heartbeats if h.matchers))

    def get(self, name: str) -> Heartbeat | None:
        return next((h for h in self.heartbeats if h.name == name), None)


def _build(
    item: Located, policies: Collection[str], runbooks: Collection[str], problems: list[str]
) -> Heartbeat | None:
    raw = item.value if isinstance(item.value, dict) else {}
    label = f"heartbeat {raw['name']!r}" if isinstance(raw.get("name"), str) else "heartbeat"
    # Matchers, policy and runbook are checked even when other keys are wrong: every problem at once.
    where = f"{item.where}: {label}"
    matchers = checked_matchers(raw, where, problems)
    ok = matchers is not None
    ok = known(raw, "escalation_policy", policies, where, problems) and ok
    ok = known(raw, "runbook", runbooks, where, problems) and ok
    try:
        spec = HeartbeatSpec.model_validate(item.value)
    except ValidationError as exc:
        problems.extend(format_error(item.where, label, exc))
        return None
    if not ok:
        return None
    return Heartbeat(
        name=spec.name,
        interval=parse_duration(spec.interval),
        matchers=tuple(matchers or ()),
        escalation_policy=spec.escalation_policy,
        severity=spec.severity,
        runbook=spec.runbook,
        description=spec.description,
        source=item.where,
    )


def parse_heartbeats(
    merged: Merged, policies: Collection[str], runbooks: Collection[str], problems: list[str]
) -> HeartbeatsConfig:
    """Validate the `heartbeats:` section (names unique, policies and runbooks known); file:line."""
    found: list[Heartbeat] = []
    seen: dict[str, str] = {}
    for item in merged.get("heartbeats", []):
        heartbeat = _build(item, policies, runbooks, problems)
        if heartbeat is None:
            continue
        if heartbeat.name in seen:
            problems.append(
                f"{item.where}: duplicate heartbeat name {heartbeat.name!r} (first at {seen[heartbeat.name]})"
            )
            continue
        seen[heartbeat.name] = item.where
        found.append(heartbeat)
    return HeartbeatsConfig(tuple(found))
