"""A person acts on an incident (API or signed link): one path, so both behave the same."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from app.communications.service import Context
from app.db import Database, utcnow
from app.flows import reviews
from app.flows.communications import follow
from app.incidents import metrics, service, workspace
from app.incidents.schemas import IncidentRead
from app.paging import service as paging
from app.vocabulary import ACKNOWLEDGE, RESOLVE


@dataclass(frozen=True)
class ActionOutcome:
    changed: bool
    incident: IncidentRead


def perform(
    db: Database,
    send: Callable[[Iterable[int]], None] | None,
    incident_id: int,
    action: str,
    by: str,
    note: str = "",
    protocol: Context | None = None,
) -> ActionOutcome:
    """Acknowledge or resolve; on a change, stop paging in the same transaction, notify after.

    `send` hands the ids of the notifications written to the dispatcher once committed.
    """
    now = utcnow()
    with db.session(write=True) as session:
        incident, changed = service.act(session, incident_id, action, by, note, now)
        pages = paging.after_action(session, incident, action, now) if changed else []
        if changed and action == ACKNOWLEDGE:
            workspace.take_lead_on_acknowledge(session, incident, by, now)
        if changed and protocol is not None:
            pages += follow(session, protocol, incident, now)  # notices counted from acknowledged, resolved
            if action == RESOLVE:
                pages += reviews.on_resolved(session, protocol.catalog, incident, now)
        session.flush()
        page_ids = [p.id for p in pages]
        result = IncidentRead.model_validate(incident)
    if changed:
        metrics.count_action(action, result.type, result.severity)
        if action == ACKNOWLEDGE:
            waited = (result.acknowledged_at or now) - result.opened_at
            metrics.TIME_TO_ACKNOWLEDGE.labels(result.type, result.severity).observe(waited.total_seconds())
        if send is not None:
            send(page_ids)
    return ActionOutcome(changed=changed, incident=result)
