"""The heartbeat check with a clock the test sets: a silence opens one incident that pages, a
beat resolves it, repeated checks change nothing, a flap reopens. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import update

from app.db import utcnow
from app.models import Heartbeat
from tests.heartbeats.conftest import (
    HEARTBEATS_YAML,
    HOUR,
    NIGHTLY_YAML,
    beat_at,
    check_at,
    heartbeat_row,
    incidents_of,
    reload_heartbeats,
)
from tests.paging.conftest import HttpReceiver, SmtpServer, db_of, kinds, notifications, timeline

WATCHDOG = "heartbeat:watchdog"
NIGHTLY = "heartbeat:nightly-scoring"
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


def test_silence_opens_one_incident_that_pages(
    client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    start = utcnow()
    beat_at(client, "watchdog", start)

    assert check_at(client, start + 30 * MINUTE) == 0
    assert check_at(client, start + HOUR) == 0  # silent only once longer than the interval
    assert incidents_of(client, WATCHDOG) == []
    assert check_at(client, start + HOUR + SECOND) == 1

    (incident,) = incidents_of(client, WATCHDOG)
    assert (incident.type, incident.severity, incident.status) == ("technical_failure", "SEV2", "triggered")
    assert incident.rule == WATCHDOG
    assert incident.title == "Heartbeat watchdog is silent: no beat for over 1h"
    assert incident.labels == {"heartbeat": "watchdog"}
    assert incident.escalation_policy == "risk-ml-default"  # the default policy
    assert incident.impact_started_at == start  # the last beat
    assert incident.opened_at == start + HOUR + SECOND
    pages = notifications(client, incident.id, kind="page")
    assert sorted((p.recipient, p.channel) for p in pages) == [("alice", "email"), ("alice", "webhook")]
    (delivered,) = receiver.wait_for(1, "/alice")
    assert delivered.json["incident"]["title"] == incident.title
    assert smtp.wait_for(1)[0].rcpt_tos == ["alice@example.com"]
    events = timeline(client, incident.id)
    silent = next(e for e in events if e["kind"] == "heartbeat_silent")
    assert silent["message"] == (
        f"heartbeat 'watchdog' is silent: no beat since {start:%Y-%m-%d %H:%M:%S} UTC; "
        "it should beat at least every 1h"
    )
    assert "paged" in kinds(client, incident.id)
    row = heartbeat_row(client, "watchdog")
    assert row is not None and row.incident_id == incident.id

    # Checks while the silence lasts change nothing: no second incident, no second page.
    for later in (start + HOUR + 5 * MINUTE, start + 3 * HOUR, start + 30 * HOUR):
        assert check_at(client, later) == 0
    assert [i.id for i in incidents_of(client, WATCHDOG)] == [incident.id]
    assert len(notifications(client, incident.id, kind="page")) == 2


def test_a_beat_resolves_the_incident(client: TestClient, receiver: HttpReceiver, smtp: SmtpServer) -> None:
    start = utcnow()
    beat_at(client, "watchdog", start)
    check_at(client, start + 2 * HOUR)
    (opened,) = incidents_of(client, WATCHDOG)
    receiver.wait_for(1, "/alice")

    back = start + 2 * HOUR + 10 * MINUTE
    beat_at(client, "watchdog", back)
    assert check_at(client, back + MINUTE) == 1

    (incident,) = incidents_of(client, WATCHDOG)
    assert incident.id == opened.id
    assert incident.status == "resolved"
    assert incident.resolved_by == "incident-bridge"
    assert incident.resolved_at == back + MINUTE
    resolved = [e for e in timeline(client, incident.id) if e["kind"] == "resolved"]
    assert [e["message"] for e in resolved] == [
        f"heartbeat 'watchdog' beat again at {back:%Y-%m-%d %H:%M:%S} UTC: resolved"
    ]
    # Everyone who was paged hears that it is over.
    told = notifications(client, incident.id, kind="resolve")
    assert sorted((n.recipient, n.channel) for n in told) == [("alice", "email"), ("alice", "webhook")]
    assert len(receiver.wait_for(2, "/alice")) == 2
    row = heartbeat_row(client, "watchdog")
    assert row is not None and row.incident_id is None and row.last_beat_at == back and row.beats == 2
    assert check_at(client, back + 2 * MINUTE) == 0


def test_a_heartbeat_arms_at_its_first_beat_and_pages_its_own_policy_when_silent(
    client: TestClient, rules_dir: Path, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    reload_heartbeats(client, rules_dir, HEARTBEATS_YAML + NIGHTLY_YAML)
    start = utcnow()
    assert check_at(client, start) == 0
    row = heartbeat_row(client, "nightly-scoring")
    assert row is not None and (row.declared_at, row.last_beat_at, row.beats) == (start, None, 0)
    # Never beaten: it waits, however long (a first run without its sender pages nobody).
    assert check_at(client, start + 30 * HOUR) == 0
    assert incidents_of(client, NIGHTLY) == []

    beat_at(client, "nightly-scoring", start + 30 * HOUR)
    armed = start + 30 * HOUR
    assert check_at(client, armed + HOUR) == 0
    assert check_at(client, armed + HOUR + SECOND) == 1

    (nightly,) = incidents_of(client, NIGHTLY)
    # Its own severity and policy: SEV1, paging bob where the default policy pages alice.
    assert (nightly.severity, nightly.escalation_policy) == ("SEV1", "platform")
    assert nightly.impact_started_at == armed
    pages = notifications(client, nightly.id, kind="page")
    assert sorted((p.recipient, p.channel) for p in pages) == [
        ("bob", "pagerduty"),
        ("bob", "slack"),
        ("bob", "webhook"),
    ]
    receiver.wait_for(1, "/bob")
    silent = next(e for e in timeline(client, nightly.id) if e["kind"] == "heartbeat_silent")
    assert silent["message"] == (
        f"heartbeat 'nightly-scoring' is silent: no beat since "
        f"{armed:%Y-%m-%d %H:%M:%S} UTC; it should beat at least every 1h"
    )


def test_a_silence_pages_once_even_when_a_person_resolves_it(
    client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    start = utcnow() - 3 * HOUR  # the person below resolves at the machine's own time
    beat_at(client, "watchdog", start)
    check_at(client, start + HOUR + SECOND)
    (first,) = incidents_of(client, WATCHDOG)
    answer = client.post(f"/api/v1/incidents/{first.id}/resolve", json={"by": "alice", "note": "looking"})
    assert answer.status_code == 200, answer.text
    now = utcnow()

    # Still silent: the same silence, already reported, opens nothing more.
    for later in (now + MINUTE, now + 2 * HOUR):
        assert check_at(client, later) == 0
    assert [i.status for i in incidents_of(client, WATCHDOG)] == ["resolved"]

    # It beats (its incident is already resolved: nothing to do but forget it), then falls
    # silent again past the reopen window: a new silence, a new incident.
    beat_at(client, "watchdog", now + 3 * HOUR)
    assert check_at(client, now + 3 * HOUR + MINUTE) == 0
    row = heartbeat_row(client, "watchdog")
    assert row is not None and row.incident_id is None
    assert check_at(client, now + 4 * HOUR + SECOND) == 1
    first_again, second = incidents_of(client, WATCHDOG)
    assert (first_again.id, first_again.status, second.status) == (first.id, "resolved", "triggered")


def test_a_silence_soon_after_the_last_one_reopens_its_incident(
    client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    start = utcnow()
    beat_at(client, "watchdog", start)
    check_at(client, start + HOUR + SECOND)
    back = start + HOUR + 5 * MINUTE
    beat_at(client, "watchdog", back)
    check_at(client, back + MINUTE)  # resolved at back + 1m
    (incident,) = incidents_of(client, WATCHDOG)
    assert incident.status == "resolved"

    # Silent again 59 minutes after it resolved: within the reopen window (1h), a flap.
    assert check_at(client, back + HOUR + SECOND) == 1
    (reopened,) = incidents_of(client, WATCHDOG)
    assert (reopened.id, reopened.status, reopened.flap_count) == (incident.id, "triggered", 1)
    assert kinds(client, incident.id).count("heartbeat_silent") == 2
    assert "reopened" in kinds(client, incident.id)
    # The escalation starts over: alice is paged again.
    assert len(notifications(client, incident.id, kind="page")) == 4


def test_a_key_already_open_is_not_opened_twice(
    client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    """Should the row lose its incident while the incident is open (a crash between two writes
    of an older version, a restore), the incident key still allows one open incident."""
    start = utcnow()
    beat_at(client, "watchdog", start)
    check_at(client, start + HOUR + SECOND)
    (incident,) = incidents_of(client, WATCHDOG)
    with db_of(client).session(write=True) as session:
        session.execute(update(Heartbeat).where(Heartbeat.name == "watchdog").values(incident_id=None))

    assert check_at(client, start + HOUR + MINUTE) == 0

    assert [i.id for i in incidents_of(client, WATCHDOG)] == [incident.id]
    assert len(notifications(client, incident.id, kind="page")) == 2
    row = heartbeat_row(client, "watchdog")
    assert row is not None and row.incident_id == incident.id
