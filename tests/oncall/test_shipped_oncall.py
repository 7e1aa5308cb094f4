"""The shipped on-call file (rules/oncall.yaml) and the examples in examples/oncall: they load
with the shipped rules, page nobody outside the machine, page a model's owner first and someone
else next, keep a drift warning for the owner's working hours, and reach the team's fallback.

Flow tests run against SQLite and, when BRIDGE_TEST_DATABASE_URL is set, PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.alerts.schemas import AlertIn
from app.catalog.loader import Catalog, load_catalog
from app.db import Database
from app.flows.actions import perform
from app.oncall.rotation import on_call
from app.oncall.service import first_responders
from tests.oncall.conftest import (
    Clock,
    alert,
    dispatcher,
    escalate_at,
    escalation,
    events,
    incident,
    logged_pages,
    open_at,
    pages,
    shipped_copy,
)
from tests.support import ROOT, wait_until

EXAMPLES = sorted((ROOT / "examples" / "oncall").glob("*.yaml"))
# Wednesday 2 December 2026: Amsterdam is at UTC+1, London at UTC.
NIGHT = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 03:00 in Amsterdam
MORNING = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # 09:00 in Amsterdam: working hours begin
DAY = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog(ROOT / "rules", ROOT / "runbooks")


def sev1(catalog: Catalog, at: datetime, model: str = "fraud-scorer") -> AlertIn:
    labels = {"alertname": "ModelServingErrors", "model": model, "severity": "critical"}
    assert catalog.ruleset.classify(labels).severity == "SEV1", "the shipped rules changed"
    return alert("ModelServingErrors", model, "critical", at)


def drift_warning(catalog: Catalog, at: datetime, severity: str = "warning") -> AlertIn:
    labels = {"alertname": "FeatureDrift", "model": "fraud-scorer", "severity": severity}
    expected = "SEV4" if severity == "warning" else "SEV2"
    assert catalog.ruleset.classify(labels).severity == expected, "the shipped rules changed"
    return alert("FeatureDrift", "fraud-scorer", severity, at, feature="merchant_country")


# --- the file ------------------------------------------------------------------------------------


def test_the_shipped_file_loads_and_every_contact_stays_on_this_machine(shipped: Catalog) -> None:
    oncall = shipped.oncall
    contacts = [c for p in oncall.people.values() for c in p.contact]
    contacts += [c for t in oncall.teams.values() for c in t.fallback]
    assert contacts and {c.type for c in contacts} == {"log"}

    rotation = oncall.rotations["risk-ml-oncall"]
    for model in oncall.models.values():
        assert model.tier == "production" and model.owner in oncall.people
        policy = oncall.policies[model.escalation_policy or ""]
        assert policy.steps[0].notify == ("owner",)
        # The second step is the rotation, which the owner is not part of: someone else.
        assert policy.steps[1].notify == ("rotation:risk-ml-oncall",)
        assert model.owner not in rotation.members
        assert oncall.teams[model.team or ""].fallback, f"{model.id}: no team fallback"
        assert policy.low_urgency is not None and not policy.low_urgency.escalate
    assert oncall.high_urgency == frozenset({"SEV1", "SEV2"})
    assert oncall.default_policy == "risk-ml-unowned"
    assert first_responders(oncall, None, oncall.default_policy, DAY) == [on_call(rotation, DAY)]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_examples_load_with_the_shipped_rules(tmp_path: Path, example: Path, shipped: Catalog) -> None:
    rules = shipped_copy(tmp_path, ROOT)
    (rules / "oncall.yaml").write_text(example.read_text(encoding="utf-8"), encoding="utf-8")

    loaded = load_catalog(rules, ROOT / "runbooks").oncall

    kinds = {c.type for p in loaded.people.values() for c in p.contact}
    assert {"email", "webhook", "slack", "pagerduty"} <= kinds
    # The same set-up as the shipped file, with real contact methods.
    mine = shipped.oncall
    assert loaded.people.keys() == mine.people.keys()
    assert {k: p.snapshot() for k, p in loaded.policies.items()} == {
        k: p.snapshot() for k, p in mine.policies.items()
    }
    assert loaded.rotations == mine.rotations
    assert {m.id: (m.owner, m.team, m.escalation_policy) for m in loaded.models.values()} == {
        m.id: (m.owner, m.team, m.escalation_policy) for m in mine.models.values()
    }
    assert loaded.teams.keys() == mine.teams.keys()
    assert all(team.fallback for team in loaded.teams.values())


def test_there_is_an_example_with_real_channels() -> None:
    assert [p.name for p in EXAMPLES] == ["oncall-slack-pagerduty-email.yaml"]
    assert (ROOT / "examples" / "oncall" / "README.md").is_file()


# The on-call file as the README shows it ("The on-call file"), with fewer comments.
README_EXAMPLE = """\
people:
  - id: alice
    name: Alice Example            # owns fraud-scorer and credit-scorer
    timezone: Europe/Amsterdam     # working hours are hers, wherever the servers run
    contact:
      - {type: log}
  - id: bob                        # team lead of risk-ml
    name: Bob Example
    timezone: Europe/Amsterdam
    contact:
      - {type: log}
  - {id: carol, name: Carol Example, timezone: Europe/Amsterdam, contact: [{type: log}]}
  - {id: dan, name: Dan Example, timezone: Europe/London, contact: [{type: log}]}
