"""The communications job with a controllable clock: overdue notices and reports remind the
incident's people once, holding statements go out by themselves when their audience can be
paged, and nothing is sent twice.

`run_sweep(client, now)` runs the job as the scheduler does, with its clock at `now`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from app.flows import communications as flows
from tests.communications.conftest import (
    TEAMS_YAML,
    assess,
    entries,
    iso,
    notice,
    notice_action,
    notices,
    obligation,
    past,
    reminders,
    report_incident,
    run_sweep,
    when,
)
from tests.paging.conftest import HttpReceiver, SmtpServer, notifications, wait_settled

SYSTEM = "incident-bridge"
USERS = ("fairness-users", "affected-users")


def freeze(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(flows, "utcnow", lambda: moment)


def reported(client: TestClient, type_: str, severity: str, model: str) -> tuple[int, datetime]:
    incident = report_incident(client, type_, severity, model)
    wait_settled(client)
    return incident["id"], when(incident["opened_at"])


def cancel_legal(client: TestClient, incident_id: int) -> None:
    """Legal was told in person: its notice is out of the way of what a test looks at."""
    legal = notice(client, incident_id, "fairness", "legal")
    notice_action(client, incident_id, legal["id"], "cancel", by="erin", reason="told in person")


# --- overdue notices --------------------------------------------------------------------------------


def test_an_overdue_notice_reminds_the_owner_once_and_never_by_pagerduty(
    protocol_client: TestClient, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """churn-model belongs to bob (webhook, Slack and PagerDuty); the legal notice needs approval."""
    incident_id, opened = reported(protocol_client, "fairness_violation", "SEV2", "churn-model")
    legal = notice(protocol_client, incident_id, "fairness", "legal")
    due = when(legal["due_at"])
    assert due == opened + timedelta(hours=4)
    assert legal["status"] == "pending"
    pagerduty, bob, slack = (len(receiver.at(p)) for p in ("/pagerduty", "/bob", "/slack/bob"))
    assert pagerduty == 1  # bob was paged for the incident itself: PagerDuty takes pages

    assert run_sweep(protocol_client, due - timedelta(minutes=1)) == 0
    assert reminders(protocol_client, incident_id) == []

    freeze(monkeypatch, due + timedelta(minutes=1))
    late = notice(protocol_client, incident_id, "fairness", "legal")
    assert late["status"] == "overdue"
    assert late["seconds_left"] == -60
    monkeypatch.undo()
    assert notice(protocol_client, incident_id, "fairness", "legal")["status"] == "pending"  # not yet, really

    assert run_sweep(protocol_client, due + timedelta(minutes=1)) == 1

    what = f"Overdue: the notice to legal was due {due:%Y-%m-%d %H:%M} UTC"
    assert reminders(protocol_client, incident_id) == [("bob", "slack"), ("bob", "webhook")]
    for row in notifications(protocol_client, incident_id, kind="reminder"):
        assert (row.status, row.body) == ("delivered", what)
    hook = receiver.wait_for(bob + 1, "/bob")[-1]
    assert (hook.json["event"], hook.json["recipient"]) == ("reminder", "bob")
    assert what in receiver.wait_for(slack + 1, "/slack/bob")[-1].body.decode()
    assert len(receiver.at("/pagerduty")) == pagerduty
    (overdue,) = entries(protocol_client, incident_id, "overdue")
    assert (overdue["actor"], overdue["message"]) == (SYSTEM, what)
    assert overdue["data"] == {"reminded": ["bob"]}
    # A reminder is not a send: the notice still waits for a person.
    assert notice(protocol_client, incident_id, "fairness", "legal")["status"] == "pending"

    assert run_sweep(protocol_client, due + timedelta(hours=3)) == 0
    assert len(reminders(protocol_client, incident_id)) == 2
    assert len(entries(protocol_client, incident_id, "overdue")) == 1
    assert len(receiver.at("/bob")) == bob + 1


def test_the_lead_and_the_comms_lead_are_reminded_with_the_owner(protocol_client: TestClient) -> None:
    incident_id, _ = reported(protocol_client, "fairness_violation", "SEV2", "churn-model")
    response = protocol_client.post(
        f"/api/v1/incidents/{incident_id}/roles", json={"by": "bob", "lead": "alice", "comms_lead": "carol"}
    )
    assert response.status_code == 200, response.text
    due = when(notice(protocol_client, incident_id, "fairness", "legal")["due_at"])

    assert run_sweep(protocol_client, due + timedelta(seconds=1)) == 1

    assert reminders(protocol_client, incident_id) == [
        ("alice", "email"),
        ("alice", "webhook"),
        ("bob", "slack"),
        ("bob", "webhook"),
        ("carol", "webhook"),
    ]
    (overdue,) = entries(protocol_client, incident_id, "overdue")
    assert overdue["data"] == {"reminded": ["bob", "alice", "carol"]}


def test_a_sent_or_cancelled_notice_is_never_reminded(protocol_client: TestClient) -> None:
    incident_id, opened = reported(protocol_client, "fairness_violation", "SEV2", "churn-model")
    cancel_legal(protocol_client, incident_id)
    outage_id, outage_opened = reported(protocol_client, "technical_failure", "SEV2", "fraud-scorer")
    assert notice(protocol_client, outage_id, "outage", "ml-lead")["status"] == "sent"

    assert run_sweep(protocol_client, max(opened, outage_opened) + timedelta(days=2)) == 0

    assert reminders(protocol_client, incident_id) == []
    assert reminders(protocol_client, outage_id) == []
    assert entries(protocol_client, incident_id, "overdue") == []


def test_an_update_due_goes_out_by_itself(protocol_client: TestClient, receiver: HttpReceiver) -> None:
    incident_id, _ = reported(protocol_client, "technical_failure", "SEV1", "fraud-scorer")
    carol = len(receiver.at("/carol"))  # the outage notice, at once
    update = notice(protocol_client, incident_id, "sev1-updates", "ml-lead")

    assert run_sweep(protocol_client, when(update["due_at"]) + timedelta(seconds=5)) == 1

    sent = notice(protocol_client, incident_id, "sev1-updates", "ml-lead")
    assert (sent["status"], sent["sent_by"], sent["text"]) == ("sent", SYSTEM, update["text"])
    assert len(receiver.wait_for(carol + 1, "/carol")) == carol + 1
    assert reminders(protocol_client, incident_id) == []


def test_an_unapproved_draft_is_not_sent_by_the_sweep(
    protocol_client: TestClient, receiver: HttpReceiver
) -> None:
    incident_id, _ = reported(protocol_client, "technical_failure", "SEV1", "fraud-scorer")
    carol = len(receiver.at("/carol"))
    update = notice(protocol_client, incident_id, "sev1-updates", "ml-lead")
    notice_action(
        protocol_client, incident_id, update["id"], "edit", by="dave", text="TODO: half-written update"
    )

    run_sweep(protocol_client, when(update["due_at"]) + timedelta(minutes=1))

    assert notice(protocol_client, incident_id, "sev1-updates", "ml-lead")["sent_at"] is None
    assert len(receiver.at("/carol")) == carol


# --- holding statements -----------------------------------------------------------------------------


def test_a_holding_statement_nobody_can_page_reminds_the_owner(
    protocol_client: TestClient, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id, _ = reported(protocol_client, "fairness_violation", "SEV2", "credit-scorer")
    cancel_legal(protocol_client, incident_id)
    aware = past(minutes=5)
    assess(protocol_client, incident_id, "serious", aware_at=iso(aware))
    holding_due, full_due = aware + timedelta(hours=24), aware + timedelta(hours=72)
    mails = len(smtp.messages)

    assert run_sweep(protocol_client, holding_due - timedelta(minutes=1)) == 0
    assert run_sweep(protocol_client, holding_due + timedelta(minutes=1)) == 1

    what = f"Overdue: the holding statement to affected-users was due {holding_due:%Y-%m-%d %H:%M} UTC"
    assert reminders(protocol_client, incident_id) == [("alice", "email"), ("alice", "webhook")]
    mail = smtp.wait_for(mails + 1)[-1]
    assert mail.subject.startswith("Overdue: ")
    assert what in mail.text()
    assert [e["message"] for e in entries(protocol_client, incident_id, "overdue")] == [what]
    freeze(monkeypatch, holding_due + timedelta(minutes=1))
    holding = notice(protocol_client, incident_id, *USERS, holding=True)
    assert (holding["status"], holding["sent_at"]) == ("overdue", None)  # nobody could send it
    assert notice(protocol_client, incident_id, *USERS)["status"] == "pending"
    monkeypatch.undo()

    assert run_sweep(protocol_client, holding_due + timedelta(hours=2)) == 0
    assert run_sweep(protocol_client, full_due + timedelta(minutes=1)) == 1
    assert [e["message"] for e in entries(protocol_client, incident_id, "overdue")] == [
        what,
        f"Overdue: the notice to affected-users was due {full_due:%Y-%m-%d %H:%M} UTC",
    ]
    assert len(reminders(protocol_client, incident_id)) == 4


@pytest.mark.parametrize("protocol_yaml", [TEAMS_YAML])
def test_a_holding_statement_goes_out_by_itself_while_the_full_notice_waits(
    protocol_client: TestClient, receiver: HttpReceiver
) -> None:
    incident_id, _ = reported(protocol_client, "fairness_violation", "SEV2", "credit-scorer")
    cancel_legal(protocol_client, incident_id)
    aware = past(minutes=5)
    assess(protocol_client, incident_id, "serious", aware_at=iso(aware))
    holding_due = aware + timedelta(hours=24)
    before = notice(protocol_client, incident_id, *USERS, holding=True)
    assert before["channel"] == "paging"
    assert receiver.at("/fallback") == []

    assert run_sweep(protocol_client, holding_due - timedelta(minutes=1)) == 0
    assert receiver.at("/fallback") == []
    sent_at = holding_due + timedelta(seconds=30)
    assert run_sweep(protocol_client, sent_at) == 1

    holding = notice(protocol_client, incident_id, *USERS, holding=True)
    assert holding["status"] == "sent"
    assert holding["sent_by"] == SYSTEM
    assert when(holding["sent_at"]) == sent_at
    assert holding["approved_by"] is None  # pre-approved by the protocol, not by a person
    (row,) = notifications(protocol_client, incident_id, kind="communication")
    assert (row.recipient, row.channel, row.status) == ("team:risk-ml", "webhook", "delivered")
    assert row.communication_id == holding["id"]
    assert row.body == holding["text"]
    assert "We will write to you again by" in (row.body or "")
    (hook,) = receiver.wait_for(1, "/fallback")
    assert hook.json["event"] == "communication"
    assert hook.delivery_id == row.delivery_id
    (entry,) = entries(protocol_client, incident_id, "communication_sent")
    assert (entry["actor"], entry["message"]) == (
        SYSTEM,
        "holding statement to affected-users sent to 1 contact(s) through paging",
    )
    assert entry["data"]["late"] is True  # 30 seconds after its due time

    full = notice(protocol_client, incident_id, *USERS)
    assert (full["status"], full["sent_at"]) == ("pending", None)  # still waiting for approval
    assert reminders(protocol_client, incident_id) == []
    assert entries(protocol_client, incident_id, "overdue") == []

    assert run_sweep(protocol_client, sent_at + timedelta(hours=1)) == 0
    assert len(receiver.at("/fallback")) == 1


@pytest.mark.parametrize("protocol_yaml", [TEAMS_YAML])
def test_sending_the_full_notice_first_cancels_the_holding_statement(
    protocol_client: TestClient, receiver: HttpReceiver
) -> None:
    incident_id, _ = reported(protocol_client, "fairness_violation", "SEV2", "credit-scorer")
    cancel_legal(protocol_client, incident_id)
    aware = past(minutes=5)
    assess(protocol_client, incident_id, "serious", aware_at=iso(aware))
    full = notice(protocol_client, incident_id, *USERS)

    sent = notice_action(protocol_client, incident_id, full["id"], "send", by="erin")
    wait_settled(protocol_client)

    assert (sent["status"], sent["sent_by"], sent["approved_by"]) == ("sent", "erin", "erin")
    holding = notice(protocol_client, incident_id, *USERS, holding=True)
    assert holding["status"] == "cancelled"
    assert holding["cancel_reason"] == "the full notice went out"
    assert len(receiver.wait_for(1, "/fallback")) == 1  # the full notice

    assert run_sweep(protocol_client, aware + timedelta(hours=25)) == 0
    assert len(receiver.at("/fallback")) == 1
    assert [
        n["status"] for n in notices(protocol_client, incident_id) if n["audience"] == "affected-users"
    ] == [
        "cancelled",
        "sent",
    ]


@pytest.mark.parametrize("protocol_yaml", [TEAMS_YAML])
def test_cancelling_the_full_notice_ends_its_holding_statement(
    protocol_client: TestClient, receiver: HttpReceiver
) -> None:
    incident_id, _ = reported(protocol_client, "fairness_violation", "SEV2", "credit-scorer")
    cancel_legal(protocol_client, incident_id)
    aware = past(minutes=5)
    assess(protocol_client, incident_id, "serious", aware_at=iso(aware))
    full = notice(protocol_client, incident_id, *USERS)
    notice_action(
        protocol_client, incident_id, full["id"], "cancel", by="erin", reason="every user was called"
    )

    run_sweep(protocol_client, aware + timedelta(hours=25))

    assert receiver.at("/fallback") == []
    assert notice(protocol_client, incident_id, *USERS, holding=True)["status"] == "cancelled"


# --- overdue reports ---------------------------------------------------------------------------------


def test_an_overdue_report_reminds_the_owner_once(protocol_client: TestClient, smtp: SmtpServer) -> None:
    incident_id, _ = reported(protocol_client, "technical_failure", "SEV3", "fraud-scorer")
    assert notices(protocol_client, incident_id) == []  # no policy for a SEV3 technical failure
    aware = past(hours=73)
    assess(protocol_client, incident_id, "issue", aware_at=iso(aware), personal_data_breach=True)
    breach = obligation(protocol_client, incident_id, "gdpr_art33", "notify_authority")
    assert breach["overdue"] is True
    mails = len(smtp.messages)
    breach_due, now = when(breach["due_at"]), datetime.now(UTC)

    assert run_sweep(protocol_client, now) == 1

    assert reminders(protocol_client, incident_id) == [("alice", "email"), ("alice", "webhook")]
    (overdue,) = entries(protocol_client, incident_id, "overdue")
    assert overdue["message"] == (
        f"Overdue: the gdpr_art33 notify_authority report was due {breach_due:%Y-%m-%d %H:%M} UTC. "
        + breach["basis"]
    )
    assert overdue["message"] in smtp.wait_for(mails + 1)[-1].text()

    assert run_sweep(protocol_client, now + timedelta(hours=5)) == 0
    assert len(entries(protocol_client, incident_id, "overdue")) == 1
    assert len(reminders(protocol_client, incident_id)) == 2
