"""Review and action gauges on /metrics, computed from the database at scrape time (the
overdue ones by a controllable clock); on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from app.reviews import metrics as review_metrics
from tests.reviews.conftest import (
    COMPLETE,
    add_action,
    approve,
    now,
    patch_action,
    put_review,
    report,
    resolved_incident,
)
from tests.support import metric

NAMES = ("bridge_reviews_open", "bridge_reviews_overdue", "bridge_actions_open", "bridge_actions_overdue")


def gauges(client: TestClient) -> tuple[float, ...]:
    return tuple(metric(client, name) for name in NAMES)


def scrape_at(client: TestClient, monkeypatch: pytest.MonkeyPatch, moment: datetime) -> tuple[float, ...]:
    monkeypatch.setattr(review_metrics, "utcnow", lambda: moment)
    return gauges(client)


def test_the_gauges_count_reviews_and_actions_from_the_database(
    review_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = review_client.get("/metrics").text
    for name in NAMES:
        assert f"# TYPE {name} gauge" in text
    assert gauges(review_client) == (0, 0, 0, 0)
    start = now()

    draft = resolved_incident(review_client, severity="SEV2")  # a draft, due in 5 days
    approved = resolved_incident(review_client, severity="SEV1")
    approve(review_client, approved["id"])
    open_one = report(review_client, severity="SEV2")
    put_review(review_client, open_one["id"], status="in_review")  # started early: due in 5 days too
    resolved_incident(review_client, severity="SEV4")  # no review

    high = add_action(review_client, draft["id"], priority="high")  # due in 7 days
    busy = add_action(review_client, draft["id"], priority="high")
    done = add_action(review_client, approved["id"], priority="high")
    dropped = add_action(review_client, approved["id"], priority="high")
    add_action(review_client, open_one["id"], priority="low")  # due in 90 days
    patch_action(review_client, busy["id"], status="in_progress")
    patch_action(review_client, done["id"], status="done")
    patch_action(review_client, dropped["id"], status="wont_do", reason="duplicate")

    assert gauges(review_client) == (2, 0, 3, 0)
    assert scrape_at(review_client, monkeypatch, start + timedelta(days=4, hours=23)) == (2, 0, 3, 0)
    assert scrape_at(review_client, monkeypatch, start + timedelta(days=5, minutes=5)) == (2, 2, 3, 0)
    assert scrape_at(review_client, monkeypatch, start + timedelta(days=7, minutes=5)) == (2, 2, 3, 2)
    assert scrape_at(review_client, monkeypatch, start + timedelta(days=90, minutes=5)) == (2, 2, 3, 3)

    # Approving a review and finishing an action take them off the gauges at once.
    put_review(review_client, draft["id"], status="approved", no_action_reason="", **COMPLETE)
    patch_action(review_client, high["id"], status="done")
    assert scrape_at(review_client, monkeypatch, start + timedelta(days=90, minutes=5)) == (1, 1, 2, 2)
    # Sending an approved review back counts it again.
    put_review(review_client, approved["id"], status="in_review")
    assert scrape_at(review_client, monkeypatch, start + timedelta(days=90, minutes=5)) == (2, 2, 2, 2)
    monkeypatch.undo()
    assert gauges(review_client) == (2, 0, 2, 0)
