"""Input no database can store is a 422 naming the alert and the field; a bug is a counted 500.

Both run on SQLite and PostgreSQL: what one database would take and the other refuse must be
refused before either sees it.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import app.main
from app.alerts.schemas import AlertIn
from app.catalog.loader import Catalog
from app.db import Database
from app.flows.intake import IngestOutcome
from app.models import Alert
from tests.support import list_incidents, load_fixture_requests, metric, wait_until

URL = "/webhooks/alertmanager"
WEBHOOK_ANSWERS = "bridge_webhook_requests_total"
WAIT = 10.0  # a safety net against a hung test, never a timing assertion
Body = dict[str, Any]


def bodies() -> list[Body]:
    return [r["body"] for r in load_fixture_requests()]


def two_alerts() -> Body:
    body = copy.deepcopy(bodies()[1])
    assert len(body["alerts"]) == 2
    return body


def alert_rows(client: TestClient) -> int:
    db: Database = client.app.state.runtime.db  # type: ignore[attr-defined]
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Alert)) or 0)


def setting(*path: Any, value: Any) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        target = body
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


def renaming_label(index: int, old: str, new: str) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        labels = body["alerts"][index]["labels"]
        labels[new] = labels.pop(old)

    return mutate


UNSTORABLE = {
    "startsAt before year 1 in UTC": (
        setting("alerts", 1, "startsAt", value="0001-01-01T00:30:00+01:00"),
        ["alerts", 1, "startsAt"],
        "outside years 1-9999",
    ),
    "endsAt after year 9999 in UTC": (
        setting("alerts", 0, "endsAt", value="9999-12-31T23:30:00-01:00"),
        ["alerts", 0, "endsAt"],
        "outside years 1-9999",
    ),
    "NUL in a label value": (
        setting("alerts", 1, "labels", "model", value="fraud\u0000scorer"),
        ["alerts", 1, "labels", "model"],
        "NUL",
    ),
    "NUL in a label name": (
        renaming_label(1, "team", "te\u0000am"),
        ["alerts", 1, "labels", "te\u0000am"],
        "NUL",
    ),
    "NUL in an annotation value": (
        setting("alerts", 0, "annotations", "summary", value="\u0000"),
        ["alerts", 0, "annotations", "summary"],
        "NUL",
    ),
    "NUL in the fingerprint": (
        setting("alerts", 1, "fingerprint", value="00ff\u0000"),
        ["alerts", 1, "fingerprint"],
        "NUL",
    ),
    "NUL in the generator URL": (
        setting("alerts", 0, "generatorURL", value="http://prometheus.example/\u0000"),
        ["alerts", 0, "generatorURL"],
        "NUL",
    ),
    "NUL in the status": (
        setting("alerts", 1, "status", value="firing\u0000"),
        ["alerts", 1, "status"],
        "firing",
    ),
    "NUL in the receiver": (setting("receiver", value="bridge\u0000"), ["receiver"], "NUL"),
    "NUL in a common label": (
        setting("commonLabels", "model", value="\u0000"),
        ["commonLabels", "model"],
        "NUL",
    ),
    "fingerprint longer than its column": (
        setting("alerts", 1, "fingerprint", value="f" * 65),
        ["alerts", 1, "fingerprint"],
        "64",
    ),
    "model label longer than its column": (
        setting("alerts", 1, "labels", "model", value="m" * 201),
        ["alerts", 1, "labels", "model"],
        "at most 200",
    ),
}


@pytest.mark.parametrize("case", list(UNSTORABLE), ids=list(UNSTORABLE))
def test_unstorable_alert_is_422_naming_the_field_and_stores_nothing(client: TestClient, case: str) -> None:
    mutate, loc, words = UNSTORABLE[case]
    assert client.post(URL, json=bodies()[0]).status_code == 200
    incidents, rows = list_incidents(client)["total"], alert_rows(client)
    body = two_alerts()
    mutate(body)

    response = client.post(URL, json=body)

    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "invalid_payload"
    assert [e["loc"] for e in answer["errors"]] == [loc]
    assert words in answer["errors"][0]["msg"]
    assert list_incidents(client)["total"] == incidents
    assert alert_rows(client) == rows
    # Nothing stuck: the same alerts, storable, go through.
    assert client.post(URL, json=two_alerts()).status_code == 200
    assert alert_rows(client) == rows + 2


def test_values_at_the_limits_are_stored(client: TestClient) -> None:
    body = two_alerts()
    body["alerts"][0]["labels"]["model"] = "m" * 200
    body["alerts"][0]["fingerprint"] = "f" * 64
    body["alerts"][1]["startsAt"] = "0001-01-01T01:00:00+01:00"  # year 1 exactly, in UTC
    body["alerts"][1]["endsAt"] = "0001-01-01T00:00:00Z"  # Go's zero time: not set
    response = client.post(URL, json=body)
    assert response.status_code == 200, response.text
    assert alert_rows(client) == 2
    assert any(i["model"] == "m" * 200 for i in list_incidents(client)["items"])


class BuggyIngest:
    """The real ingest, held in its first transaction until released, then raising KeyError
    (after its rows went in) for any batch holding an alert labelled `explode`."""

    def __init__(self, real: Callable[..., IngestOutcome]) -> None:
        self.real = real
        self.batches: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(
        self,
        session: Session,
        config: Catalog,
        requests: Sequence[Sequence[AlertIn]],
        now: datetime,
        url: str,
    ) -> IngestOutcome:
        self.batches.append([alerts[0].labels["alertname"] for alerts in requests])
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(WAIT)
        outcome = self.real(session, config, requests, now, url)
        if any("explode" in a.labels for alerts in requests for a in alerts):
            raise KeyError("explode")
        return outcome


def test_a_bug_answers_500_alone_and_is_counted(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    buggy = BuggyIngest(app.main.ingest)
    monkeypatch.setattr(app.main, "ingest", buggy)
    writer = client.app.state.runtime.writer  # type: ignore[attr-defined]
    holder, good = bodies()[0], two_alerts()
    bad = copy.deepcopy(bodies()[0])
    bad["alerts"][0]["labels"] = {"alertname": "Exploding", "model": "boom", "explode": "yes"}
    bad["alerts"][0]["fingerprint"] = "00000000000000bb"
    errors_before = metric(client, WEBHOOK_ANSWERS, source="alertmanager", code="500")
    bugs_before = metric(client, "bridge_intake_failures_total", reason="bug")

    def post(body: Body) -> httpx.Response:
        return client.post(URL, json=body)

    with ThreadPoolExecutor(max_workers=3) as pool:
        first = pool.submit(post, holder)
        assert buggy.entered.wait(WAIT)
        failing, passing = pool.submit(post, bad), pool.submit(post, good)
        wait_until(lambda: writer._queue.qsize() == 2, timeout=WAIT, what="both requests queued")
        buggy.release.set()
        first_answer = first.result(WAIT)
        bad_answer, good_answer = failing.result(WAIT), passing.result(WAIT)

    # One batch of both, then each alone: the bug fails its own request only.
    # (the two requests race to the queue, so their order within the batch may be either)
    assert buggy.batches[0] == ["FeatureDrift"]
    assert sorted(buggy.batches[1]) == ["Exploding", "ModelAccuracyDrop"]
    assert buggy.batches[2:] == [[name] for name in buggy.batches[1]]
    assert first_answer.status_code == 200
    assert good_answer.status_code == 200, good_answer.text
    assert len(good_answer.json()["incidents"]) == 1
    assert bad_answer.status_code == 500
    assert bad_answer.json() == {
        "error": "internal_error",
        "detail": "the alerts could not be processed; the failure is logged",
    }
    assert alert_rows(client) == 3  # the holder's one and the good request's two
    assert "boom" not in {i["model"] for i in list_incidents(client)["items"]}
    assert metric(client, WEBHOOK_ANSWERS, source="alertmanager", code="500") == errors_before + 1
    assert metric(client, "bridge_intake_failures_total", reason="bug") == bugs_before + 2
