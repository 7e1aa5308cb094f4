"""Writing a review: the fields given replace the stored ones, an approved review is frozen
until it is sent back to `in_review`, and PUT starts a review where there is none; on both
databases."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tests.reviews.conftest import (
    API,
    approve,
    close,
    entries,
    get_review,
    put_review,
    report,
    resolved_incident,
    when,
)


def test_the_fields_given_replace_the_stored_ones_and_the_rest_stays(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    before = get_review(review_client, incident["id"])

    after = put_review(
        review_client,
        incident["id"],
        by="bob",
        went_well=["the drift alert fired within minutes"],
        root_cause={"category": "training_data", "narrative": "labels of one week were shifted"},
    )

    assert after["went_well"] == ["the drift alert fired within minutes"]
    assert after["root_cause"] == {
        "category": "training_data",
        "narrative": "labels of one week were shifted",
    }
    for kept in ("summary", "detection", "impact", "timeline", "due_at", "owner", "status"):
        assert after[kept] == before[kept], kept
    assert after["updated_by"] == "bob"
    assert get_review(review_client, incident["id"])["went_well"] == after["went_well"]
    (edited,) = entries(review_client, incident["id"], "review_edited")
    assert (edited["actor"], edited["message"]) == ("bob", "review edited: root_cause, went_well")


def test_an_approved_review_is_frozen_unless_sent_back_to_in_review(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    approved = approve(review_client, incident["id"], by="bob")

    for change in (
        {"summary": "a quiet rewrite"},
        {"summary": "a quiet rewrite", "status": "approved"},
        {"summary": "a quiet rewrite", "status": "draft"},
        {"owner": "carol"},
    ):
        answer = put_review(review_client, incident["id"], expect=409, by="carol", **change)
        assert "set `status` to `in_review`" in answer["detail"], change
    unchanged = get_review(review_client, incident["id"])
    assert (unchanged["status"], unchanged["approved_by"]) == ("approved", "bob")
    assert (unchanged["summary"], unchanged["owner"]) == (approved["summary"], "alice")
    assert unchanged["updated_at"] == approved["updated_at"]
    assert entries(review_client, incident["id"], "review_edited") == []


def test_in_review_reopens_an_approved_review_for_edits(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    approve(review_client, incident["id"], by="bob")

    reopened = put_review(
        review_client, incident["id"], by="carol", status="in_review", summary="a second look"
    )

    assert (reopened["status"], reopened["approved_by"], reopened["approved_at"]) == ("in_review", None, None)
    assert reopened["summary"] == "a second look"
    (entry,) = entries(review_client, incident["id"], "review_reopened")
    assert entry["actor"] == "carol"
    # Now it may be edited without saying the status again, and must be approved again to close.
    edited = put_review(review_client, incident["id"], went_badly=["nobody owned the feed contract"])
    assert (edited["status"], edited["went_badly"]) == ("in_review", ["nobody owned the feed contract"])
    assert close(review_client, incident["id"]).status_code == 409
    again = put_review(review_client, incident["id"], by="dave", status="approved")
    assert (again["status"], again["approved_by"]) == ("approved", "dave")
    assert close(review_client, incident["id"]).status_code == 200


def test_put_starts_a_review_for_an_open_incident(review_client: TestClient) -> None:
    incident = report(review_client, severity="SEV2")
    assert review_client.get(f"{API}/{incident['id']}/review").status_code == 404

    started = put_review(review_client, incident["id"], by="carol", went_well=["caught by a user"])

    assert (started["status"], started["required"], started["owner"]) == ("draft", True, "alice")
    assert started["went_well"] == ["caught by a user"]
    assert started["updated_by"] == "carol"
    # Not resolved yet: due counts from now, and there is no duration yet.
    assert started["impact"]["duration_seconds"] is None
    assert when(started["due_at"]) == when(started["created_at"]) + timedelta(days=5)
    (entry,) = entries(review_client, incident["id"], "review_started")
    assert entry["actor"] == "carol"
    # Resolving later starts no second review.
    resolve = review_client.post(f"{API}/{incident['id']}/resolve", json={"by": "alice"})
    assert resolve.status_code == 200, resolve.text
    assert len(entries(review_client, incident["id"], "review_started")) == 1


def test_put_starts_a_review_for_an_incident_that_needs_none(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV4")

    started = put_review(review_client, incident["id"], summary="worth writing down anyway")

    assert (started["status"], started["required"]) == ("draft", False)
    assert started["summary"] == "worth writing down anyway"
    assert when(started["detection"]["when"]) == when(incident["opened_at"])
    assert when(started["due_at"]) == when(incident["resolved_at"]) + timedelta(days=5)
    assert get_review(review_client, incident["id"])["summary"] == "worth writing down anyway"
    # Not required: a draft does not hold the incident open.
    response = close(review_client, incident["id"])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "closed"


def test_a_review_of_an_unknown_incident_is_404(review_client: TestClient) -> None:
    assert review_client.get(f"{API}/999999/review").status_code == 404
    response = review_client.put(f"{API}/999999/review", json={"by": "alice", "summary": "x"})
    assert response.status_code == 404, response.text
    assert close(review_client, 999999).status_code == 404
