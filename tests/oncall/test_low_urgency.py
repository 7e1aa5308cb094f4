"""Escalation policies' `low_urgency`: working hours (pure), validation, the frozen snapshot, and
how low-urgency incidents are paged: held for working hours, no escalation, released and
escalated once the severity rises.

Flow tests run against SQLite and, when BRIDGE_TEST_DATABASE_URL is set, PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.alerts.schemas import AlertIn
from app.catalog.loader import Catalog, ConfigError, load_catalog
from app.db import Database
from app.oncall.config import LowUrgency, Policy, Step
from app.oncall.hours import WorkingHours, next_open, parse_working_hours
from tests.oncall.conftest import (
    Clock,
    alert,
    dispatcher,
    escalate_at,
    escalation,
    events,
    open_at,
    pages,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
WEEKDAYS = frozenset(range(5))
# Wednesday 2 December 2026, Amsterdam at UTC+1.
NIGHT = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
MORNING = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
DAY = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


# --- working hours, pure --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days", "start", "end"),
    [
        ("Mon-Fri 09:00-18:00", WEEKDAYS, time(9), time(18)),
        ("Sat,Sun 10:00-12:30", {5, 6}, time(10), time(12, 30)),
        ("Fri-Mon 08:00-20:00", {4, 5, 6, 0}, time(8), time(20)),  # a range may wrap the week
        ("Mon-Wed,Fri 07:30-16:00", {0, 1, 2, 4}, time(7, 30), time(16)),
        ("monday 09:00-10:00", {0}, time(9), time(10)),
        ("09:00-17:00", set(range(7)), time(9), time(17)),
    ],
)
def test_working_hours_are_parsed(text: str, days: set[int], start: time, end: time) -> None:
    assert parse_working_hours(text) == WorkingHours(frozenset(days), start, end)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Mon-Fri 18:00-09:00", "must end after they start"),
        ("Mon-Fri 09:00-09:00", "must end after they start"),
        ("Mon-Fri", "need a time range"),
        ("Funday 09:00-10:00", "unknown weekday 'Funday'"),
        ("Mon-Fri 9-17", "need a time range"),
        ("Mon-Fri 09:00-17:3o", "a time must be HH:MM"),
        ("Mon-Fri 09:00-25:00", "a time must be HH:MM"),
        ("Mon Fri 09:00-10:00", "look like 'Mon-Fri 09:00-18:00'"),
        ("Mon, 09:00-10:00", "a weekday is missing"),
    ],
)
def test_malformed_working_hours_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_working_hours(text)


OFFICE = parse_working_hours("Mon-Fri 09:00-18:00")


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 12, 2, 10), utc(2026, 12, 2, 10)),  # inside: at once
        (utc(2026, 12, 2, 8), utc(2026, 12, 2, 8)),  # 09:00 local: the first minute counts
        (utc(2026, 12, 2, 2), utc(2026, 12, 2, 8)),  # the night: 09:00 local
        (utc(2026, 12, 2, 17), utc(2026, 12, 3, 8)),  # 18:00 local: the end is outside
        (utc(2026, 12, 4, 20), utc(2026, 12, 7, 8)),  # Friday evening: Monday
        (utc(2026, 12, 5, 12), utc(2026, 12, 7, 8)),  # Saturday
        # Clocks go forward on Sunday 29 March 2026: Monday 09:00 is 07:00 UTC, Friday's was 08:00.
        (utc(2026, 3, 27, 18), utc(2026, 3, 30, 7)),
        (utc(2026, 10, 23, 18), utc(2026, 10, 26, 8)),  # and back on 25 October
    ],
)
def test_next_open_is_the_next_local_start_of_working_hours(at: datetime, expected: datetime) -> None:
    assert next_open(OFFICE, AMSTERDAM, at) == expected


@settings(max_examples=300, deadline=None)
@given(
    at=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(["Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=st.integers(0, 23 * 60 - 1),
    length=st.integers(1, 60),
)
def test_next_open_is_at_once_inside_the_hours_else_their_next_start(
    at: datetime, zone: str, days: frozenset[int], start: int, length: int
) -> None:
    tz = ZoneInfo(zone)
    # Clock changes are the examples above; here the offset holds over the week looked at.
    assume(at.astimezone(tz).utcoffset() == (at + timedelta(days=8)).astimezone(tz).utcoffset())
    end = min(start + length, 23 * 60 + 59)
    hours = WorkingHours(days, time(*divmod(start, 60)), time(*divmod(end, 60)))

    opens = next_open(hours, tz, at)

    local_at = at.astimezone(tz)
    inside = local_at.weekday() in days and hours.start <= local_at.time() < hours.end
    assert (opens == at) == inside
    assert at <= opens < at + timedelta(days=8)
    if not inside:
        local = opens.astimezone(tz)
        assert local.weekday() in days and local.time() == hours.start
        # No start was skipped: a minute earlier is outside the hours, or before `at`.
        earlier = opens - MINUTE
        assert earlier < at or next_open(hours, tz, earlier) == opens


def test_the_snapshot_of_working_hours_round_trips() -> None:
    hours = parse_working_hours("Fri-Mon 08:15-20:45")
    assert hours.snapshot() == {"days": [0, 4, 5, 6], "start": "08:15", "end": "20:45"}
    assert WorkingHours.from_snapshot(hours.snapshot()) == hours


# --- the on-call file ----------------------------------------------------------------------------

ONCALL = """\
people:
  - {id: alice, timezone: Europe/Amsterdam, contact: [{type: log}]}
  - {id: bob, timezone: Europe/Amsterdam, contact: [{type: log}]}
