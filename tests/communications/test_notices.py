"""Notices to audiences: when the protocol opens them, how they go out through paging, and how
people edit, approve, send, record, cancel and postpone them.

Every test runs on SQLite and PostgreSQL; pages leave over real HTTP to the local receiver.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from app.flows import communications as flows
from tests.communications.conftest import (
    PROTOCOL_YAML,
    entries,
    incident_of,
    notice,
    notice_action,
    notices,
    notices_of,
    reclassify,
    reminders,
    report_incident,
    run_sweep,
    when,
)
from tests.paging.conftest import (
    HttpReceiver,
    alert_body,
    fire_one,
    notifications,
    wait_settled,
)

SYSTEM = "incident-bridge"


def open_outage(client: TestClient) -> int:
    """A SEV2 technical_failure on fraud-scorer, opened by an Alertmanager webhook (a critical
    serving outage would be SEV1, which the SEV1 update policy also follows)."""
    incident_id = fire_one(
        client, alert_body("DataPipelineStale", "fraud-scorer", "critical", pipeline="features")
    )
    wait_settled(client)
    detail = incident_of(client, incident_id)
    assert (detail["type"], detail["severity"]) == ("technical_failure", "SEV2")
    return incident_id


def freeze(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """The communications API's clock (its transactions and what it reads back) stands at `moment`."""
    monkeypatch.setattr(flows, "utcnow", lambda: moment)


# --- when notices are opened ---------------------------------------------------------------------


def test_an_alert_opens_the_ml_lead_notice_and_it_goes_out_at_once_through_paging(
    protocol_client: TestClient, receiver: HttpReceiver
) -> None:
    incident_id = open_outage(protocol_client)
    opened = when(incident_of(protocol_client, incident_id)["opened_at"])

    (only,) = notices(protocol_client, incident_id)  # support counts from acknowledged: not yet
    assert only["policy"] == "outage"
    assert only["audience"] == "ml-lead"
    assert only["audience_name"] == "ML lead"
    assert only["sequence"] == 1
    assert only["holding"] is False
    assert only["approval"] is False
    assert only["channel"] == "paging"
    assert only["template"] == "ml-lead"
    assert when(only["due_at"]) == opened + timedelta(minutes=15)
    headline = "[SEV2] fraud-scorer: DataPipelineStale on fraud-scorer"
    headline += f" (technical failure, incident #{incident_id})"
    assert only["text"].startswith(headline + "\n")
    assert f"Incident: http://bridge.test/incidents/{incident_id}\n" in only["text"]

    # Carol needs to approve nothing: the notice went out with the incident.
    assert only["status"] == "sent"
    assert only["sent_by"] == SYSTEM
    assert when(only["sent_at"]) == opened
    assert only["via"] is None
    assert only["seconds_left"] is None
    (row,) = notifications(protocol_client, incident_id, kind="communication")
    assert (row.recipient, row.channel, row.status) == ("carol", "webhook", "delivered")
    assert row.communication_id == only["id"]
    assert row.body == only["text"]
    (hook,) = receiver.wait_for(1, "/carol")
    assert hook.json["event"] == "communication"
    assert hook.json["recipient"] == "carol"
    assert hook.json["incident"]["id"] == incident_id
    assert hook.delivery_id == row.delivery_id

    (due,) = entries(protocol_client, incident_id, "communication_due")
    assert due["actor"] == SYSTEM
    assert due["message"] == (
        f"notice to ml-lead due by {opened + timedelta(minutes=15):%Y-%m-%d %H:%M} UTC (policy outage)"
    )
    assert due["data"]["communication"] == only["id"]
    (sent,) = entries(protocol_client, incident_id, "communication_sent")
    assert sent["actor"] == SYSTEM
    assert sent["message"] == "notice to ml-lead sent to 1 contact(s) through paging"
    assert sent["data"]["late"] is False

    again = notice_action(protocol_client, incident_id, only["id"], "send", expect=409, by="dave")
    assert again["detail"] == "cannot send it: the notice is already sent"
    assert len(receiver.at("/carol")) == 1


