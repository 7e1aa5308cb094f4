"""The `reviews:` section of the rules directory: which incidents need a post-incident review,
when it is due, who owns it, and how long improvement actions get by priority.

```yaml
reviews:
  required:                       # any one of these makes a review required
    severities: [SEV1, SEV2]      # the worst severity the incident ever had
    types: [fairness_violation, safety, ethical]
  due: 5d                         # after the incident resolved
  owner: owner                    # owner, lead or reviewer of the incident, or a person id
  action_due: {high: 7d, medium: 30d, low: 90d}
  remind_every: 1d                # overdue reviews and actions remind their owners this often
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.durations import parse_duration
from app.sections import Merged, SectionKind, format_error
from app.vocabulary import IncidentType, Priority, Severity

SECTIONS: dict[str, SectionKind] = {"reviews": "single"}
ROLE_OWNERS = ("owner", "lead", "reviewer")


def _required_severities() -> list[Severity]:
    return ["SEV1", "SEV2"]


def _required_types() -> list[IncidentType]:
    return ["fairness_violation", "safety", "ethical"]


def _action_due() -> dict[Priority, str]:
    return {"high": "7d", "medium": "30d", "low": "90d"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequiredSpec(Strict):
    severities: list[Severity] = Field(default_factory=_required_severities)
    types: list[IncidentType] = Field(default_factory=_required_types)


class ReviewsSpec(Strict):
    required: RequiredSpec = Field(default_factory=RequiredSpec)
    due: str = "5d"
    owner: str = Field(default="owner", min_length=1, max_length=120)
    action_due: dict[Priority, str] = Field(default_factory=_action_due)
    remind_every: str = "1d"

    @field_validator("due", "remind_every")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("remind_every")
    @classmethod
    def _at_most_hourly(cls, value: str) -> str:
        if parse_duration(value) < timedelta(hours=1):
            raise ValueError("reminders come at most hourly")
        return value

    @field_validator("action_due")
    @classmethod
    def _windows(cls, value: dict[str, str]) -> dict[str, str]:
        for window in value.values():
            parse_duration(window)
        return value


@dataclass(frozen=True)
class ReviewsConfig:
    """What the reviews section decides, with its defaults when the section is absent."""

    severities: frozenset[str] = frozenset(_required_severities())
    types: frozenset[str] = frozenset(_required_types())
    due: timedelta = timedelta(days=5)
    owner: str = "owner"
    action_due: dict[str, timedelta] = field(
        default_factory=lambda: {k: parse_duration(v) for k, v in _action_due().items()}
    )
    remind_every: timedelta = timedelta(days=1)

    def requires(self, type_: str, severity: str, peak_severity: str | None) -> bool:
        """Whether an incident of this type and (worst) severity needs a review."""
        return type_ in self.types or severity in self.severities or (peak_severity or "") in self.severities

    def snapshot(self) -> dict[str, Any]:
        return {
            "severities": sorted(self.severities),
            "types": sorted(self.types),
            "due_s": self.due.total_seconds(),
        }


def parse_reviews(merged: Merged, people: set[str], problems: list[str]) -> ReviewsConfig:
    """Validate the `reviews:` section; every problem is reported with file:line."""
    config = ReviewsConfig()
    for item in merged.get("reviews", []):
        value = {} if item.value is None else item.value
        try:
            spec = ReviewsSpec.model_validate(value)
        except ValidationError as exc:
            problems.extend(format_error(item.where, "reviews", exc))
            continue
        if spec.owner not in ROLE_OWNERS and spec.owner not in people:
            problems.append(
                f"{item.where}: reviews: owner {spec.owner!r} is neither a role ({', '.join(ROLE_OWNERS)}) "
                "nor a person of the on-call file"
            )
        windows: dict[str, timedelta] = dict(ReviewsConfig().action_due)
        windows.update({k: parse_duration(v) for k, v in spec.action_due.items()})
        config = ReviewsConfig(
            severities=frozenset(spec.required.severities),
            types=frozenset(spec.required.types),
            due=parse_duration(spec.due),
            owner=spec.owner,
            action_due=windows,
            remind_every=parse_duration(spec.remind_every),
        )
    return config
