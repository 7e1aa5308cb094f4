"""Which incidents get a post-incident review when they resolve, what the draft is pre-filled
with, and how its owner is told; on both databases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.paging.conftest import HttpReceiver, SmtpServer, wait_settled
from tests.reviews.conftest import (
    API,
    act,
    close,
    entries,
    get_review,
    reclassify,
    reminders,
    report,
    resolved_incident,
    sent_to,
    when,
)


def review_text(incident_id: int) -> str:
    return f"A post-incident review of incident #{incident_id} "


def test_a_resolved_sev2_incident_gets_a_prefilled_draft_review_its_owner_is_told_of(
    review_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    incident = report(
        review_client, severity="SEV2", description="Every transaction scored 0.5 for forty minutes"
    )
    incident_id = incident["id"]
    wait_settled(review_client)
    missing = review_client.get(f"{API}/{incident_id}/review")
    assert missing.status_code == 404, missing.text
    assert "required once it resolves" in missing.json()["detail"]
    mails = len(smtp.messages)

    resolved = act(review_client, incident_id, "resolve")
    wait_settled(review_client)

    review = get_review(review_client, incident_id)
    assert (review["status"], review["required"], review["owner"]) == ("draft", True, "alice")
    assert incident["owner"] == "alice"
    resolved_at, opened_at = when(resolved["resolved_at"]), when(resolved["opened_at"])
    assert when(review["due_at"]) == resolved_at + timedelta(days=5)
    assert review["overdue"] is False
    assert (review["approved_by"], review["approved_at"]) == (None, None)
    # Pre-filled from the incident.
    assert review["summary"] == "Every transaction scored 0.5 for forty minutes"
    assert when(review["detection"]["when"]) == opened_at
    assert review["detection"]["how"] == "user report by dave"
    assert review["impact"]["duration_seconds"] == (resolved_at - opened_at).total_seconds()
    assert review["impact"]["duration_seconds"] > 0
    timeline = review["timeline"]
    assert any(
        when(e["at"]) == resolved_at and (e["what"], e["actor"]) == ("resolved by alice", "alice")
        for e in timeline
    )
    assert when(timeline[0]["at"]) == opened_at  # the report itself opens the timeline
    # Nothing a person must write is made up.
    assert review["root_cause"] == {"category": None, "narrative": ""}
    assert review["contributing_factors"] == []
    assert review["actions"] == []
    (started,) = entries(review_client, incident_id, "review_started")
    assert started["data"] == {"review": started["data"]["review"], "owner": "alice"}

    # The owner is told through their contacts (a reminder never goes to a pager service).
    told = reminders(review_client, incident_id)
    assert sent_to(told) == [("alice", "email"), ("alice", "webhook")]
    for row in told:
        assert row.status == "delivered"
        assert (row.body or "").startswith(review_text(incident_id))
        assert f"due {when(review['due_at']):%Y-%m-%d %H:%M} UTC" in (row.body or "")
    hooks = [r for r in receiver.at("/alice") if r.json["event"] == "review"]
    assert len(hooks) == 1
    assert (hooks[0].json["recipient"], hooks[0].json["incident"]["id"]) == ("alice", incident_id)
    arrived = smtp.wait_for(mails + 2)[mails:]  # the resolve notice and the review, in any order
    (mail,) = [m for m in arrived if review_text(incident_id) in m.text()]
    assert mail.rcpt_tos == ["alice@example.com"]
    assert receiver.at("/pagerduty") == []

    # Resolving again changes nothing: no second review, nobody told twice.
    again = review_client.post(f"{API}/{incident_id}/resolve", json={"by": "bob"})
    assert again.status_code == 200, again.text
    assert again.json()["changed"] is False
    wait_settled(review_client)
    assert len(reminders(review_client, incident_id)) == 2
    assert len(entries(review_client, incident_id, "review_started")) == 1


def test_an_owner_with_a_chat_contact_reads_the_review_text_at_the_receiver(
    review_client: TestClient, receiver: HttpReceiver
) -> None:
    incident = resolved_incident(review_client, severity="SEV1", model="churn-model")
    review = get_review(review_client, incident["id"])
    assert review["owner"] == "bob"
    assert sent_to(reminders(review_client, incident["id"])) == [("bob", "slack"), ("bob", "webhook")]
    (chat,) = receiver.wait_for(1, "/slack/bob")[-1:]
    assert review_text(incident["id"]) in chat.body.decode()
    assert [r.json["event"] for r in receiver.at("/bob")].count("review") == 1


def test_a_sev3_technical_failure_needs_no_review_and_closes_at_once(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV3")

    response = review_client.get(f"{API}/{incident['id']}/review")
    assert response.status_code == 404, response.text
    assert "not required" in response.json()["detail"]
    assert reminders(review_client, incident["id"]) == []
    assert entries(review_client, incident["id"], "review_started") == []

    closed = close(review_client, incident["id"], by="carol")
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["status"], body["closed_by"]) == ("closed", "carol")
    assert when(body["closed_at"]) >= when(incident["resolved_at"])
    (entry,) = entries(review_client, incident["id"], "closed")
    assert entry["actor"] == "carol"


def test_a_sev3_fairness_violation_needs_a_review(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, type_="fairness_violation", severity="SEV3")
    review = get_review(review_client, incident["id"])
    assert (review["status"], review["required"], review["owner"]) == ("draft", True, "alice")
    assert len(reminders(review_client, incident["id"])) == 2
    assert close(review_client, incident["id"]).status_code == 409


def test_a_sev3_incident_that_was_sev1_needs_a_review(review_client: TestClient) -> None:
    incident = report(review_client, severity="SEV1")
    lowered = reclassify(review_client, incident["id"], severity="SEV3")
    assert (lowered["severity"], lowered["peak_severity"]) == ("SEV3", "SEV1")

    act(review_client, incident["id"], "resolve")
    wait_settled(review_client)

    review = get_review(review_client, incident["id"])
    assert (review["status"], review["required"]) == ("draft", True)
    assert len(reminders(review_client, incident["id"])) == 2
    assert close(review_client, incident["id"]).status_code == 409


def test_a_reviews_section_sets_what_needs_a_review_its_due_and_owner(
    review_settings: Settings, rules_dir: Path
) -> None:
    (rules_dir / "60-reviews.yaml").write_text(
        "reviews:\n  required: {severities: [SEV1], types: [safety]}\n  due: 2d\n  owner: carol\n"
    )
    with TestClient(create_app(review_settings)) as client:
        sev2 = resolved_incident(client, severity="SEV2")
        fairness = resolved_incident(client, type_="fairness_violation", severity="SEV3")
        sev1 = resolved_incident(client, severity="SEV1")

        for not_needed in (sev2, fairness):
            assert client.get(f"{API}/{not_needed['id']}/review").status_code == 404
            assert close(client, not_needed["id"]).status_code == 200
        review = get_review(client, sev1["id"])
        assert review["owner"] == "carol"
        assert when(review["due_at"]) == when(sev1["resolved_at"]) + timedelta(days=2)
        assert sent_to(reminders(client, sev1["id"])) == [("carol", "webhook")]


def test_the_mail_telling_an_owner_of_a_new_review_does_not_say_overdue(
    review_client: TestClient, smtp: SmtpServer
) -> None:
    incident = report(review_client, severity="SEV2")
    wait_settled(review_client)
    mails = len(smtp.messages)
    act(review_client, incident["id"], "resolve")
    wait_settled(review_client)
    (mail,) = [m for m in smtp.wait_for(mails + 2)[mails:] if review_text(incident["id"]) in m.text()]
    review = get_review(review_client, incident["id"])
    assert review["overdue"] is False
    assert not mail.subject.startswith("Overdue")
