"""An incident's detail carries a bounded number of its newest alerts and timeline entries, with
totals and links; the rest is read page by page (keyset, newest first, stable while rows are
added), under the same access rules as the detail; on both databases."""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from app.db import Database
from tests.support import incident_action, load_fixture_requests

API = "/api/v1/incidents"


def fire(client: TestClient, numbers: range, alertname: str = "ModelAccuracyDrop") -> int:
    """One webhook with an alert per number (its `instance` label)."""
    body = copy.deepcopy(load_fixture_requests()[0]["body"])
    template = body["alerts"][0]
    body["alerts"] = []
    for n in numbers:
        alert = copy.deepcopy(template)
        alert["labels"] = {"alertname": alertname, "model": "fraud-scorer", "instance": f"pod-{n}"}
        alert["fingerprint"] = f"{n:016x}"
        body["alerts"].append(alert)
    response = client.post("/webhooks/alertmanager", json=body)
    assert response.status_code == 200, response.text
    [incident_id] = response.json()["incidents"]
    assert isinstance(incident_id, int)
    return incident_id


def number(alert: dict[str, Any]) -> int:
    return int(alert["labels"]["instance"].removeprefix("pod-"))


def get(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    # Without params the path's own query string is sent as it is.
    response = client.get(path, params=params) if params else client.get(path)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def walk(client: TestClient, first: str, between: Iterator[None] | None = None) -> list[dict[str, Any]]:
    """Every item from `first` on, following `next`; `between` runs a step after each page."""
    items: list[dict[str, Any]] = []
    path: str | None = first
    while path is not None:
        page = get(client, path)
        assert page["items"] or page["next"] is None, "an empty page that promises more"
        items += page["items"]
        path = page["next"]
        if between is not None:
            next(between, None)
    return items


def note(client: TestClient, incident_id: int, text: str, at: str | None = None) -> None:
    body = {"by": "alice", "text": text} | ({"at": at} if at else {})
    incident_action(client, incident_id, "notes", **body)


def newest_first(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: (e["at"], e["id"]), reverse=True)


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_the_detail_is_bounded_with_totals_and_links_to_the_rest(client: TestClient) -> None:
    incident_id = fire(client, range(1, 11))
    fire(client, range(11, 26))
    for i in range(3):
        note(client, incident_id, f"note {i}")

    detail = get(client, f"{API}/{incident_id}", alerts_limit=4, timeline_limit=3)
    # The newest alerts and entries, listed oldest first as the detail always listed them.
    assert [number(a) for a in detail["alerts"]] == [22, 23, 24, 25]
    assert detail["alerts_total"] == 25
    assert [e["message"] for e in detail["timeline"]] == [
        "note 0",
        "note 1",
        "note 2",
    ]
    everything = walk(client, f"{API}/{incident_id}/timeline?limit=1000")
    assert detail["timeline_total"] == len(everything) > 25
    # The links lead to the older ones, newest first, in pages of the same size.
    older = get(client, detail["alerts_next"])
    assert [number(a) for a in older["items"]] == [21, 20, 19, 18]
    assert detail["alerts_next"].startswith(f"{API}/{incident_id}/alerts?limit=4&before=")
    earlier = get(client, detail["timeline_next"])
    assert earlier["items"] == everything[3:6]

    # By default up to 100 of each: a small incident comes whole, with no links.
    whole = get(client, f"{API}/{incident_id}")
    assert [number(a) for a in whole["alerts"]] == list(range(1, 26))
    assert (whole["alerts_total"], whole["alerts_next"]) == (25, None)
    assert whole["timeline"] == list(reversed(everything))
    assert (whole["timeline_total"], whole["timeline_next"]) == (len(everything), None)
    # Exactly the limit: nothing more to link to.
    exact = get(client, f"{API}/{incident_id}", alerts_limit=25)
    assert (len(exact["alerts"]), exact["alerts_next"]) == (25, None)


def test_walking_the_pages_yields_every_alert_once_while_new_ones_arrive(client: TestClient) -> None:
    incident_id = fire(client, range(1, 14))

    def arrivals() -> Iterator[None]:
        fire(client, range(100, 103))  # after the first page: new alerts of the same incident
        yield
        fire(client, range(103, 104))  # after the second
        yield

    walked = walk(client, f"{API}/{incident_id}/alerts?limit=5", arrivals())
    assert [number(a) for a in walked] == list(range(13, 0, -1))
    again = walk(client, f"{API}/{incident_id}/alerts?limit=5")
    assert [number(a) for a in again] == [103, 102, 101, 100, *range(13, 0, -1)]
    assert get(client, f"{API}/{incident_id}")["alerts_total"] == 17


def test_walking_the_timeline_yields_every_entry_once_while_entries_are_added(client: TestClient) -> None:
    incident_id = fire(client, range(1, 6))
    for i in range(6):
        note(client, incident_id, f"before {i}")
    snapshot = get(client, f"{API}/{incident_id}/timeline", limit=1000)["items"]
    assert snapshot == newest_first(snapshot)

    def additions() -> Iterator[None]:
        note(client, incident_id, "while walking")  # after the first page
        fire(client, range(6, 9))
        yield
        # Written down now, but it happened before the incident: it belongs at the very end.
        note(client, incident_id, "long ago", at="2020-01-01T00:00:00Z")
        yield

    walked = walk(client, f"{API}/{incident_id}/timeline?limit=4", additions())
    ids = [e["id"] for e in walked]
    assert len(ids) == len(set(ids)), "an entry came twice"
    assert walked[:-1] == snapshot
    assert walked[-1]["message"] == "long ago"
    later = get(client, f"{API}/{incident_id}/timeline", limit=1000)["items"]
    assert later == newest_first(later) and len(later) == len(snapshot) + 1 + 3 + 1


def test_alerts_of_a_folded_duplicate_are_paged_with_the_incident_s(client: TestClient) -> None:
    survivor = fire(client, range(1, 6), alertname="ModelAccuracyDrop")
    duplicate = fire(client, range(6, 10), alertname="FeatureDrift")
    fire(client, range(10, 13), alertname="ModelAccuracyDrop")
    incident_action(client, duplicate, "link", by="alice", incident_id=survivor, relation="duplicate_of")

    walked = walk(client, f"{API}/{survivor}/alerts?limit=3")
    assert [number(a) for a in walked] == list(range(12, 0, -1))
    detail = get(client, f"{API}/{survivor}", alerts_limit=2)
    assert [number(a) for a in detail["alerts"]] == [11, 12]
    assert detail["alerts_total"] == 12
    assert [number(a) for a in get(client, detail["alerts_next"])["items"]] == [10, 9]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("alerts", {"limit": 0}, "limit"),
        ("alerts", {"limit": 1001}, "limit"),
        ("timeline", {"limit": "ten"}, "limit"),
        ("", {"alerts_limit": 0}, "alerts_limit"),
        ("", {"timeline_limit": 1001}, "timeline_limit"),
        ("alerts", {"before": "not-a-cursor"}, "before"),
        ("alerts", {"before": ""}, "before"),
        ("alerts", {"before": cursor("a1.99999999999")}, "before"),  # beyond any id
        ("alerts", {"before": cursor("t1.0.5")}, "before"),  # the timeline's kind of cursor
        ("timeline", {"before": cursor("a1.5")}, "before"),
        ("timeline", {"before": cursor("t1.999999999999999999.5")}, "before"),  # beyond any time
        ("timeline", {"before": "x" * 101}, "before"),
    ],
)
def test_a_bad_limit_or_cursor_is_422_naming_it(
    client: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    incident_id = fire(client, range(1, 3))
    response = client.get(f"{API}/{incident_id}/{path}".rstrip("/"), params=params)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "invalid_request"
    assert ["query", field] in [e["loc"] for e in answer["errors"]]
    if field == "before" and len(params["before"]) <= 100:
        assert answer["detail"].startswith("`before` must be a cursor from a previous page's `next`")


def test_an_unknown_incident_is_404(client: TestClient) -> None:
    fire(client, range(1, 3))
    for path in ("", "/alerts", "/timeline"):
        response = client.get(f"{API}/999999{path}")
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"] == "not_found"


def test_a_restricted_incident_s_pages_follow_the_detail_s_access_rules(client: TestClient) -> None:
    incident_id = fire(client, range(1, 4))
    incident_action(client, incident_id, "restrict", by="alice", restricted=True, reason="personal data")
    incident_action(client, incident_id, "access", by="alice", person="carol")
    paths = ("", "/alerts", "/timeline")
    for person, status in (("bob", 404), ("carol", 200), (None, 200)):
        headers = {"X-Bridge-Person": person} if person else {}
        for path in paths:
            response = client.get(f"{API}/{incident_id}{path}", headers=headers)
            assert response.status_code == status, (person, path, response.text)
    # Hidden exactly as an id that was never used.
    bob = {"X-Bridge-Person": "bob"}
    for path in paths:
        hidden = client.get(f"{API}/{incident_id}{path}", headers=bob).json()
        never = client.get(f"{API}/999999{path}", headers=bob).json()
        assert hidden["error"] == never["error"] == "not_found"
        assert hidden["detail"].replace(str(incident_id), "N") == never["detail"].replace("999999", "N")


def test_reads_are_bounded_and_use_the_keyset_indexes(client: TestClient) -> None:
    incident_id = fire(client, range(1, 31))
    db: Database = client.app.state.runtime.db  # type: ignore[attr-defined]
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        detail = get(client, f"{API}/{incident_id}", alerts_limit=5, timeline_limit=5)
        get(client, detail["alerts_next"])
        get(client, detail["timeline_next"])
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)

    reads = [(s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT")]
    of_rows = [(s, p) for s, p in reads if "FROM alert" in s or "FROM incident_event" in s]
    assert len(of_rows) >= 5
    for statement, _ in of_rows:
        assert "LIMIT" in statement or "count(*)" in statement, statement
    if not db.is_sqlite:
        return  # PostgreSQL picks its plan from statistics; SQLite's is deterministic
    with db.engine.connect() as conn:
        for statement, parameters in of_rows:
            plan = " ".join(
                str(row[3]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            assert "ix_alert_incident_id_id" in plan or "ix_incident_event_incident_id_at_id" in plan, (
                statement,
                plan,
            )
            assert "TEMP B-TREE" not in plan, (statement, plan)  # no sort of the whole incident