escalation_policies:
  - id: owner-first
    steps:
      - {notify: [owner], after: 0m}
      - {notify: ["person:bob"], after: 10m}
    repeat: 1
    LOW
models:
  - {id: fraud-scorer, owner: alice, team: risk-ml, escalation_policy: owner-first}
  - {id: churn-model, owner: alice, team: risk-ml, escalation_policy: owner-first}
"""
HELD = "low_urgency: {working_hours: 'Mon-Fri 09:00-18:00'}"
RULES = """\
rules:
  - name: drift-critical
    matchers: ['alertname="Drift"', 'severity="critical"']
    type: performance_degradation
    severity: SEV2
    group_by: [alertname, model]
    group_with: drift
  - name: drift-major
    matchers: ['alertname="Drift"', 'severity="major"']
    type: performance_degradation
    severity: SEV3
    group_by: [alertname, model]
    group_with: drift
  - name: drift
    matchers: ['alertname="Drift"']
    type: performance_degradation
    severity: SEV4
    group_by: [alertname, model]
"""


def catalog_with(tmp_path: Path, low: str, name: str = "rules") -> Catalog:
    rules, runbooks = tmp_path / name, tmp_path / "runbooks"
    rules.mkdir()
    runbooks.mkdir(exist_ok=True)
    (rules / "oncall.yaml").write_text(ONCALL.replace("LOW", low), encoding="utf-8")
    (rules / "rules.yaml").write_text(RULES, encoding="utf-8")
    return load_catalog(rules, runbooks)


def drift(at: datetime, severity: str = "warning") -> AlertIn:
    return alert("Drift", "fraud-scorer", severity, at)


@pytest.mark.parametrize(
    ("low", "problem"),
    [
        ("low_urgency: {working_hours: 'Mon-Fri 18:00-09:00'}", "low_urgency.working_hours: Value error"),
        ("low_urgency: {working_hours: 'Someday 09:00-10:00'}", "unknown weekday 'Someday'"),
        ("low_urgency: {escalate: perhaps}", "low_urgency.escalate"),
        ("low_urgency: {hours: 'Mon-Fri 09:00-18:00'}", "low_urgency.hours: unknown key"),
    ],
)
def test_a_bad_low_urgency_section_is_reported_with_its_policy(
    tmp_path: Path, low: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        catalog_with(tmp_path, low)
    found, *consequences = excinfo.value.problems
    assert "escalation policy 'owner-first'" in found and problem in found, found
    assert all("unknown escalation policy 'owner-first'" in c for c in consequences), consequences


def test_low_urgency_is_parsed_and_frozen_with_the_policy(tmp_path: Path) -> None:
    policy = catalog_with(
        tmp_path, "low_urgency: {working_hours: 'Mon-Fri 09:00-18:00', escalate: true}"
    ).oncall
    parsed = policy.policies["owner-first"]

    assert parsed.low_urgency == LowUrgency(escalate=True, working_hours=OFFICE)
    assert parsed.snapshot()["low_urgency"] == {
        "escalate": True,
        "working_hours": {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"},
    }
    plain = Policy("p", (Step(("owner",), timedelta(0)),))
    assert "low_urgency" not in plain.snapshot()  # snapshots of older policies are unchanged
    defaults = catalog_with(tmp_path, "low_urgency: {}", "defaults").oncall.policies["owner-first"]
    assert defaults.low_urgency == LowUrgency(escalate=False, working_hours=None)


# --- paging ---------------------------------------------------------------------------------------


def test_without_low_urgency_a_sev4_pages_at_night_and_escalates_as_before(
    db: Database, tmp_path: Path
) -> None:
    catalog = catalog_with(tmp_path, "")
    incident_id = open_at(db, catalog, NIGHT, drift(NIGHT))

    (first,) = pages(db, incident_id)
    assert (first.recipient, first.status) == ("alice", "sending")
    assert escalate_at(db, catalog, NIGHT + 10 * MINUTE)
    assert [p.recipient for p in pages(db, incident_id)] == ["alice", "bob"]


def test_no_escalation_without_working_hours_pages_the_first_step_at_once_only(
    db: Database, tmp_path: Path
) -> None:
    catalog = catalog_with(tmp_path, "low_urgency: {escalate: false}")
    incident_id = open_at(db, catalog, NIGHT, drift(NIGHT))

    (first,) = pages(db, incident_id)
    assert (first.recipient, first.status) == ("alice", "sending")
    assert escalation(db, incident_id).due_at is None
    assert escalate_at(db, catalog, NIGHT + timedelta(hours=2)) == []


def test_escalating_low_urgency_holds_every_step_for_working_hours(db: Database, tmp_path: Path) -> None:
    catalog = catalog_with(tmp_path, "low_urgency: {working_hours: 'Mon-Fri 09:00-18:00', escalate: true}")
    incident_id = open_at(db, catalog, NIGHT, drift(NIGHT))

    assert escalation(db, incident_id).due_at == NIGHT + 10 * MINUTE
    assert escalate_at(db, catalog, NIGHT + 10 * MINUTE) == []  # bob's page waits too
    rows = pages(db, incident_id)
    assert [(p.recipient, p.status, p.next_attempt_at) for p in rows] == [
        ("alice", "pending", MORNING),
        ("bob", "pending", MORNING),
    ]


def test_a_sev1_ignores_low_urgency(db: Database, tmp_path: Path) -> None:
    catalog = catalog_with(tmp_path, HELD)
    incident_id = open_at(db, catalog, NIGHT, drift(NIGHT, "critical"))

    (first,) = pages(db, incident_id)
    assert (first.recipient, first.status, first.next_attempt_at) == ("alice", "sending", NIGHT)
    assert escalation(db, incident_id).due_at == NIGHT + 10 * MINUTE
    assert events(db, incident_id, "page_held") == events(db, incident_id, "escalation_paused") == []


def test_a_raise_that_stays_low_urgency_wakes_nobody_at_night(
    db: Database, tmp_path: Path, clock: Clock, database_url: str
) -> None:
    catalog = catalog_with(tmp_path, HELD)
    yesterday = DAY - timedelta(days=1)
    incident_id = open_at(db, catalog, yesterday, drift(yesterday))
    (first,) = pages(db, incident_id)
    sender = dispatcher(db, catalog, clock, database_url)
    try:
        clock.now = yesterday  # in working hours: alice has it
        assert sender.deliver(first.id, claimed=True) == "delivered"
    finally:
        sender.shutdown()

    assert open_at(db, catalog, NIGHT, drift(NIGHT, "major")) == incident_id  # SEV4 -> SEV3

    raised = pages(db, incident_id)[1]
    assert (raised.kind, raised.recipient, raised.status) == ("severity", "alice", "pending")
    assert raised.next_attempt_at == MORNING
    assert escalation(db, incident_id).due_at is None


def test_the_frozen_policy_decides_not_the_file_edited_later(db: Database, tmp_path: Path) -> None:
    held = catalog_with(tmp_path, HELD, "held")
    plain = catalog_with(tmp_path, "", "plain")
    quiet = open_at(db, held, DAY, drift(DAY))
    loud = open_at(db, plain, DAY, alert("Drift", "churn-model", "warning", DAY))

    # The file now says the opposite for each: the snapshots frozen at open still decide.
    assert escalate_at(db, plain, DAY + 10 * MINUTE) != []
    assert [p.recipient for p in pages(db, loud)] == ["alice", "bob"]
    assert [p.recipient for p in pages(db, quiet)] == ["alice"]
    assert escalation(db, quiet).due_at is None
