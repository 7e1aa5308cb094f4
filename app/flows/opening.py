"""What every new incident goes through, alert-born or reported: paging decides who owns it and
which policy pages for it, the incidents service records that, and the first step is paged."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.incidents import service as incidents
from app.models import Incident, Notification
from app.oncall.config import OncallConfig
from app.paging import service as paging

# Hands the ids of notifications written in a transaction to the dispatcher once committed.
Send = Callable[[Iterable[int]], None] | None


def assigned(oncall: OncallConfig, model: str | None) -> dict[str, Any]:
    """The owner, team and escalation policy a new incident of `model` is opened with (intake
    inserts them with the row, so no UPDATE follows the INSERT)."""
    who = paging.assignment_for(oncall, model)
    policy_id = who.policy.id if who.policy else None
    return {"owner": who.owner, "team": who.team, "escalation_policy": policy_id, "unowned": who.unowned}


def assign_and_page(
    session: Session, oncall: OncallConfig, incident: Incident, now: datetime
) -> list[Notification]:
    """Freeze the owner, team and escalation policy onto a new incident; page its first step."""
    who = paging.assignment_for(oncall, incident.model)
    policy_id = who.policy.id if who.policy else None
    incidents.assign(session, incident, who.owner, who.team, policy_id, who.unowned)
    return paging.start_paging(session, oncall, incident, who.policy, now)
