"""Intake writes the counters of every incident a batch touched in one UPDATE, and a new
incident's owner and policy with its INSERT; nothing outside a held key's lock is rewritten.
What one change moves in the protocol reads the incident's harm and moments once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.alerts.schemas import AlertIn
from app.catalog.loader import Catalog, load_catalog
from app.db import Database
from app.flows.intake import ingest
from app.incidents import counters
from app.models import Incident
from tests.support import ROOT, statements

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MODELS = ("fraud-scorer", "churn-model", "credit-scorer")  # three keys, in this order of id


@pytest.fixture
def catalog() -> Catalog:
    """The shipped rules with their on-call file: models have owners and policies. Nothing is
    sent here (intake only writes the pages)."""
    return load_catalog(ROOT / "rules", ROOT / "runbooks")


def alert(model: str, series: str, status: str = "firing", starts: datetime = T0) -> AlertIn:
    labels = {"alertname": "ModelAccuracyDrop", "model": model, "instance": series}
    return AlertIn(
        fingerprint=f"{model}/{series}",
        status=status,
        labels=labels,
        annotations={"summary": f"accuracy dropped on {model}"},
        starts_at=starts,
        ends_at=starts if status == "resolved" else None,
    )


def ingest_at(db: Database, catalog: Catalog, now: datetime, *requests: list[AlertIn]) -> None:
    with db.session(write=True) as session:
        ingest(session, catalog, list(requests), now, "http://bridge.test")


def by_model(db: Database) -> dict[str | None, Incident]:
    with db.session() as session:
        return {i.model: i for i in session.scalars(select(Incident).order_by(Incident.id))}


def test_counters_of_every_incident_in_a_batch_go_in_one_update(db: Database, catalog: Catalog) -> None:
    ingest_at(db, catalog, T0, *[[alert(m, s)] for m in MODELS for s in ("a", "b")])
    later = T0 + timedelta(minutes=5)
    with statements() as seen:
        ingest_at(
            db,
            catalog,
            later,
            [alert(MODELS[0], "c", starts=later)],  # a new series: alert and firing counts, last alert
            [alert(MODELS[1], "a", "resolved", starts=T0)],  # one of two resolves: firing count only
            [alert(MODELS[2], "c", starts=later)],  # a new series again
        )
    updates = [s for s in seen if s.startswith("UPDATE incident ")]
    # Without a shared shape these are three statements: the middle incident changed other columns.
    assert len(updates) == 1, updates
    assert all(name in updates[0] for name in counters.COUNTERS)
    found = by_model(db)
    assert [(found[m].alert_count, found[m].firing_count) for m in MODELS] == [(3, 3), (2, 1), (3, 3)]
    assert found[MODELS[0]].last_alert_at == later and found[MODELS[2]].last_alert_at == later
    assert found[MODELS[1]].last_alert_at == T0  # a resolve is not an alert firing
    assert all(found[m].status == "triggered" for m in MODELS)


def test_a_new_incident_is_inserted_with_its_owner_and_policy(db: Database, catalog: Catalog) -> None:
    with statements() as seen:
        ingest_at(db, catalog, T0, [alert("fraud-scorer", "a")])
    assert not [s for s in seen if s.startswith("UPDATE incident ") and "escalation_policy" in s]
    (incident,) = by_model(db).values()
    assert (incident.owner, incident.team) == ("alice", "risk-ml")
    assert incident.escalation_policy == "risk-ml-owner-first" and incident.unowned is False
    assert (incident.alert_count, incident.firing_count) == (1, 1)


def test_unknown_model_is_inserted_unowned_with_the_default_policy(db: Database, catalog: Catalog) -> None:
    ingest_at(db, catalog, T0, [alert("no-such-model", "a")])
    (incident,) = by_model(db).values()
    assert incident.unowned is True and incident.owner is None
    assert incident.escalation_policy == catalog.oncall.default_policy


def _update_of_firing_count(db: Database, hold: bool) -> str:
    """Lower one incident's firing count in a transaction that holds its key's lock or not."""
    with statements() as seen, db.session(write=True) as session:
        incident = session.scalars(select(Incident)).one()
        if hold:
            counters.hold(session, [incident.key])
        counters.change(session, incident, firing_count=incident.firing_count - 1)
        session.execute(select(Incident.id))  # an autoflush: held, the change waits for the commit
        before_commit = [s for s in seen if s.startswith("UPDATE incident ")]
    (update,) = [s for s in seen if s.startswith("UPDATE incident ")]
    assert before_commit == ([] if hold else [update])
    return update


def test_counters_are_rewritten_only_under_the_keys_lock(db: Database, catalog: Catalog) -> None:
    ingest_at(db, catalog, T0, [alert("fraud-scorer", "a")], [alert("fraud-scorer", "b")])
    held = _update_of_firing_count(db, hold=True)
    assert all(name in held for name in counters.COUNTERS)
    # Any other transaction (a person's action, say) writes only what it changed: it holds no
    # key lock, and rewriting a count there could undo intake's concurrent change.
    alone = _update_of_firing_count(db, hold=False)
    assert "firing_count" in alone and "alert_count" not in alone and "last_alert_at" not in alone
    (incident,) = by_model(db).values()
    assert (incident.alert_count, incident.firing_count) == (2, 0)


def test_a_kept_change_is_written_at_commit_even_unasked(db: Database, catalog: Catalog) -> None:
    ingest_at(db, catalog, T0, [alert("fraud-scorer", "a")])
    later = T0 + timedelta(hours=1)
    with db.session(write=True) as session:
        incident = session.scalars(select(Incident)).one()
        counters.hold(session, [incident.key])
        counters.change(session, incident, alert_count=7, last_alert_at=later, updated_at=later)
        incident.title = "renamed"  # an ordinary change beside it, flushed as usual
    (found,) = by_model(db).values()
    assert (found.alert_count, found.last_alert_at, found.updated_at, found.title) == (
        7,
        later,
        later,
        "renamed",
    )


def test_an_earlier_impact_start_is_written_with_the_counters(db: Database, catalog: Catalog) -> None:
    ingest_at(db, catalog, T0, *[[alert(m, "a")] for m in MODELS])
    later, earlier = T0 + timedelta(minutes=5), T0 - timedelta(minutes=30)
    with statements() as seen:
        ingest_at(
            db,
            catalog,
            later,
            [alert(MODELS[0], "b", starts=later)],
            [alert(MODELS[1], "b", starts=earlier)],  # the impact began before anyone knew
            [alert(MODELS[2], "b", starts=later)],
        )
    updates = [s for s in seen if s.startswith("UPDATE incident ")]
    assert len(updates) == 1, updates  # one statement: the others' impact start is left as stored
    assert "impact_started_at" in updates[0] and "alert_count" in updates[0]
    found = by_model(db)
    assert found[MODELS[1]].impact_started_at == earlier
    assert found[MODELS[0]].impact_started_at == T0 and found[MODELS[2]].impact_started_at == T0
    assert [found[m].alert_count for m in MODELS] == [2, 2, 2]


def test_a_kept_change_leaves_a_time_it_did_not_set_as_stored(db: Database, catalog: Catalog) -> None:
    ingest_at(db, catalog, T0, [alert("fraud-scorer", "a")])
    edited = T0 + timedelta(hours=2)
    with db.session(write=True) as session:  # a person's edit, say
        session.scalars(select(Incident)).one().updated_at = edited
    with db.session(write=True) as session:
        incident = session.scalars(select(Incident)).one()
        counters.hold(session, [incident.key])
        counters.change(session, incident, firing_count=0)  # neither updated_at nor the impact start
    (found,) = by_model(db).values()
    assert (found.firing_count, found.updated_at, found.impact_started_at) == (0, edited, T0)


def test_a_resolve_reads_harm_and_moments_once_for_notices_and_reports(
    db: Database, catalog: Catalog
) -> None:
    assert catalog.communications.policies  # notices follow the incident; reports always do
    ingest_at(db, catalog, T0, [alert("fraud-scorer", "a")])
    later = T0 + timedelta(minutes=20)
    with statements() as seen:
        ingest_at(db, catalog, later, [alert("fraud-scorer", "a", "resolved")])
    (incident,) = by_model(db).values()
    assert incident.status == "resolved"
    moments = [s for s in seen if s.startswith("SELECT") and "FROM incident_moment" in s]
    harm = [s for s in seen if s.startswith("SELECT") and "FROM harm_assessment" in s]
    assert len(moments) == 1  # the notices' and the reports' plans share one read
    assert len(harm) == 2  # that same read, and the review's draft (its own transaction step)
