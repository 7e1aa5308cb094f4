"""Which communications an incident's facts call for, and when each is due.

Pure: it takes the protocol and the incident's facts and returns tasks; no database, no clock of
its own. app/communications keeps the tasks in step with these answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.protocol.config import CommunicationsConfig, Condition, Notify, Policy
from app.protocol.period import Period


@dataclass(frozen=True)
class Facts:
    """What the protocol looks at: the incident, its harm assessment and its model."""

    type: str
    severity: str
    is_open: bool = True
    harm_level: str | None = None
    harm_domains: frozenset[str] = frozenset()
    personal_data_breach: bool = False
    risk_tier: str = "minimal"
    # opened, acknowledged, aware, resolved: the moments known so far.
    anchors: dict[str, datetime] = field(default_factory=dict)
    moments: dict[str, datetime] = field(default_factory=dict)  # recorded by people


@dataclass(frozen=True)
class Task:
    """One notice an audience is owed: `key` names it across re-plans (policy/audience)."""

    key: str
    policy: str
    audience: str
    due_at: datetime
    template: str
    approval: bool
    every: Period | None = None
    holding_template: str | None = None
    holding_due_at: datetime | None = None


def matches(when: Condition, facts: Facts) -> bool:
    """Every list the condition gives must hold the incident's fact (an empty list is any)."""
    if when.types and facts.type not in when.types:
        return False
    if when.severities and facts.severity not in when.severities:
        return False
    if when.harm_levels and facts.harm_level not in when.harm_levels:
        return False
    if when.harm_domains and not facts.harm_domains.intersection(when.harm_domains):
        return False
    if when.risk_tiers and facts.risk_tier not in when.risk_tiers:
        return False
    if when.personal_data_breach is not None and facts.personal_data_breach != when.personal_data_breach:
        return False
    return all(moment in facts.moments for moment in when.moments)


def _task(policy: Policy, step: Notify, facts: Facts) -> Task | None:
    anchor = facts.anchors.get(step.anchor)
    if anchor is None:
        return None  # counts from a moment still to come (acknowledged, resolved, aware)
    holding_due = None
    if step.holding_template and step.holding_within is not None:
        holding_due = step.holding_within.after(anchor)
    return Task(
        key=f"{policy.name}/{step.audience}",
        policy=policy.name,
        audience=step.audience,
        due_at=step.within.after(anchor),
        template=step.template,
        approval=step.approval,
        every=step.every,
        holding_template=step.holding_template,
        holding_due_at=holding_due,
    )


def required(config: CommunicationsConfig, facts: Facts) -> list[Task]:
    """Every notice the protocol asks for now; a key appears once (the first policy wins)."""
    found: dict[str, Task] = {}
    for policy in config.policies:
        if not matches(policy.when, facts):
            continue
        for step in policy.notify:
            task = _task(policy, step, facts)
            if task is not None and task.key not in found:
                if task.every is not None and not facts.is_open:
                    continue  # recurring updates stop with the incident
                found[task.key] = task
    return sorted(found.values(), key=lambda t: (t.due_at, t.key))
