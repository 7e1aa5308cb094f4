"""One change to one incident, as every flow makes it: lock the incident (404 for someone who
may not see it), change it and write the pages the change causes, read the answer back in the
same transaction, and hand the pages to the dispatcher once committed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.orm import Session

from app.db import Database, utcnow
from app.errors import NotFound
from app.flows.opening import Send
from app.incidents import service as incidents
from app.models import Incident, Notification

T = TypeVar("T")
Change = Callable[[Session, Incident, datetime], list[Notification]]
Read = Callable[[Session, Incident, datetime], T]


def change_incident(
    db: Database,
    send: Send,
    incident_id: int,
    person: str | None,
    change: Change,
    read: Read[T],
    now: datetime | None = None,
) -> T:
    """Apply `change` to an incident `person` may see (None: everything), then `read` the answer.
    `now` is the caller's clock (its own module's, which tests may set)."""
    now = now or utcnow()
    with db.session(write=True) as session:
        incident = incidents.get_for_update(session, incident_id)
        if incident is None or not incidents.can_see(session, incident, person):
            raise NotFound(f"incident {incident_id} not found")
        pages = change(session, incident, now)
        session.flush()
        ids = [p.id for p in pages]
        result = read(session, incident, now)
    if send is not None and ids:
        send(ids)
    return result


def nothing(_session: Session, _incident: Incident, _now: datetime) -> None:
    """A read for changes whose caller reads the answer on its own."""
    return None
