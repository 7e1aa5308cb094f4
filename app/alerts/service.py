"""Stored alerts: add a series, note a repeat, a re-fire or a resolution. Nothing commits here.

A batch of intake keeps its alert rows as `StoredAlert`s in an `AlertRows`, changes them in
memory, and writes them with one INSERT and one UPDATE when it flushes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.alerts import repository
from app.alerts.schemas import AlertIn
from app.vocabulary import FIRING, RESOLVED


@dataclass(slots=True, eq=False)
class StoredAlert:
    """One alert row as intake reads and changes it."""

    id: int | None  # None until the batch writes it
    incident_id: int | None
    fingerprint: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    annotations: dict[str, str]
    receive_count: int
    last_seen_at: datetime | None = None  # set when intake changes it


def _stored(r: Sequence[Any]) -> StoredAlert:
    """A row of the repository's LEAN columns (in StoredAlert's order), as intake changes it."""
    return StoredAlert(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7])


# Rows are read by position: the repository's LEAN columns are StoredAlert's first fields.
assert [c.name for c in repository.LEAN] == [
    "id",
    *(f.name for f in fields(StoredAlert)[1 : len(repository.LEAN)]),
]


class AlertRows:
    """The alert rows of one intake batch: read once, changed in memory, written in bulk."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.latest: dict[str, StoredAlert] = {}  # the newest row of each fingerprint
        self._by_pair: dict[tuple[int | None, str], StoredAlert] = {}
        self._new: list[tuple[StoredAlert, AlertIn, datetime]] = []
        self._changed: dict[int, StoredAlert] = {}  # rows written back whole
        self._repeats: dict[int, int] = {}  # rows only seen again: how many more times
        self._noted: dict[int, StoredAlert] = {}  # rows seen again with new annotations
        self._now: datetime | None = None

    def _keep(self, row: StoredAlert) -> StoredAlert:
        self._by_pair[(row.incident_id, row.fingerprint)] = row
        return row

    def load(self, fingerprints: set[str]) -> Callable[[], None]:
        """Read the newest stored row of each fingerprint. Inside a `deferred.pipeline` the read
        is sent there: call what this returns once the pipeline has ended."""
        found = repository.latest_by_fingerprint(self.session, fingerprints)

        def keep() -> None:
            for r in found.rows():
                row = _stored(r)
                self.latest[row.fingerprint] = self._keep(row)

        return keep

    def in_incident(self, incident_id: int, fingerprint: str) -> StoredAlert | None:
        """The row of this fingerprint inside one incident, if it has one."""
        found = self._by_pair.get((incident_id, fingerprint))
        if found is not None:
            return found
        r = repository.in_incident(self.session, incident_id, fingerprint)
        if r is None:
            return None
        return self._keep(_stored(r))

    def add(self, alert: AlertIn, incident_id: int | None, now: datetime) -> StoredAlert:
        """A series seen for the first time (in this incident)."""
        row = StoredAlert(
            None,
            incident_id,
            alert.fingerprint,
            alert.status,
            alert.starts_at,
            alert.ends_at if alert.status == RESOLVED else None,
            alert.annotations,
            1,
            now,
        )
        self._new.append((row, alert, now))
        self.latest[alert.fingerprint] = self._keep(row)
        return row

    def _changed_now(self, row: StoredAlert, now: datetime) -> None:
        row.last_seen_at, row.receive_count = now, row.receive_count + 1
        if row.id is not None:
            self._changed[row.id] = row
            self._repeats.pop(row.id, None)  # the whole row is written: its count included
            self._noted.pop(row.id, None)

    def seen_again(self, row: StoredAlert, alert: AlertIn, now: datetime) -> None:
        """A retry, an HA duplicate or a repeat notification: only the bookkeeping changes."""
        row.last_seen_at, row.receive_count = now, row.receive_count + 1
        if row.id is None or row.id in self._changed:
            if row.annotations != alert.annotations:
                row.annotations = alert.annotations
            return  # written whole
        if row.annotations != alert.annotations:
            row.annotations = alert.annotations
            self._noted[row.id] = row  # its count is written with it
            self._repeats.pop(row.id, None)
        elif row.id not in self._noted:
            # The most common write of all: one UPDATE for every such row of the batch.
            self._repeats[row.id] = self._repeats.get(row.id, 0) + 1
            self._now = now

    def refired(self, row: StoredAlert, alert: AlertIn, now: datetime) -> None:
        """The same series fires again in the same incident: a new episode."""
        row.status, row.starts_at, row.ends_at = FIRING, alert.starts_at, None
        self._changed_now(row, now)

    def resolved(self, row: StoredAlert, alert: AlertIn, now: datetime) -> None:
        row.status, row.ends_at = RESOLVED, alert.ends_at or now
        self._changed_now(row, now)

    def flush(self, at_commit: bool = False) -> None:
        """Write what changed since the last flush: one INSERT, one UPDATE. `at_commit`: the
        batch's last flush, sent with the commit's deferred writes (no later change needs the
        new rows' ids)."""
        inserts: list[dict[str, Any]] = [
            {
                "incident_id": row.incident_id,
                "fingerprint": row.fingerprint,
                "status": row.status,
                "labels": alert.labels,
                "annotations": row.annotations,
                "starts_at": row.starts_at,
                "ends_at": row.ends_at,
                "generator_url": alert.generator_url,
                "source": alert.source,
                "first_seen_at": first_seen,
                "last_seen_at": row.last_seen_at,
                "receive_count": row.receive_count,
            }
            for row, alert, first_seen in self._new
        ]
        updates = [
            {
                "row_id": row.id,
                "status": row.status,
                "starts_at": row.starts_at,
                "ends_at": row.ends_at,
                "annotations": row.annotations,
                "last_seen_at": row.last_seen_at,
                "receive_count": row.receive_count,
            }
            for row in self._changed.values()
        ]
        repository.update_many(self.session, updates, at_commit)
        noted = [
            {
                "row_id": row.id,
                "annotations": row.annotations,
                "last_seen_at": row.last_seen_at,
                "receive_count": row.receive_count,
            }
            for row in self._noted.values()
        ]
        repository.seen_again_with_notes(self.session, noted, at_commit)
        self._noted.clear()
        by_times: dict[int, list[int]] = {}
        for row_id, times in self._repeats.items():
            by_times.setdefault(times, []).append(row_id)
        for times, row_ids in by_times.items():
            assert self._now is not None
            repository.seen_again(self.session, row_ids, times, self._now, at_commit)
        self._repeats.clear()
        if at_commit:
            repository.insert_many_at_commit(self.session, inserts)
        else:
            ids = repository.insert_many(self.session, inserts)
            for (row, _, _), new_id in zip(self._new, ids, strict=True):
                row.id = new_id  # later changes in this batch update it
        self._new.clear()
        self._changed.clear()
