"""Intake folded into incidents, with a controllable clock: group, raise, resolve, reopen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.alerts.schemas import AlertIn
from app.catalog.loader import Catalog, load_catalog
from app.db import Database
from app.flows.intake import IngestOutcome, ingest
from app.incidents import service as incidents
from app.models import Alert, Incident, IncidentEvent

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(rules_dir: Path, runbooks_dir: Path) -> Catalog:
    return load_catalog(rules_dir, runbooks_dir)


def alert(status: str = "firing", fp: str = "f1", starts: datetime = T0, **labels: str) -> AlertIn:
    merged = {"alertname": "ModelAccuracyDrop", "model": "fraud-scorer", **labels}
    return AlertIn(
        fingerprint=fp,
        status=status,
        labels=merged,
        annotations={"summary": "accuracy dropped"},
        starts_at=starts,
        ends_at=starts if status == "resolved" else None,
    )


def run(db: Database, config: Catalog, now: datetime, *requests: Sequence[AlertIn]) -> IngestOutcome:
    with db.session(write=True) as session:
        return ingest(session, config, list(requests), now, "http://bridge.test")


def all_incidents(db: Database) -> list[Incident]:
    with db.session() as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def kinds(db: Database, incident_id: int) -> list[str]:
    with db.session() as session:
        rows = session.scalars(
            select(IncidentEvent.kind)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(IncidentEvent.id)
        )
        return list(rows)


def test_one_batch_many_requests_one_incident(db: Database, config: Catalog) -> None:
    out = run(db, config, T0, [alert(fp="a", instance="a")], [alert(fp="b", instance="b")], [alert(fp="a")])
    [incident] = all_incidents(db)
    assert out.incident_ids == [[incident.id]] * 3
    assert incident.alert_count == 2 and incident.firing_count == 2
    assert out.opened == {("performance_degradation", "SEV2"): 1}
    assert out.deduplicated == {"grouped": 1, "duplicate": 1}


def test_critical_alert_escalates_the_warning_incident_in_place(db: Database, config: Catalog) -> None:
    drift = dict(alertname="FeatureDrift")
    run(db, config, T0, [alert(fp="w", severity="warning", feature="tenure", **drift)])
    [incident] = all_incidents(db)
    assert (incident.rule, incident.severity) == ("feature-drift", "SEV4")
    out = run(db, config, T0, [alert(fp="c", severity="critical", feature="income", **drift)])
    run(db, config, T0, [alert(fp="w2", severity="warning", feature="age", **drift)])
    [incident] = all_incidents(db)
    assert incident.severity == "SEV2"
    assert incident.alert_count == 3
    assert out.changed == {incident.id}
    assert kinds(db, incident.id).count("severity_raised") == 1


def test_severity_is_raised_never_lowered(db: Database, config: Catalog) -> None:
    drift = dict(alertname="DisparateImpactRatioLow", group="age")
    run(db, config, T0, [alert(fp="w", severity="warning", **drift)])
    [incident] = all_incidents(db)
    first = incident.severity
    with db.session(write=True) as session:
        row = session.get(Incident, incident.id)
        assert row is not None
        assert incidents.raise_severity(session, row, "SEV4", "test", T0) is False
        assert incidents.raise_severity(session, row, "SEV1", "test", T0) is True
    [incident] = all_incidents(db)
    assert incident.severity == "SEV1" != first
    assert kinds(db, incident.id)[-1] == "severity_raised"


def test_all_alerts_resolved_resolves_and_counts(db: Database, config: Catalog) -> None:
    run(db, config, T0, [alert(fp="a"), alert(fp="b")])
    out = run(db, config, T0 + timedelta(minutes=1), [alert("resolved", fp="a")])
    assert all_incidents(db)[0].status == "triggered"
    assert out.resolved == {}
    out = run(db, config, T0 + timedelta(minutes=2), [alert("resolved", fp="b")])
    [incident] = all_incidents(db)
    assert incident.status == "resolved"
    assert incident.resolved_at == T0 + timedelta(minutes=2)
    assert incident.firing_count == 0
    assert out.resolved == {("performance_degradation", "SEV2"): 1}
    # A retry of the resolved notification changes nothing.
    out = run(db, config, T0 + timedelta(minutes=3), [alert("resolved", fp="b")])
    assert out.deduplicated == {"duplicate": 1}
    assert kinds(db, incident.id).count("resolved") == 1


def test_refire_within_window_reopens_same_incident(db: Database, config: Catalog) -> None:
    run(db, config, T0, [alert()])
    run(db, config, T0 + timedelta(minutes=5), [alert("resolved")])
    out = run(db, config, T0 + timedelta(minutes=50), [alert(starts=T0 + timedelta(minutes=49))])
    [incident] = all_incidents(db)
    assert incident.status == "triggered"
    assert incident.flap_count == 1
    assert incident.resolved_at is None
    assert out.reopened == {("performance_degradation", "SEV2"): 1}
    assert kinds(db, incident.id)[-2:] == ["reopened", "alert_refired"]  # no on-call file: no pages
    with db.session() as session:
        assert len(list(session.scalars(select(Alert)))) == 1


def test_refire_after_window_opens_a_new_incident(db: Database, config: Catalog) -> None:
    run(db, config, T0, [alert()])
    run(db, config, T0 + timedelta(minutes=5), [alert("resolved")])
    # accuracy-drop reopens within 6h (accuracy over a label window hovers at its threshold).
    out = run(db, config, T0 + timedelta(hours=7), [alert(starts=T0 + timedelta(hours=7))])
    first, second = all_incidents(db)
    assert first.status == "resolved" and second.status == "triggered"
    assert first.key == second.key
    assert out.opened and not out.reopened
    with db.session() as session:
        rows = list(session.scalars(select(Alert).order_by(Alert.id)))
    assert [r.incident_id for r in rows] == [first.id, second.id]


def test_fairness_rule_stays_open_when_alerts_resolve(db: Database, config: Catalog) -> None:
    labels = dict(alertname="FairnessViolation", model="credit-model")
    run(db, config, T0, [alert(fp="x", **labels)])
    run(db, config, T0 + timedelta(minutes=1), [alert("resolved", fp="x", **labels)])
    [incident] = all_incidents(db)
    assert incident.type == "fairness_violation"
    assert incident.severity == "SEV2"  # impact technical low x harm high
    assert incident.status == "triggered"
    assert kinds(db, incident.id)[-1] == "all_alerts_resolved"


def test_manually_resolved_incident_is_not_reopened_by_repeats(db: Database, config: Catalog) -> None:
    run(db, config, T0, [alert()])
    [incident] = all_incidents(db)
    with db.session(write=True) as session:
        incidents.act(session, incident.id, "resolve", "alice", "rolled back", T0)
    # Alertmanager keeps re-sending the still-firing alert: a repeat, not a new episode.
    out = run(db, config, T0 + timedelta(minutes=10), [alert()])
    [incident] = all_incidents(db)
    assert incident.status == "resolved"
    assert out.deduplicated == {"duplicate": 1}
    # Once it resolves and fires again, that is a new episode: reopen within the window.
    run(db, config, T0 + timedelta(minutes=11), [alert("resolved")])
    out = run(db, config, T0 + timedelta(minutes=12), [alert(starts=T0 + timedelta(minutes=12))])
    [incident] = all_incidents(db)
    assert incident.status == "triggered" and incident.flap_count == 1


def test_late_copy_of_a_resolved_episode_changes_nothing(db: Database, config: Catalog) -> None:
    labels = dict(alertname="FairnessViolation", model="credit-model")
    run(db, config, T0, [alert(fp="x", **labels)])
    run(db, config, T0 + timedelta(minutes=1), [alert("resolved", fp="x", **labels)])
    # A retried firing notification of the same episode arrives after the resolve.
    out = run(db, config, T0 + timedelta(minutes=2), [alert(fp="x", **labels)])
    [incident] = all_incidents(db)
    assert incident.firing_count == 0
    assert out.deduplicated == {"duplicate": 1}
    assert "alert_refired" not in kinds(db, incident.id)
    # A real re-fire starts later: it counts.
    run(db, config, T0 + timedelta(minutes=3), [alert(fp="x", starts=T0 + timedelta(minutes=3), **labels)])
    [incident] = all_incidents(db)
    assert incident.firing_count == 1
    assert kinds(db, incident.id)[-1] == "alert_refired"


def test_acknowledge_then_resolve_records_actors(db: Database, config: Catalog) -> None:
    run(db, config, T0, [alert()])
    [incident] = all_incidents(db)
    with db.session(write=True) as session:
        _, changed = incidents.act(session, incident.id, "acknowledge", "alice", "", T0)
        assert changed
        _, changed = incidents.act(session, incident.id, "acknowledge", "bob", "", T0)
        assert not changed
        incidents.act(session, incident.id, "resolve", "bob", "fixed", T0 + timedelta(minutes=3))
    [incident] = all_incidents(db)
    assert incident.acknowledged_by == "alice" and incident.resolved_by == "bob"
    with db.session() as session:
        events = list(
            session.scalars(
                select(IncidentEvent)
                .where(IncidentEvent.incident_id == incident.id)
                .order_by(IncidentEvent.id)
            )
        )
    assert [(e.kind, e.actor) for e in events][-2:] == [("acknowledged", "alice"), ("resolved", "bob")]
    assert events[-1].message == "fixed"
