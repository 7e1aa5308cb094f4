"""Improvement actions: due dates by priority, ticket links, moving them to done or won't do,
and the list with its filters (overdue by a controllable clock, owner, status, who may see
them); on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.flows import reviews as flows
from tests.paging.conftest import wait_settled
from tests.reviews.conftest import (
    API,
    action_ids,
    action_of,
    actions,
    add_action,
    close_to,
    entries,
    get_review,
    now,
    patch_action,
    reminders,
    resolved_incident,
    sent_to,
    when,
    with_body,
)


def freeze(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """The clock of the reviews API (the overdue filter and flags) at `moment`."""
    monkeypatch.setattr(flows, "utcnow", lambda: moment)


@pytest.fixture
def incident_id(review_client: TestClient) -> int:
    incident: dict[str, Any] = resolved_incident(review_client, severity="SEV2")
    return int(incident["id"])


@pytest.mark.parametrize(("priority", "days"), [("high", 7), ("medium", 30), ("low", 90)])
def test_the_default_due_date_follows_the_priority(
    review_client: TestClient, incident_id: int, priority: str, days: int
) -> None:
    before = now()
    action = add_action(review_client, incident_id, priority=priority, by="bob")
    created = when(action["created_at"])
    assert before - timedelta(seconds=1) <= created <= now() + timedelta(seconds=1)
    assert close_to(when(action["due_at"]), created + timedelta(days=days))
    assert (action["priority"], action["status"], action["created_by"]) == (priority, "open", "bob")
    assert (action["overdue"], action["done_at"], action["reason"]) == (False, None, None)


def test_an_action_is_medium_unless_said_and_an_explicit_due_date_is_kept(
    review_client: TestClient, incident_id: int
) -> None:
    medium = add_action(review_client, incident_id)
    assert medium["priority"] == "medium"
    assert close_to(when(medium["due_at"]), when(medium["created_at"]) + timedelta(days=30))
    assert medium["created_by"] == "alice"  # no `by`: the owner wrote it

    due = "2027-03-01T12:30:00+00:00"
    explicit = add_action(review_client, incident_id, priority="high", due=due)
    assert when(explicit["due_at"]) == datetime.fromisoformat(due)
    assert when(action_of(review_client, explicit["id"])["due_at"]) == datetime.fromisoformat(due)
    assert [a["id"] for a in get_review(review_client, incident_id)["actions"]] == [
        medium["id"],
        explicit["id"],
    ]


def test_a_new_action_is_on_the_timeline_and_its_owner_is_told(
    review_client: TestClient, incident_id: int
) -> None:
    action = add_action(review_client, incident_id, owner="bob", title="Pin the feed schema", by="alice")
    wait_settled(review_client)
    (entry,) = entries(review_client, incident_id, "action_added")
    assert entry["actor"] == "alice"
    assert entry["data"] == {"action": action["id"], "owner": "bob", "priority": "medium"}
    told = with_body(review_client, f"Improvement action #{action['id']} is yours", incident_id)
    assert sent_to(told) == [("bob", "slack"), ("bob", "webhook")]
    assert all(n.status == "delivered" for n in told)


def test_someone_outside_the_on_call_file_owns_an_action_untold(
    review_client: TestClient, incident_id: int
) -> None:
    told = len(reminders(review_client, incident_id))
    action = add_action(review_client, incident_id, owner="erin@example.com")
    assert action["owner"] == "erin@example.com"
    wait_settled(review_client)
    assert len(reminders(review_client, incident_id)) == told


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(document.cookie)", "ftp://tickets.example/1", "tickets.example/1", "//x.example/"],
)
def test_a_ticket_link_must_be_http(review_client: TestClient, incident_id: int, url: str) -> None:
    add_action(review_client, incident_id, expect=422, ticket_url=url)
    assert actions(review_client) == []


def test_an_http_ticket_link_is_kept(review_client: TestClient, incident_id: int) -> None:
    url = "https://github.example/risk-ml/feeds/issues/42"
    action = add_action(review_client, incident_id, ticket_url=url)
    assert action["ticket_url"] == url
    assert action_of(review_client, action["id"])["ticket_url"] == url


def test_wont_do_needs_a_reason(review_client: TestClient, incident_id: int) -> None:
    action = add_action(review_client, incident_id)

    for body in ({"status": "wont_do"}, {"status": "wont_do", "reason": "   "}):
        answer = patch_action(review_client, action["id"], expect=422, by="bob", **body)
        assert "reason" in answer["detail"]
    still = action_of(review_client, action["id"])
    assert (still["status"], still["reason"], still["done_at"]) == ("open", None, None)
    assert entries(review_client, incident_id, "action_updated") == []

    dropped = patch_action(
        review_client, action["id"], status="wont_do", reason="the feed is retired", by="bob"
    )
    assert (dropped["status"], dropped["reason"]) == ("wont_do", "the feed is retired")
    assert dropped["done_at"] is not None
    (entry,) = entries(review_client, incident_id, "action_updated")
    assert entry["actor"] == "bob"
    assert entry["data"] == {"action": action["id"], "from": "open", "to": "wont_do"}


def test_done_sets_done_at_and_reopening_clears_it(review_client: TestClient, incident_id: int) -> None:
    action = add_action(review_client, incident_id)
    started = patch_action(review_client, action["id"], status="in_progress", by="alice")
    assert (started["status"], started["done_at"]) == ("in_progress", None)

    before = now()
    done = patch_action(review_client, action["id"], status="done", by="alice")
    assert done["status"] == "done"
    assert close_to(when(done["done_at"]), before, seconds=2)
    assert action_of(review_client, action["id"])["done_at"] == done["done_at"]
    # Saying it again changes nothing.
    patch_action(review_client, action["id"], status="done", by="bob")
    assert action_of(review_client, action["id"])["done_at"] == done["done_at"]
    assert len(entries(review_client, incident_id, "action_updated")) == 2

    reopened = patch_action(review_client, action["id"], status="open", by="bob")
    assert (reopened["status"], reopened["done_at"]) == ("open", None)


def test_an_unknown_action_or_incident_is_404(review_client: TestClient) -> None:
    patch_action(review_client, 999999, expect=404, status="done")
    response = review_client.post(f"{API}/999999/review/actions", json={"title": "x", "owner": "alice"})
    assert response.status_code == 404, response.text


def test_overdue_lists_only_open_or_in_progress_actions_past_due(
    review_client: TestClient, incident_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    high = add_action(review_client, incident_id, priority="high", title="high")  # due in 7 days
    started = add_action(review_client, incident_id, priority="high", title="started")
    done = add_action(review_client, incident_id, priority="high", title="done")
    dropped = add_action(review_client, incident_id, priority="high", title="dropped")
    medium = add_action(review_client, incident_id, priority="medium", title="medium")  # 30 days
    low = add_action(review_client, incident_id, priority="low", title="low")  # 90 days
    patch_action(review_client, started["id"], status="in_progress")
    patch_action(review_client, done["id"], status="done")
    patch_action(review_client, dropped["id"], status="wont_do", reason="not worth it")

    assert action_ids(review_client, overdue="true") == []
    assert get_review(review_client, incident_id)["overdue"] is False

    freeze(monkeypatch, when(high["due_at"]) + timedelta(days=1))
    assert action_ids(review_client, overdue="true") == [high["id"], started["id"]]
    flagged = {a["id"]: a["overdue"] for a in actions(review_client)}
    assert flagged == {
        high["id"]: True,
        started["id"]: True,
        done["id"]: False,
        dropped["id"]: False,
        medium["id"]: False,
        low["id"]: False,
    }
    assert get_review(review_client, incident_id)["overdue"] is True  # due 5 days after resolution

    freeze(monkeypatch, when(medium["due_at"]) + timedelta(minutes=1))
    assert action_ids(review_client, overdue="true") == [high["id"], started["id"], medium["id"]]

    freeze(monkeypatch, when(low["due_at"]) + timedelta(minutes=1))
    assert sorted(action_ids(review_client, overdue="true")) == sorted(
        [high["id"], started["id"], medium["id"], low["id"]]
    )
    assert action_ids(review_client, overdue="false") == action_ids(review_client)
    assert len(action_ids(review_client)) == 6


def test_the_list_filters_by_owner_and_status(review_client: TestClient, incident_id: int) -> None:
    other = resolved_incident(review_client, severity="SEV1")
    a1 = add_action(review_client, incident_id, owner="alice", priority="high")
    b1 = add_action(review_client, incident_id, owner="bob", priority="medium")
    a2 = add_action(review_client, other["id"], owner="alice", priority="low")
    patch_action(review_client, a1["id"], status="done")

    assert action_ids(review_client) == [a1["id"], b1["id"], a2["id"]]  # due first
    assert action_ids(review_client, owner="alice") == [a1["id"], a2["id"]]
    assert action_ids(review_client, owner="bob") == [b1["id"]]
    assert action_ids(review_client, owner="nobody") == []
    assert action_ids(review_client, status="done") == [a1["id"]]
    assert action_ids(review_client, status="open") == [b1["id"], a2["id"]]
    assert action_ids(review_client, status="open", owner="alice") == [a2["id"]]
    assert action_ids(review_client, status="wont_do") == []
    assert action_ids(review_client, limit=1) == [a1["id"]]
    assert review_client.get("/api/v1/actions", params={"status": "closed"}).status_code == 422


def test_actions_of_a_restricted_incident_are_hidden_from_outsiders(
    review_client: TestClient, incident_id: int
) -> None:
    secret = resolved_incident(review_client, type_="fairness_violation", severity="SEV3")
    assert secret["restricted"] is True
    hidden = add_action(review_client, secret["id"], owner="alice", title="Re-weight the postcode feature")
    shown = add_action(review_client, incident_id, owner="alice")
    outsider = {"X-Bridge-Person": "mallory"}

    assert action_ids(review_client, outsider) == [shown["id"]]
    assert action_ids(review_client, outsider, owner="alice") == [shown["id"]]
    assert sorted(action_ids(review_client, {"X-Bridge-Person": "alice"})) == sorted(
        [hidden["id"], shown["id"]]
    )
    assert sorted(action_ids(review_client)) == sorted([hidden["id"], shown["id"]])

    # The outsider can neither read its review nor move or add its actions: as if it did not exist.
    assert review_client.get(f"{API}/{secret['id']}/review", headers=outsider).status_code == 404
    response = review_client.patch(
        f"/api/v1/actions/{hidden['id']}", json={"status": "done"}, headers=outsider
    )
    assert response.status_code == 404, response.text
    assert action_of(review_client, hidden["id"])["status"] == "open"
    response = review_client.post(
        f"{API}/{secret['id']}/review/actions", json={"title": "x", "owner": "mallory"}, headers=outsider
    )
    assert response.status_code == 404, response.text
    assert len(actions(review_client)) == 2


def test_the_limit_counts_only_the_actions_a_person_may_see(
    review_client: TestClient, incident_id: int
) -> None:
    secret = resolved_incident(review_client, type_="fairness_violation", severity="SEV3")
    add_action(review_client, secret["id"], due="2027-01-01T00:00:00+00:00")  # first by due date
    shown = add_action(review_client, incident_id, due="2027-06-01T00:00:00+00:00")
    outsider = {"X-Bridge-Person": "mallory"}
    assert action_ids(review_client, outsider) == [shown["id"]]

    assert action_ids(review_client, outsider, limit=1) == [shown["id"]]
