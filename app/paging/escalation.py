"""Escalation schedules, pure: when each step of a frozen policy snapshot is due, and how a
low-urgency incident is paged (working hours, no escalation) when the policy says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.oncall.hours import WorkingHours, next_open


@dataclass(frozen=True)
class PlannedStep:
    offset: timedelta  # from when the escalation started (the incident triggered)
    step: int  # index into the policy's steps
    round: int  # 0 for the first pass, 1.. for repeats
    notify: tuple[str, ...]


def schedule(policy: dict[str, Any]) -> list[PlannedStep]:
    """Every step of every round, in order.

    `after` counts from the start of a round; a repeat round starts `repeat_delay` after the
    last step of the round before it.
    """
    steps = policy["steps"]
    last = timedelta(seconds=steps[-1]["after_s"])
    period = last + timedelta(seconds=policy.get("repeat_delay_s", 600))
    planned = []
    for round_ in range(int(policy.get("repeat", 0)) + 1):
        for index, step in enumerate(steps):
            offset = period * round_ + timedelta(seconds=step["after_s"])
            planned.append(PlannedStep(offset, index, round_, tuple(step["notify"])))
    return planned


def low_urgency_rules(policy: dict[str, Any], urgency: str) -> dict[str, Any] | None:
    """The frozen policy's `low_urgency` rules when they apply (a low-urgency incident), else None."""
    rules = policy.get("low_urgency")
    return rules if urgency == "low" and isinstance(rules, dict) else None


def stops_after_a_step(rules: dict[str, Any] | None) -> bool:
    """Low urgency without `escalate`: each step fired is the last until the severity rises."""
    return rules is not None and not rules.get("escalate", False)


def held_until(rules: dict[str, Any] | None, tz: ZoneInfo, now: datetime) -> datetime | None:
    """When a page to someone in `tz` may go, if not now: the start of their working hours."""
    hours = rules.get("working_hours") if rules else None
    if not hours:
        return None
    opens = next_open(WorkingHours.from_snapshot(hours), tz, now)
    return opens if opens > now else None
