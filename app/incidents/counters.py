"""An incident's alert counters, changed many times in a batch, are written once, at its end.

Intake changes an incident's counts, its last alert time and `updated_at` with nearly every
alert. Left to the unit of work, every flush in the middle of a batch (each read autoflushes)
sends the incidents changed since the one before, and each combination of changed columns is a
statement of its own: a batch of 32 one-alert webhooks sent up to 10 UPDATEs of incident, each a
round trip on PostgreSQL. Instead, in a transaction holding the incidents' key locks, these
changes are kept in the objects only, and written for all incidents together, with all three
counters, when the transaction commits: one statement, deferred (`app.deferred`) so that on
PostgreSQL it shares one round trip with the batch's other last writes.

Writing a counter with its unchanged value is safe only under the key's lock: intake is the only
writer of these columns, and every intake transaction takes the lock of the keys it works on.
Nothing reads them back with SQL before the batch ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Integer, Table, Update, bindparam, func, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app import deferred
from app.db import json_recordset, json_rows_named, json_update_params, on_postgresql
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


def _statement(on_postgresql: bool) -> Update:
    """One UPDATE for all kept changes: the counters always, `updated_at` and the impact start
    only where set here (a NULL leaves the stored value)."""
    table = Incident.__table__
    assert isinstance(table, Table)
    kept = {name: table.c[name] for name in (*COUNTERS, *_OPTIONAL)}
    if on_postgresql:
        rows = json_recordset(("row_id", Integer()), *kept.values())
        values: dict[str, Any] = {name: rows.c[name] for name in COUNTERS}
        values |= {name: func.coalesce(rows.c[name], table.c[name]) for name in _OPTIONAL}
        return update(table).where(json_rows_named(table.c.id, rows)).values(values)
    values = {name: bindparam(name, type_=kept[name].type) for name in COUNTERS}
    values |= {
        name: func.coalesce(bindparam(name, type_=kept[name].type), table.c[name]) for name in _OPTIONAL
    }
    return update(table).where(table.c.id == bindparam("row_id")).values(values)


_OPTIONAL = ("updated_at", _IMPACT)  # written only when intake set them
_UPDATE, _UPDATE_PG = _statement(False), _statement(True)


def _write(session: Session) -> None:
    """Write every kept change with one statement, sent with the commit's other deferred writes."""
    pending: dict[int, tuple[Incident, set[str]]] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    rows = [
        {"row_id": incident.id}
        | {name: getattr(incident, name) for name in COUNTERS}
        | {name: getattr(incident, name) if name in names else None for name in _OPTIONAL}
        for incident, names in sorted(pending.values(), key=lambda entry: entry[0].id)
    ]
    if on_postgresql(session):
        deferred.write(session, _UPDATE_PG, json_update_params(rows))
    else:
        deferred.write(session, _UPDATE, rows)


deferred.before_sending.append(_write)
