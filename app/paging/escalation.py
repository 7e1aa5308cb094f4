"""Escalation schedules, pure: when each step of a frozen policy snapshot is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any


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