def test_a_notice_that_goes_out_at_once_is_stored_sent_in_one_statement(
    protocol_client: TestClient,
) -> None:
    written: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.split()
        if words[0] in ("INSERT", "UPDATE") and "communication" in words[:3]:
            written.append(words[0])

    event.listen(Engine, "before_cursor_execute", record)
    try:
        incident_id = open_outage(protocol_client)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    (only,) = notices(protocol_client, incident_id)
    assert only["status"] == "sent" and only["text"].startswith("[SEV2] fraud-scorer")
    assert written == ["INSERT"]  # stored as sent with its text: no UPDATE after the INSERT


def test_the_support_notice_exists_only_once_someone_acknowledges(
    protocol_client: TestClient, receiver: HttpReceiver
) -> None:
    incident_id = open_outage(protocol_client)
    assert notices_of(protocol_client, incident_id, "outage", "support") == []
    assert receiver.at("/fallback") == []

    acknowledged = act_ack(protocol_client, incident_id)
    wait_settled(protocol_client)

    support = notice(protocol_client, incident_id, "outage", "support")
    assert support["audience"] == "support"
    assert support["channel"] == "paging"  # the risk-ml team's fallback contacts
    assert support["approval"] is False
    assert when(support["due_at"]) == acknowledged + timedelta(hours=1)
    assert len(notices(protocol_client, incident_id)) == 2
    # Internal, no approval: out at once, to the team's fallback webhook.
    assert (support["status"], support["sent_by"]) == ("sent", SYSTEM)
    (hook,) = receiver.wait_for(1, "/fallback")
    assert hook.json["event"] == "communication"
    assert hook.json["recipient"] == "team:risk-ml"


def act_ack(client: TestClient, incident_id: int) -> datetime:
    response = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "alice"})
    assert response.status_code == 200, response.text
    return when(response.json()["incident"]["acknowledged_at"])


def test_a_webhook_contact_receives_the_notice_text(
    protocol_client: TestClient, receiver: HttpReceiver
) -> None:
    incident_id = open_outage(protocol_client)
    ml_lead = notice(protocol_client, incident_id, "outage", "ml-lead")
    assert ml_lead["status"] == "sent"

    (hook,) = receiver.wait_for(1, "/carol")
    assert any(ml_lead["text"].strip() in value for value in strings(hook.json)), hook.json