rotations:
  - id: risk-ml-oncall
    members: [carol, dan]          # not the model owners: step 2 reaches someone new
    shift: weekly                  # or daily, or a duration such as 12h
    handoff: "Mon 09:00"
    timezone: Europe/Amsterdam
    overrides:
      - {person: dan, start: "2026-12-24T00:00:00Z", end: "2026-12-27T00:00:00Z"}
escalation_policies:
  - id: risk-ml-owner-first
    steps:
      - {notify: [owner], after: 0m}
      - {notify: ["rotation:risk-ml-oncall"], after: 5m}
      - {notify: ["person:bob"], after: 15m}
    repeat: 1
    low_urgency:
      working_hours: "Mon-Fri 09:00-18:00"
      escalate: false
  - id: risk-ml-unowned
    steps:
      - {notify: ["rotation:risk-ml-oncall"], after: 0m}
      - {notify: ["person:bob"], after: 10m}
    repeat: 1
    low_urgency: {working_hours: "Mon-Fri 09:00-18:00", escalate: false}
models:
  - id: fraud-scorer
    owner: alice
    team: risk-ml
    escalation_policy: risk-ml-owner-first
    tier: production
  - id: credit-scorer
    owner: alice
    team: risk-ml
    escalation_policy: risk-ml-owner-first
    risk_tier: high
    role: provider
teams:
  - id: risk-ml
    name: Risk ML
    fallback:
      - {type: log}                # in production: a channel or mailbox the whole team watches
default_escalation_policy: risk-ml-unowned
paging:
  high_urgency: [SEV1, SEV2]
