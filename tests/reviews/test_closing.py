"""The closing rule: only a resolved incident closes, and only once its required review is
approved; approval names every missing piece; a closed incident never reopens (its key firing
again opens a new incident); on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.paging.conftest import alert_body, fire_one, wait_settled
from tests.reviews.conftest import (
    API,
    COMPLETE,
    act,
    add_action,
    approve,
    close,
    entries,
    get_review,
    incident_of,
    put_review,
    report,
    resolved_incident,
    when,
)

ROOT_CAUSE = "`root_cause` needs a `category` and a `narrative`"
FACTORS = "`contributing_factors`"
ACTION = "add an improvement action, or say why none is needed in `no_action_reason`"
HARM = "`harm_assessment` needs `harm_level`, `users_notified` and `notes`"
ALL_PROBLEMS = (ROOT_CAUSE, FACTORS, ACTION, HARM)


def refused(client: TestClient, incident_id: int, **body: Any) -> str:
    """PUT .../review that must be refused with 409; returns the detail."""
    answer = put_review(client, incident_id, expect=409, **body)
    assert answer["error"] == "conflict"
    detail: str = answer["detail"]
    return detail


def test_an_open_incident_cannot_be_closed(review_client: TestClient) -> None:
    incident = report(review_client, severity="SEV3")
    response = close(review_client, incident["id"])
    assert response.status_code == 409, response.text
    assert "resolve it before closing it" in response.json()["detail"]
    act(review_client, incident["id"], "acknowledge")
    response = close(review_client, incident["id"])
    assert response.status_code == 409, response.text
    assert "is acknowledged" in response.json()["detail"]
    assert incident_of(review_client, incident["id"])["status"] == "acknowledged"


def test_a_required_review_in_draft_blocks_closing(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    response = close(review_client, incident["id"])
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert "post-incident review is required" in detail
    assert "is draft" in detail
    after = incident_of(review_client, incident["id"])
    assert (after["status"], after["closed_at"]) == ("resolved", None)


def test_approving_an_empty_review_names_every_missing_piece(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    detail = refused(review_client, incident["id"], status="approved")
    assert detail.startswith("the review cannot be approved yet: ")
    for problem in ALL_PROBLEMS:
        assert problem in detail
    review = get_review(review_client, incident["id"])
    assert (review["status"], review["approved_by"], review["approved_at"]) == ("draft", None, None)
    assert entries(review_client, incident["id"], "review_approved") == []


# Each piece approval asks for, taken out of an otherwise complete review.
INCOMPLETE: dict[str, tuple[dict[str, Any], str]] = {
    "no root-cause category": ({"root_cause": {"narrative": "the feed changed"}}, ROOT_CAUSE),
    "blank narrative": ({"root_cause": {"category": "process", "narrative": "  "}}, ROOT_CAUSE),
    "no contributing factor": ({"contributing_factors": []}, FACTORS),
    "no action and no reason": ({"no_action_reason": ""}, ACTION),
    "no harm level": (
        {"harm_assessment": {"users_notified": False, "notes": "none"}},
        HARM,
    ),
    "users_notified unsaid": (
        {"harm_assessment": {"harm_level": "none", "notes": "none"}},
        HARM,
    ),
    "no harm notes": (
        {"harm_assessment": {"harm_level": "none", "users_notified": False}},
        HARM,
    ),
    "notified, not said when": (
        {"harm_assessment": {"harm_level": "issue", "users_notified": True, "notes": "letters sent"}},
        "`harm_assessment.users_notified_at` says when the users were told",
    ),
}


@pytest.mark.parametrize("missing", list(INCOMPLETE))
def test_approval_names_the_one_missing_piece_and_saves_nothing(
    review_client: TestClient, missing: str
) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    change, problem = INCOMPLETE[missing]
    body = {**COMPLETE, "no_action_reason": "the feed was retired", "summary": "rewritten", **change}

    detail = refused(review_client, incident["id"], status="approved", by="bob", **body)

    assert problem in detail
    others = [p for p in (*ALL_PROBLEMS, "users_notified_at") if p != problem and p not in problem]
    for other in others:
        assert other not in detail, detail
    review = get_review(review_client, incident["id"])
    assert (review["status"], review["approved_by"], review["approved_at"]) == ("draft", None, None)
    assert review["summary"] != "rewritten"  # a refused change is not half applied
    assert review["contributing_factors"] == []
    assert entries(review_client, incident["id"], "review_approved") == []
    assert close(review_client, incident["id"]).status_code == 409


def test_an_action_stands_in_for_no_action_reason(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    assert ACTION in refused(review_client, incident["id"], status="approved", **COMPLETE)
    add_action(review_client, incident["id"], owner="bob")
    approved = put_review(review_client, incident["id"], status="approved", **COMPLETE)
    assert approved["status"] == "approved"
    assert approved["no_action_reason"] == ""


def test_approve_then_close_then_nothing_moves_it(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    incident_id = incident["id"]

    approved = approve(review_client, incident_id, by="bob")
    assert (approved["status"], approved["approved_by"]) == ("approved", "bob")
    assert approved["approved_at"] is not None
    assert approved["overdue"] is False
    (entry,) = entries(review_client, incident_id, "review_approved")
    assert entry["actor"] == "bob"

    first = close(review_client, incident_id, by="carol")
    assert first.status_code == 200, first.text
    closed = first.json()
    assert (closed["status"], closed["closed_by"]) == ("closed", "carol")
    assert when(closed["closed_at"]) >= when(approved["approved_at"])

    second = close(review_client, incident_id, by="dave")
    assert second.status_code == 200, second.text
    assert (second.json()["status"], second.json()["closed_by"]) == ("closed", "carol")
    assert second.json()["closed_at"] == closed["closed_at"]
    assert len(entries(review_client, incident_id, "closed")) == 1

    ack = review_client.post(f"{API}/{incident_id}/acknowledge", json={"by": "alice"})
    assert ack.status_code == 409, ack.text
    resolve = review_client.post(f"{API}/{incident_id}/resolve", json={"by": "alice"})
    assert resolve.status_code == 200, resolve.text
    assert resolve.json()["changed"] is False
    assert incident_of(review_client, incident_id)["status"] == "closed"


def test_a_review_sent_back_to_in_review_blocks_closing_again(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV1")
    approve(review_client, incident["id"])
    put_review(review_client, incident["id"], status="in_review")
    response = close(review_client, incident["id"])
    assert response.status_code == 409, response.text
    assert "is in_review" in response.json()["detail"]


# --- a closed incident never reopens --------------------------------------------------------------------


def accuracy_drop(status: str = "firing", starts_at: str | None = None) -> dict[str, Any]:
    """ModelAccuracyDrop on fraud-scorer: the shipped accuracy-drop rule (SEV2, resolves with its
    alerts, reopens within 1h)."""
    body = alert_body("ModelAccuracyDrop", "fraud-scorer", status=status)
    if starts_at is not None:
        body["alerts"][0]["startsAt"] = starts_at
    return body


EPISODE_1 = "2026-11-27T05:06:00.049512928Z"
EPISODE_2 = "2026-11-27T06:30:00Z"


def alert_born_resolved(client: TestClient) -> int:
    """An accuracy-drop incident opened by Alertmanager and resolved by its alert's resolution."""
    incident_id = fire_one(client, accuracy_drop(starts_at=EPISODE_1))
    assert fire_one(client, accuracy_drop("resolved", starts_at=EPISODE_1)) == incident_id
    wait_settled(client)
    resolved = incident_of(client, incident_id)
    assert (resolved["status"], resolved["severity"], resolved["rule"]) == (
        "resolved",
        "SEV2",
        "accuracy-drop",
    )
    return incident_id