def strings(value: object) -> list[str]:
    """Every string anywhere in a decoded JSON document."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_a_notice_reaches_slack_and_webhook_contacts_never_pagerduty(
    protocol_client: TestClient, receiver: HttpReceiver
) -> None:
    """Legal is bob: webhook, Slack and PagerDuty. The notice goes to the first two only."""
    incident_id = report_incident(protocol_client, "fairness_violation", "SEV2", "credit-scorer")["id"]
    wait_settled(protocol_client)
    pagerduty_before = len(receiver.at("/pagerduty"))
    legal = notice(protocol_client, incident_id, "fairness", "legal")
    assert legal["approval"] is True

    sent = notice_action(protocol_client, incident_id, legal["id"], "send", by="erin")
    wait_settled(protocol_client)

    assert sent["status"] == "sent"
    assert sent["approved_by"] == "erin"  # sending it is approving it
    rows = notifications(protocol_client, incident_id, kind="communication")
    assert sorted((n.recipient, n.channel, n.status) for n in rows) == [
        ("bob", "slack", "delivered"),
        ("bob", "webhook", "delivered"),
    ]
    (slack,) = receiver.wait_for(1, "/slack/bob")
    first_line = legal["text"].splitlines()[0]
    assert first_line == f"[SEV2] Legal review: credit-scorer, fairness violation (incident #{incident_id})"
    assert first_line in slack.body.decode()
    assert receiver.wait_for(1, "/bob")[0].json["event"] == "communication"
    assert len(receiver.at("/pagerduty")) == pagerduty_before


# --- approval, and the record of what was sent --------------------------------------------------


def serious_fairness(client: TestClient) -> int:
    """A fairness incident on credit-scorer assessed as serious: affected users must be told."""
    incident_id: int = report_incident(client, "fairness_violation", "SEV2", "credit-scorer")["id"]
    response = client.put(f"/api/v1/incidents/{incident_id}/harm", json={"by": "alice", "level": "serious"})
    assert response.status_code == 200, response.text
    wait_settled(client)
    return incident_id


def test_affected_users_cannot_be_sent_through_paging_and_nothing_changes(
    protocol_client: TestClient,
) -> None:
    incident_id = serious_fairness(protocol_client)
    users = notice(protocol_client, incident_id, "fairness-users", "affected-users")
    assert users["approval"] is True
    assert users["channel"] == "letter from the customer team"
    timeline_before = len(incident_of(protocol_client, incident_id)["timeline"])

    refused = notice_action(protocol_client, incident_id, users["id"], "send", expect=409, by="erin")

    assert refused["error"] == "conflict"
    assert refused["detail"] == (
        "the affected-users audience is reached by letter from the customer team: "
        "send it that way and record it with `via`"
    )
    assert notice(protocol_client, incident_id, "fairness-users", "affected-users") == {
        **users,
        "seconds_left": pytest.approx(users["seconds_left"], abs=60),
    }
    assert len(incident_of(protocol_client, incident_id)["timeline"]) == timeline_before
    assert notifications(protocol_client, incident_id, kind="communication") == []


def test_a_letter_is_recorded_with_the_exact_text_that_went_out(protocol_client: TestClient) -> None:
    incident_id = serious_fairness(protocol_client)
    users = notice(protocol_client, incident_id, "fairness-users", "affected-users")
    edited = "Dear customer,\n\nA problem with our credit scoring may have affected you.\n  Reference 7.\n"

    sent = notice_action(
        protocol_client, incident_id, users["id"], "send", by="erin", via="letter", text=edited
    )

    assert sent["status"] == "sent"
    assert sent["text"] == edited
    assert sent["sent_by"] == "erin"
    assert sent["approved_by"] == "erin"
    assert sent["via"] == "letter"
    assert sent["sent_at"] is not None
    assert notice(protocol_client, incident_id, "fairness-users", "affected-users")["text"] == edited
    assert notifications(protocol_client, incident_id, kind="communication") == []
    (entry,) = entries(protocol_client, incident_id, "communication_sent")
    assert entry["message"] == "notice to affected-users sent via letter"
    assert entry["actor"] == "erin"

    again = notice_action(
        protocol_client, incident_id, users["id"], "send", expect=409, by="erin", via="letter"
    )
    assert again["detail"] == "cannot send it: the notice is already sent"
    assert notice(protocol_client, incident_id, "fairness-users", "affected-users")["text"] == edited
    assert len(entries(protocol_client, incident_id, "communication_sent")) == 1


def test_an_edit_is_a_draft_that_needs_approval_again(protocol_client: TestClient) -> None:
    incident_id = report_incident(protocol_client, "fairness_violation", "SEV2", "credit-scorer")["id"]
    legal = notice(protocol_client, incident_id, "fairness", "legal")
    assert legal["status"] == "pending"

    drafted = notice_action(protocol_client, incident_id, legal["id"], "edit", by="erin", text="Draft one.")
    assert (drafted["status"], drafted["text"], drafted["edited_by"]) == ("draft", "Draft one.", "erin")
    assert drafted["approved_by"] is None

    approved = notice_action(protocol_client, incident_id, legal["id"], "approve", by="frank")
    assert approved["status"] == "approved"
    assert approved["approved_by"] == "frank"
    assert approved["approved_at"] is not None
    assert approved["text"] == "Draft one."

    redrafted = notice_action(protocol_client, incident_id, legal["id"], "edit", by="erin", text="Draft two.")
    assert redrafted["status"] == "draft"
    assert (redrafted["approved_by"], redrafted["approved_at"]) == (None, None)

    kinds = [e["kind"] for e in incident_of(protocol_client, incident_id)["timeline"]]
    assert kinds.count("communication_drafted") == 2
    assert kinds.count("communication_approved") == 1


def test_approving_freezes_the_rendered_text(protocol_client: TestClient) -> None:
    incident_id = report_incident(protocol_client, "fairness_violation", "SEV2", "credit-scorer")["id"]
    legal = notice(protocol_client, incident_id, "fairness", "legal")
    assert "Harm: not yet assessed." in legal["text"]

    notice_action(protocol_client, incident_id, legal["id"], "approve", by="frank")
    response = protocol_client.put(
        f"/api/v1/incidents/{incident_id}/harm", json={"by": "alice", "level": "issue"}
    )
    assert response.status_code == 200, response.text

    # The approved text stays what frank approved, even though the facts changed since.
    assert notice(protocol_client, incident_id, "fairness", "legal")["text"] == legal["text"]


def test_cancelling_needs_a_reason_and_keeps_the_notice(protocol_client: TestClient) -> None:
    incident_id = report_incident(protocol_client, "fairness_violation", "SEV2", "credit-scorer")["id"]
    legal = notice(protocol_client, incident_id, "fairness", "legal")

    refused = notice_action(protocol_client, incident_id, legal["id"], "cancel", expect=422, by="erin")
    assert refused["error"] == "invalid_request"
    assert ["body", "reason"] in [e["loc"] for e in refused["errors"]]
    assert notice(protocol_client, incident_id, "fairness", "legal")["status"] == "pending"

    cancelled = notice_action(
        protocol_client, incident_id, legal["id"], "cancel", by="erin", reason="legal was told in person"
    )
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "legal was told in person"
    assert [n["id"] for n in notices(protocol_client, incident_id)] == [legal["id"]]
    (entry,) = entries(protocol_client, incident_id, "communication_cancelled")
    assert entry["actor"] == "erin"
    assert entry["message"] == "notice to legal cancelled: legal was told in person"

    again = notice_action(
        protocol_client, incident_id, legal["id"], "cancel", expect=409, by="erin", reason="x"
    )
    assert again["detail"] == "cannot cancel it: the notice is already cancelled"


def test_a_notice_of_another_incident_is_not_found(protocol_client: TestClient) -> None:
    fairness_id = report_incident(protocol_client, "fairness_violation", "SEV2", "credit-scorer")["id"]
    other_id = report_incident(protocol_client, "technical_failure", "SEV3", "fraud-scorer")["id"]
    legal = notice(protocol_client, fairness_id, "fairness", "legal")

    attempts: dict[str, dict[str, Any]] = {
        "edit": {"by": "erin", "text": "hijacked"},
        "approve": {"by": "erin"},
        "send": {"by": "erin", "via": "letter"},
        "cancel": {"by": "erin", "reason": "hijacked"},
        "postpone": {"by": "erin", "minutes": 5},
    }
    for action, body in attempts.items():
        answer = notice_action(protocol_client, other_id, legal["id"], action, expect=404, **body)
        assert answer["detail"] == f"communication {legal['id']} not found on incident {other_id}", action

    after = notice(protocol_client, fairness_id, "fairness", "legal")
    assert (after["status"], after["text"], after["due_at"]) == ("pending", legal["text"], legal["due_at"])
    assert notices(protocol_client, other_id) == []
    missing = protocol_client.get("/api/v1/incidents/999999/communications")
    assert missing.status_code == 404


# --- cancellation when the incident no longer calls for a notice ---------------------------------


def test_a_downgrade_cancels_unsent_notices_and_raising_it_again_opens_new_ones(
    protocol_client: TestClient,
) -> None:
    incident = report_incident(protocol_client, "technical_failure", "SEV1", "fraud-scorer")
    incident_id, opened = incident["id"], when(incident["opened_at"])
    wait_settled(protocol_client)
    before = {(n["policy"], n["audience"], n["sequence"]): n for n in notices(protocol_client, incident_id)}
    assert {key: n["status"] for key, n in before.items()} == {
        ("outage", "ml-lead", 1): "sent",  # went out at once
        ("sev1-updates", "ml-lead", 1): "pending",  # update 1 is due 30m after opening
    }
    update = before[("sev1-updates", "ml-lead", 1)]

    reclassify(protocol_client, incident_id, "SEV3")

    after = {(n["policy"], n["audience"], n["sequence"]): n for n in notices(protocol_client, incident_id)}
    assert set(after) == set(before)  # kept, not deleted
    cancelled = after[("sev1-updates", "ml-lead", 1)]
    assert cancelled["id"] == update["id"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"].startswith("no longer required")
    assert cancelled["cancel_reason"] == "no longer required (now SEV3 technical_failure, triggered)"
    assert cancelled["seconds_left"] is None
    assert after[("outage", "ml-lead", 1)] == before[("outage", "ml-lead", 1)]  # what was sent stays sent
    (entry,) = entries(protocol_client, incident_id, "communication_cancelled")
    assert entry["actor"] == SYSTEM
    assert entry["data"]["communication"] == update["id"]
    assert entry["message"] == (
        "notice to ml-lead cancelled: no longer required (now SEV3 technical_failure, triggered)"
    )

    reclassify(protocol_client, incident_id, "SEV1")

    updates = notices_of(protocol_client, incident_id, "sev1-updates", "ml-lead")
    assert [(n["sequence"], n["status"]) for n in updates] == [(1, "cancelled"), (2, "pending")]
    assert when(updates[1]["due_at"]) == opened + timedelta(minutes=30)
    assert updates[1]["id"] != update["id"]
    # The notice already sent is not sent a second time.
    assert [
        (n["sequence"], n["status"]) for n in notices_of(protocol_client, incident_id, "outage", "ml-lead")
    ] == [(1, "sent")]
    assert len(notices(protocol_client, incident_id)) == 3


# --- recurring updates ---------------------------------------------------------------------------


def test_sev1_updates_follow_one_another_every_30_minutes_until_resolved(
    protocol_client: TestClient, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = report_incident(protocol_client, "technical_failure", "SEV1", "fraud-scorer")
    incident_id, opened = incident["id"], when(incident["opened_at"])
    wait_settled(protocol_client)
    first = notice(protocol_client, incident_id, "sev1-updates", "ml-lead")
    assert first["template"] == "stakeholders-update"
    assert first["status"] == "pending"
    assert when(first["due_at"]) == opened + timedelta(minutes=30)
    assert first["text"].startswith("[SEV1] Update 1 on fraud-scorer: technical_failure on fraud-scorer")
    carol_before = len(receiver.at("/carol"))  # the outage notice

    assert run_sweep(protocol_client, opened + timedelta(minutes=29)) == 0
    assert notice(protocol_client, incident_id, "sev1-updates", "ml-lead")["status"] == "pending"

    swept_at = opened + timedelta(minutes=31)
    assert run_sweep(protocol_client, swept_at) == 1

    sent = notice(protocol_client, incident_id, "sev1-updates", "ml-lead")
    assert (sent["status"], sent["sent_by"]) == ("sent", SYSTEM)
    assert when(sent["sent_at"]) == swept_at
    assert len(receiver.wait_for(carol_before + 1, "/carol")) == carol_before + 1
    assert reminders(protocol_client, incident_id) == []  # sent, so nobody is reminded

    second = notice(protocol_client, incident_id, "sev1-updates", "ml-lead", sequence=2)
    assert second["status"] == "pending"
    assert when(second["due_at"]) == swept_at + timedelta(minutes=30)
    assert "Update 2 on fraud-scorer" in second["text"]
    assert f"Next update by: {swept_at + timedelta(minutes=30):%Y-%m-%d %H:%M} UTC." in second["text"]
    assert len(notices_of(protocol_client, incident_id, "sev1-updates", "ml-lead")) == 2

    later = swept_at + timedelta(minutes=10)
    freeze(monkeypatch, later)
    postponed = notice_action(protocol_client, incident_id, second["id"], "postpone", by="dave", minutes=45)
    assert when(postponed["due_at"]) == later + timedelta(minutes=45)
    assert postponed["seconds_left"] == 45 * 60
    (entry,) = entries(protocol_client, incident_id, "communication_postponed")
    assert entry["message"] == (
        f"notice to ml-lead postponed to {later + timedelta(minutes=45):%Y-%m-%d %H:%M} UTC"
    )
    monkeypatch.undo()
    # Not due at its old time any more.
    assert run_sweep(protocol_client, swept_at + timedelta(minutes=31)) == 0
    assert notice(protocol_client, incident_id, "sev1-updates", "ml-lead", sequence=2)["status"] == "pending"

    response = protocol_client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "alice"})
    assert response.status_code == 200, response.text

    updates = notices_of(protocol_client, incident_id, "sev1-updates", "ml-lead")
    assert [(n["sequence"], n["status"]) for n in updates] == [(1, "sent"), (2, "cancelled")]
    assert updates[1]["cancel_reason"] == "no longer required (now SEV1 technical_failure, resolved)"
    assert run_sweep(protocol_client, later + timedelta(hours=2)) == 0
    assert len(notices_of(protocol_client, incident_id, "sev1-updates", "ml-lead")) == 2


def test_a_person_may_send_an_update_before_it_is_due(protocol_client: TestClient) -> None:
    incident_id = report_incident(protocol_client, "technical_failure", "SEV1", "fraud-scorer")["id"]
    first = notice(protocol_client, incident_id, "sev1-updates", "ml-lead")

    sent = notice_action(protocol_client, incident_id, first["id"], "send", by="dave")
    wait_settled(protocol_client)

    assert (sent["sequence"], sent["status"], sent["sent_by"]) == (1, "sent", "dave")
    second = notice(protocol_client, incident_id, "sev1-updates", "ml-lead", sequence=2)
    assert when(second["due_at"]) == when(sent["sent_at"]) + timedelta(minutes=30)
    assert second["status"] == "pending"


def test_a_postponement_survives_the_next_change_to_the_incident(protocol_client: TestClient) -> None:
    incident_id = report_incident(protocol_client, "technical_failure", "SEV1", "fraud-scorer")["id"]
    update = notice(protocol_client, incident_id, "sev1-updates", "ml-lead")
    postponed = notice_action(protocol_client, incident_id, update["id"], "postpone", by="dave", minutes=120)
    assert when(postponed["due_at"]) > when(update["due_at"])

    act_ack(protocol_client, incident_id)

    assert notice(protocol_client, incident_id, "sev1-updates", "ml-lead")["due_at"] == postponed["due_at"]


def test_a_holding_statement_cannot_be_postponed(protocol_client: TestClient) -> None:
    incident_id = serious_fairness(protocol_client)
    holding = notice(protocol_client, incident_id, "fairness-users", "affected-users", holding=True)

    refused = notice_action(
        protocol_client, incident_id, holding["id"], "postpone", expect=422, by="dave", minutes=60
    )

    assert refused["detail"] == "a holding statement cannot be postponed: it is what keeps people informed"
    assert (
        notice(protocol_client, incident_id, "fairness-users", "affected-users", holding=True)["due_at"]
        == (holding["due_at"])
    )


ALICE_TOO_YAML = PROTOCOL_YAML.replace(
    "ml-lead: {name: ML lead, people: [carol]}", "ml-lead: {name: ML lead, people: [alice, carol]}"
)


@pytest.mark.parametrize("protocol_yaml", [ALICE_TOO_YAML])
def test_a_person_already_paged_is_not_told_twice(
    protocol_client: TestClient, receiver: HttpReceiver
) -> None:
    incident_id = open_outage(protocol_client)  # pages alice, on call for fraud-scorer

    (only,) = notices(protocol_client, incident_id)
    assert (only["audience"], only["status"]) == ("ml-lead", "sent")
    told = notifications(protocol_client, incident_id, kind="communication")
    assert {n.recipient for n in told} == {"carol"}  # alice has the page already
    assert {n.recipient for n in notifications(protocol_client, incident_id, kind="page")} == {"alice"}
    assert [r.json["event"] for r in receiver.at("/alice")] == ["page"]
