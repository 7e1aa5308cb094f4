"""An incident's alert counters, changed many times in a batch, are written once, at its end.

Intake changes an incident's counts, its last alert time and `updated_at` with nearly every
alert. Left to the unit of work, every flush in the middle of a batch (each read autoflushes)
sends the incidents changed since the one before, and each combination of changed columns is a
statement of its own: a batch of 32 one-alert webhooks sent up to 10 UPDATEs of incident, each a
round trip on PostgreSQL. Instead, in a transaction holding the incidents' key locks, these
changes are kept in the objects only, and written for all incidents together, with all three
counters, when the transaction commits: one statement.

Writing a counter with its unchanged value is safe only under the key's lock: intake is the only
writer of these columns, and every intake transaction takes the lock of the keys it works on.
Nothing reads them back with SQL before the batch ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified, set_committed_value

from app.models import Incident

COUNTERS = ("alert_count", "firing_count", "last_alert_at")  # written by intake alone
_IMPACT = "impact_started_at"
_HELD = "incident_keys_held"  # session.info: the keys whose locks this transaction holds
_PENDING = "incident_counts_pending"  # session.info: id(incident) -> (incident, names changed)


def hold(session: Session, keys: Iterable[str]) -> None:
    """Note that this transaction holds the locks of `keys`: their counters are written at its end."""
    session.info.setdefault(_HELD, set()).update(keys)


def change(session: Session, incident: Incident, **values: Any) -> None:
    """Set counters (and `updated_at`, `impact_started_at`) of an incident: at once when its
    key's lock is not held here, else kept until the commit. Only the counters are written whether
    they changed or not; the other two only when set here (people edit them too)."""
    held: set[str] | None = session.info.get(_HELD)
    if held is None or incident.key not in held:
        for name, value in values.items():
            setattr(incident, name, value)
        return
    pending: dict[int, tuple[Incident, set[str]]] = session.info.setdefault(_PENDING, {})
    entry = pending.setdefault(id(incident), (incident, set(COUNTERS)))
    for name, value in values.items():
        set_committed_value(incident, name, value)  # no flush sends it before the commit
        entry[1].add(name)


def _write(session: Session) -> None:
    """Mark every kept change for the commit's flush, in one shape: one UPDATE for all incidents.

    The few incidents whose impact start moved get theirs in a flush before: mixed in, they
    would break the run of equal shapes the unit of work needs to send one statement."""
    pending: dict[int, tuple[Incident, set[str]]] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    moved = [incident for incident, names in pending.values() if _IMPACT in names]
    for incident in moved:
        flag_modified(incident, _IMPACT)
    if moved:
        session.flush()
    for incident, names in pending.values():
        for name in sorted(names - {_IMPACT}):
            flag_modified(incident, name)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    _write(session)  # the commit flushes what it marked