def test_a_resolved_incidents_key_firing_again_reopens_it(review_client: TestClient) -> None:
    """The control of the test below: before closing, the same alert reopens the incident."""
    incident_id = alert_born_resolved(review_client)
    assert get_review(review_client, incident_id)["status"] == "draft"  # resolving by alert starts it too
    assert fire_one(review_client, accuracy_drop(starts_at=EPISODE_2)) == incident_id
    assert incident_of(review_client, incident_id)["status"] == "triggered"


def test_a_closed_incidents_key_firing_again_opens_a_new_incident(review_client: TestClient) -> None:
    incident_id = alert_born_resolved(review_client)
    review = get_review(review_client, incident_id)
    assert (review["owner"], review["detection"]["how"]) == ("alice", "alert rule accuracy-drop")
    approve(review_client, incident_id)
    assert close(review_client, incident_id).status_code == 200

    new_id = fire_one(review_client, accuracy_drop(starts_at=EPISODE_2))

    assert new_id != incident_id
    old, new = incident_of(review_client, incident_id), incident_of(review_client, new_id)
    assert old["status"] == "closed"
    assert entries(review_client, incident_id, "reopened") == []
    assert (new["status"], new["key"], new["rule"]) == ("triggered", old["key"], "accuracy-drop")
    # The new incident has no review of its own yet; the closed one keeps its approved review.
    assert review_client.get(f"{API}/{new_id}/review").status_code == 404
    assert get_review(review_client, incident_id)["status"] == "approved"

    # Its resolution resolves the new incident, which starts its own review.
    assert fire_one(review_client, accuracy_drop("resolved", starts_at=EPISODE_2)) == new_id
    wait_settled(review_client)
    assert incident_of(review_client, new_id)["status"] == "resolved"
    assert incident_of(review_client, incident_id)["status"] == "closed"
    assert get_review(review_client, new_id)["status"] == "draft"
