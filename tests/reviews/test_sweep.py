"""The reviews job with a controllable clock: overdue reviews and actions remind their owners
at most once a day until they are done, and each owner gets one digest of their open actions
per ISO week, on Mondays, also with two app instances on one database; on both databases.

`run_sweep(client, now)` runs `app.flows.reviews.sweep` as the scheduler does, clock at `now`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.flows import reviews as flows
from app.main import create_app
from app.models import Notification
from tests.paging.conftest import HttpReceiver, SmtpServer, wait_settled
from tests.reviews.conftest import (
    COMPLETE,
    add_action,
    approve,
    entries,
    get_review,
    next_weekday,
    now,
    patch_action,
    put_review,
    reminders,
    resolved_incident,
    run_sweep,
    runtime,
    sent_to,
    when,
    with_body,
)

MONDAY = 1
DIGEST = "Your open improvement actions"


def not_monday(first: datetime, *offsets: timedelta, step: timedelta = timedelta(days=1)) -> datetime:
    """`first`, or `first + step`, ..., such that neither it nor any `first + offset` is a Monday
    (when the weekly digest would go out too)."""
    moment = first
    while any((moment + offset).isoweekday() == MONDAY for offset in (timedelta(0), *offsets)):
        moment += step
    return moment


def digests(client: TestClient) -> list[Notification]:
    return with_body(client, DIGEST)


# --- overdue reviews -----------------------------------------------------------------------------------


def test_an_overdue_review_reminds_its_owner_at_most_daily_until_approved(
    review_client: TestClient, smtp: SmtpServer
) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    incident_id = incident["id"]
    due = when(get_review(review_client, incident_id)["due_at"])
    what = f"Overdue: the post-incident review of incident #{incident_id} was due {due:%Y-%m-%d %H:%M} UTC."
    assert sent_to(reminders(review_client, incident_id)) == [("alice", "email"), ("alice", "webhook")]

    assert run_sweep(review_client, due - timedelta(minutes=1)) == 0
    assert with_body(review_client, what) == []

    first = due + timedelta(minutes=1)
    assert run_sweep(review_client, first) == 1
    reminded = with_body(review_client, what, incident_id)
    assert sent_to(reminded) == [("alice", "email"), ("alice", "webhook")]
    assert all(n.status == "delivered" for n in reminded)
    assert any(what in m.text() for m in smtp.messages)
    (overdue,) = entries(review_client, incident_id, "overdue")
    assert (overdue["actor"], overdue["message"]) == ("incident-bridge", what)
    assert overdue["data"]["owner"] == "alice"

    # An hour later: once is enough for now.
    assert run_sweep(review_client, first + timedelta(hours=1)) == 0
    assert len(with_body(review_client, what)) == 2
    # A day later: still not approved, so again.
    assert run_sweep(review_client, first + timedelta(days=1, minutes=1)) == 1
    assert len(with_body(review_client, what)) == 4
    assert len(entries(review_client, incident_id, "overdue")) == 2

    approve(review_client, incident_id)
    assert run_sweep(review_client, first + timedelta(days=3)) == 0
    assert len(with_body(review_client, what)) == 4
    assert len(entries(review_client, incident_id, "overdue")) == 2


def test_a_review_sent_back_to_in_review_is_reminded_again(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV1")
    due = when(get_review(review_client, incident["id"])["due_at"])
    approve(review_client, incident["id"])
    assert run_sweep(review_client, due + timedelta(hours=2)) == 0

    put_review(review_client, incident["id"], status="in_review")

    assert run_sweep(review_client, due + timedelta(hours=3)) == 1
    assert len(entries(review_client, incident["id"], "overdue")) == 1


# --- overdue actions -----------------------------------------------------------------------------------


def test_an_overdue_action_reminds_its_owner_at_most_daily_until_done(
    review_client: TestClient, receiver: HttpReceiver
) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    action = add_action(review_client, incident["id"], owner="bob", priority="high", title="Pin the schema")
    # The review is approved: only the action can be overdue here.
    put_review(review_client, incident["id"], status="approved", **COMPLETE)
    wait_settled(review_client)
    due = when(action["due_at"])
    what = f"Overdue: improvement action #{action['id']} (Pin the schema) was due {due:%Y-%m-%d}."
    later, next_day = timedelta(hours=1), timedelta(days=1, minutes=1)
    first = not_monday(due + timedelta(minutes=1), later, next_day, 2 * next_day)

    before = not_monday(due - timedelta(minutes=1), step=timedelta(days=-1))
    assert run_sweep(review_client, before) == 0
    assert with_body(review_client, what) == []
    assert run_sweep(review_client, first) == 1
    reminded = with_body(review_client, what, incident["id"])
    assert sent_to(reminded) == [("bob", "slack"), ("bob", "webhook")]
    assert any(what in r.body.decode() for r in receiver.at("/slack/bob"))
    assert receiver.at("/pagerduty") == []  # a reminder never opens a PagerDuty incident

    assert run_sweep(review_client, first + later) == 0
    assert len(with_body(review_client, what)) == 2
    assert run_sweep(review_client, first + next_day) == 1
    assert len(with_body(review_client, what)) == 4

    patch_action(review_client, action["id"], status="done", by="bob")
    assert run_sweep(review_client, first + 2 * next_day) == 0
    assert len(with_body(review_client, what)) == 4


def test_an_in_progress_action_is_reminded_and_a_wont_do_one_is_not(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    busy = add_action(review_client, incident["id"], priority="high", title="busy")
    dropped = add_action(review_client, incident["id"], priority="high", title="dropped")
    patch_action(review_client, busy["id"], status="in_progress")
    patch_action(review_client, dropped["id"], status="wont_do", reason="superseded")
    put_review(review_client, incident["id"], status="approved", **COMPLETE)
    wait_settled(review_client)

    assert run_sweep(review_client, not_monday(when(busy["due_at"]) + timedelta(hours=1))) == 1

    assert len(with_body(review_client, f"improvement action #{busy['id']} (busy) was due")) == 2
    assert with_body(review_client, f"improvement action #{dropped['id']} (dropped) was due") == []


# --- the weekly digest ---------------------------------------------------------------------------------


def open_actions_of_two_owners(client: TestClient) -> dict[str, Any]:
    """Actions far from due (none overdue next week) of alice and bob, some no longer open."""
    incident = resolved_incident(client, severity="SEV2")
    other = resolved_incident(client, severity="SEV1", model="churn-model")
    made = {
        "alice-1": add_action(client, incident["id"], owner="alice", priority="low", title="Alice one"),
        "alice-2": add_action(client, other["id"], owner="alice", priority="medium", title="Alice two"),
        "alice-done": add_action(client, incident["id"], owner="alice", priority="low", title="Alice done"),
        "alice-dropped": add_action(client, incident["id"], owner="alice", title="Alice dropped"),
        "bob-1": add_action(client, incident["id"], owner="bob", priority="low", title="Bob one"),
        "erin-1": add_action(client, incident["id"], owner="erin", priority="low", title="Erin one"),
    }
    patch_action(client, made["alice-done"]["id"], status="done")
    patch_action(client, made["alice-dropped"]["id"], status="wont_do", reason="not ours")
    for approved in (incident, other):  # no review reminders in the way
        approve(client, approved["id"])
    wait_settled(client)
    return made


def test_the_weekly_digest_goes_out_on_mondays_once_per_owner_and_week(
    review_client: TestClient, smtp: SmtpServer
) -> None:
    made = open_actions_of_two_owners(review_client)
    monday = next_weekday(now(), MONDAY).replace(hour=9, minute=0, second=0, microsecond=0)

    run_sweep(review_client, monday - timedelta(days=1))  # a Sunday: no digest
    run_sweep(review_client, monday + timedelta(days=1))  # a Tuesday: no digest either
    assert digests(review_client) == []

    assert run_sweep(review_client, monday) >= 2
    sent = digests(review_client)
    assert sent_to(sent) == [("alice", "email"), ("alice", "webhook"), ("bob", "slack"), ("bob", "webhook")]
    alice = {n.body for n in sent if n.recipient == "alice"}
    assert len(alice) == 1
    (text,) = alice
    assert text is not None
    assert text.startswith(f"{DIGEST} (2):")
    for key in ("alice-1", "alice-2"):
        action = made[key]
        assert f"#{action['id']} [{action['priority']}] due {when(action['due_at']):%Y-%m-%d}" in text
        assert f": {action['title']} (incident #{action['incident_id']})" in text
    for absent in ("Alice done", "Alice dropped", "Bob one", "Erin one", "OVERDUE"):
        assert absent not in text
    (bob,) = {n.body for n in sent if n.recipient == "bob"}
    assert bob is not None and bob.startswith(f"{DIGEST} (1):") and "Bob one" in bob
    assert any(text in m.text().replace("\r\n", "\n") for m in smtp.messages)

    # The same ISO week: not again, however often the job runs.
    run_sweep(review_client, monday + timedelta(hours=2))
    run_sweep(review_client, monday + timedelta(hours=23))
    assert len(digests(review_client)) == 4

    # The next Monday: the next digest, with what is still open.
    patch_action(review_client, made["alice-2"]["id"], status="done")
    run_sweep(review_client, monday + timedelta(days=7))
    later = [n for n in digests(review_client) if n.id not in {s.id for s in sent}]
    assert sent_to(later) == sent_to(sent)
    (next_text,) = {n.body for n in later if n.recipient == "alice"}
    assert next_text is not None and next_text.startswith(f"{DIGEST} (1):")
    assert "Alice one" in next_text and "Alice two" not in next_text


def test_an_overdue_action_says_so_in_the_digest(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    approve(review_client, incident["id"])
    late = add_action(review_client, incident["id"], priority="high", title="Late one")
    add_action(review_client, incident["id"], priority="low", title="Early one")
    monday = next_weekday(when(late["due_at"]), MONDAY)

    run_sweep(review_client, monday)

    (text,) = {n.body for n in digests(review_client)}
    assert text is not None
    (late_line,) = [line for line in text.splitlines() if "Late one" in line]
    (early_line,) = [line for line in text.splitlines() if "Early one" in line]
    assert " OVERDUE: " in late_line
    assert "OVERDUE" not in early_line


@pytest.fixture
def second_client(review_settings: Settings) -> Iterator[TestClient]:
    """Another app instance on the same database (a second replica)."""
    with TestClient(create_app(review_settings)) as test_client:
        yield test_client


def test_two_instances_send_each_owner_one_digest_a_week(
    review_client: TestClient, second_client: TestClient
) -> None:
    open_actions_of_two_owners(review_client)
    monday = next_weekday(now(), MONDAY).replace(hour=9, minute=0, second=0, microsecond=0)

    # Both replicas run the job at the same moment...
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def job(client: TestClient) -> None:
        rt = runtime(client)
        catalog = rt.catalog.current
        try:
            start.wait()
            flows.sweep(rt.db, lambda: catalog, rt.dispatcher.submit, now=monday)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(c,)) for c in (review_client, second_client)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    wait_settled(review_client)
    # ...and once more each, later that day.
    run_sweep(second_client, monday + timedelta(hours=1))
    run_sweep(review_client, monday + timedelta(hours=2))

    assert sent_to(digests(review_client)) == [
        ("alice", "email"),
        ("alice", "webhook"),
        ("bob", "slack"),
        ("bob", "webhook"),
    ]


def test_a_sweep_that_sends_nothing_says_so(review_client: TestClient) -> None:
    open_actions_of_two_owners(review_client)
    monday = next_weekday(now(), MONDAY).replace(hour=9, minute=0, second=0, microsecond=0)
    assert run_sweep(review_client, monday) == 2
    sent = len(reminders(review_client))

    handled = run_sweep(review_client, monday + timedelta(hours=1))

    assert len(reminders(review_client)) == sent  # nothing went out...
    assert handled == 0  # ...so the job says 0