"""


def test_the_readme_example_loads_with_the_shipped_rules_and_matches_the_shipped_file(
    tmp_path: Path, shipped: Catalog
) -> None:
    rules = shipped_copy(tmp_path, ROOT)
    (rules / "oncall.yaml").write_text(README_EXAMPLE, encoding="utf-8")

    loaded = load_catalog(rules, ROOT / "runbooks").oncall

    mine = shipped.oncall
    assert loaded.people == mine.people
    assert loaded.rotations == mine.rotations
    assert loaded.policies == mine.policies
    assert loaded.teams.keys() == mine.teams.keys()
    assert loaded.default_policy == mine.default_policy and loaded.high_urgency == mine.high_urgency


# --- SEV1: at once, owner first, then someone else -----------------------------------------------


def test_a_sev1_pages_the_owner_first_then_the_on_call_engineer_then_the_team_lead(
    db: Database, shipped: Catalog, clock: Clock, database_url: str, page_log: pytest.LogCaptureFixture
) -> None:
    sender = dispatcher(db, shipped, clock, database_url)
    try:
        clock.now = NIGHT
        incident_id = open_at(db, shipped, NIGHT, sev1(shipped, NIGHT))
        (first,) = pages(db, incident_id)
        assert (first.recipient, first.step, first.channel) == ("alice", 0, "log")
        assert sender.deliver(first.id, claimed=True) == "delivered"

        clock.now = NIGHT + 5 * MINUTE
        assert escalate_at(db, shipped, clock.now)
        second = pages(db, incident_id)[1]
        engineer = on_call(shipped.oncall.rotations["risk-ml-oncall"], clock.now)
        assert (second.recipient, second.step) == (engineer, 1)
        assert second.recipient != "alice"
        assert sender.deliver(second.id, claimed=True) == "delivered"

        clock.now = NIGHT + 15 * MINUTE
        assert escalate_at(db, shipped, clock.now)
        third = pages(db, incident_id)[2]
        assert (third.recipient, third.step) == ("bob", 2)
        assert sender.deliver(third.id, claimed=True) == "delivered"
    finally:
        sender.shutdown()

    logged = logged_pages(page_log)
    assert [line.split(":")[0] for line in logged] == [
        "page for alice",
        f"page for {engineer}",
        "page for bob",
    ]
    assert all("SEV1 technical failure: ModelServingErrors on fraud-scorer" in line for line in logged)


def test_a_model_nobody_registered_pages_the_on_call_engineer_first(db: Database, shipped: Catalog) -> None:
    incident_id = open_at(db, shipped, DAY, sev1(shipped, DAY, model="mystery-model"))

    (first,) = pages(db, incident_id)
    assert first.recipient == on_call(shipped.oncall.rotations["risk-ml-oncall"], DAY)
    assert incident(db, incident_id).unowned


# --- SEV4: a ticket for the owner's working hours -------------------------------------------------


def test_a_sev4_drift_warning_at_night_waits_for_the_owners_working_hours(
    db: Database, shipped: Catalog, clock: Clock, database_url: str, page_log: pytest.LogCaptureFixture
) -> None:
    incident_id = open_at(db, shipped, NIGHT, drift_warning(shipped, NIGHT))

    assert incident(db, incident_id).severity == "SEV4"
    (held,) = pages(db, incident_id)
    assert (held.recipient, held.status, held.attempts) == ("alice", "pending", 0)
    assert held.next_attempt_at == MORNING
    assert events(db, incident_id, "page_held") == [
        "low urgency: the page to alice waits for their working hours, Wed 09:00 Europe/Amsterdam"
    ]
    assert escalation(db, incident_id).due_at is None  # nobody else, at no time
    assert escalate_at(db, shipped, NIGHT + 6 * timedelta(hours=1)) == []

    sender = dispatcher(db, shipped, clock, database_url)
    try:
        clock.now = MORNING - MINUTE
        assert sender.deliver(held.id) is None  # not due: nothing sent, nothing logged
        assert logged_pages(page_log) == []
        clock.now = MORNING
        assert sender.deliver(held.id) == "delivered"
    finally:
        sender.shutdown()
    assert logged_pages(page_log) == [
        "page for alice: SEV4 performance degradation: FeatureDrift on fraud-scorer"
    ]
    assert len(pages(db, incident_id)) == 1


def test_a_sev4_in_working_hours_notifies_the_owner_once_and_escalates_no_further(
    db: Database, shipped: Catalog
) -> None:
    incident_id = open_at(db, shipped, DAY, drift_warning(shipped, DAY))

    (page,) = pages(db, incident_id)
    assert (page.recipient, page.status, page.next_attempt_at) == ("alice", "sending", DAY)
    assert events(db, incident_id, "page_held") == []
    assert events(db, incident_id, "escalation_paused") == [
        "low urgency: no further escalation unless the severity rises to high urgency"
    ]
    for later in (DAY + 5 * MINUTE, DAY + 15 * MINUTE, DAY + timedelta(days=1)):
        assert escalate_at(db, shipped, later) == []
    assert len(pages(db, incident_id)) == 1


def test_a_drift_warning_turning_critical_at_night_pages_at_once_and_escalates(
    db: Database, shipped: Catalog
) -> None:
    incident_id = open_at(db, shipped, NIGHT, drift_warning(shipped, NIGHT))
    raised_at = NIGHT + 10 * MINUTE

    same = open_at(db, shipped, raised_at, drift_warning(shipped, raised_at, severity="critical"))

    assert same == incident_id and incident(db, incident_id).severity == "SEV2"
    held = pages(db, incident_id)[0]
    assert (held.recipient, held.status, held.next_attempt_at) == ("alice", "sending", raised_at)
    assert events(db, incident_id, "page_released")
    # The next step follows the usual 5 minutes, counted from the raise.
    assert escalation(db, incident_id).due_at == raised_at + 5 * MINUTE
    assert escalate_at(db, shipped, raised_at + 4 * MINUTE) == []
    assert escalate_at(db, shipped, raised_at + 5 * MINUTE)
    engineer = on_call(shipped.oncall.rotations["risk-ml-oncall"], raised_at)
    assert [p.recipient for p in pages(db, incident_id) if p.kind == "page"] == ["alice", engineer]


def test_acknowledging_at_night_cancels_the_page_waiting_for_the_morning(
    db: Database, shipped: Catalog, clock: Clock, database_url: str
) -> None:
    incident_id = open_at(db, shipped, NIGHT, drift_warning(shipped, NIGHT))

    perform(db, None, incident_id, "acknowledge", "carol")

    (held,) = pages(db, incident_id)
    assert held.status == "cancelled"
    sender = dispatcher(db, shipped, clock, database_url)
    try:
        clock.now = MORNING
        assert sender.deliver(held.id) is None
    finally:
        sender.shutdown()


# --- the team's fallback --------------------------------------------------------------------------


def test_a_page_that_cannot_be_delivered_reaches_the_team_fallback(
    tmp_path: Path, db: Database, clock: Clock, database_url: str, page_log: pytest.LogCaptureFixture
) -> None:
    # Alice gave an email address, but this installation has no SMTP server: her page fails.
    rules = shipped_copy(tmp_path, ROOT)
    text = (rules / "oncall.yaml").read_text(encoding="utf-8")
    owner = "    name: Alice Example            # owns fraud-scorer and credit-scorer\n"
    assert text.count(owner) == 1
    head, tail = text.split(owner)
    tail = tail.replace("      - {type: log}\n", "      - {type: email, address: alice@example.com}\n", 1)
    (rules / "oncall.yaml").write_text(head + owner + tail, encoding="utf-8")
    catalog = load_catalog(rules, ROOT / "runbooks")
    assert [c.type for c in catalog.oncall.people["alice"].contact] == ["email"]

    sender = dispatcher(db, catalog, clock, database_url)
    try:
        clock.now = DAY
        incident_id = open_at(db, catalog, DAY, sev1(catalog, DAY))
        (first,) = pages(db, incident_id)
        assert first.channel == "email"
        assert sender.deliver(first.id, claimed=True) == "failed"
        wait_until(
            lambda: [line for line in logged_pages(page_log) if line.startswith("undelivered page")],
            timeout=10,
            interval=0.05,
            what="the fallback page in the log",
        )
    finally:
        sender.shutdown()
    (line,) = logged_pages(page_log)
    assert line.startswith("undelivered page for team:risk-ml: SEV1 technical failure")
    assert events(db, incident_id, "page_failed")
