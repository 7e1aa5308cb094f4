"""Outcomes recorded in batches (`Dispatcher.record_later`, as the worker process does): the
page goes out first, its outcome is written afterwards, and nothing is lost or sent twice.

Runs against SQLite and, when BRIDGE_TEST_DATABASE_URL is set, PostgreSQL.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.paging.conftest import (
    HttpReceiver,
    alert_body,
    dispatcher_of,
    fire_one,
    incident_row,
    kinds,
    notifications,
    wait_until,
)
from tests.support import metric


@pytest.fixture
def batched(paging_client: TestClient) -> TestClient:
    dispatcher_of(paging_client).record_later()
    return paging_client


def test_a_delivery_is_recorded_after_the_send_with_its_timeline_line(
    batched: TestClient, receiver: HttpReceiver
) -> None:
    before = metric(batched, "bridge_notifications_total", channel="webhook", outcome="delivered")
    incident_id = fire_one(batched, alert_body(model="mystery-model"))  # alice: webhook + email
    receiver.wait_for(1, "/alice")
    wait_until(
        lambda: {n.status for n in notifications(batched, incident_id)} == {"delivered"},
        what="both pages recorded as delivered",
    )
    rows = notifications(batched, incident_id)
    assert all(n.delivered_at is not None and n.claimed_until is None for n in rows)
    assert kinds(batched, incident_id).count("notified") == len(rows) == 2
    # The incident notes the change: its updated_at is the time the deliveries were recorded.
    assert incident_row(batched, incident_id).updated_at >= max(
        n.delivered_at for n in rows if n.delivered_at
    )
    after = metric(batched, "bridge_notifications_total", channel="webhook", outcome="delivered")
    assert after == before + 1
    assert len(receiver.at("/alice")) == 1  # sent once


def test_a_failed_send_in_a_batch_is_decided_as_before(batched: TestClient, receiver: HttpReceiver) -> None:
    receiver.fail("/alice", 500)
    incident_id = fire_one(batched, alert_body(model="mystery-model"))

    def webhook_status() -> str:
        (row,) = notifications(batched, incident_id, channel="webhook")
        return row.status

    wait_until(lambda: webhook_status() == "pending", what="the failed page waiting for its retry")
    (row,) = notifications(batched, incident_id, channel="webhook")
    assert row.last_error and "500" in row.last_error
    assert row.next_attempt_at is not None and row.claimed_until is None
    assert "notified" in kinds(batched, incident_id)  # the email went out, and says so


def test_a_page_handed_over_again_after_its_delivery_is_not_sent_twice(
    batched: TestClient, receiver: HttpReceiver
) -> None:
    dispatcher = dispatcher_of(batched)
    incident_id = fire_one(batched, alert_body(model="mystery-model"))
    wait_until(
        lambda: {n.status for n in notifications(batched, incident_id)} == {"delivered"}, what="settled"
    )
    (row,) = notifications(batched, incident_id, channel="webhook")
    # Delivered already: a second hand-over of the same id sends nothing.
    assert dispatcher.deliver(row.id, claimed=True, later=True) is None
    assert len(receiver.at("/alice")) == 1
