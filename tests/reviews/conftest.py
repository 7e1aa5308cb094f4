"""Review fixtures: the paging test rig (a real HTTP receiver and SMTP server behind every
contact, an on-call file whose models have owners alice and bob) and helpers that drive
post-incident reviews, improvement actions, the closing rule and the reviews job.

`run_sweep(client, now)` runs the reviews job as the scheduler does, with its clock at `now`,
and waits for what it sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.flows import reviews as flows
from app.main import create_app
from app.models import Notification
from tests.paging import conftest as paging_rig
from tests.paging.conftest import HttpReceiver, SmtpServer, notifications, oncall_yaml, wait_settled

# The paging rig's fixtures, reused here: a real HTTP receiver and SMTP server behind every contact.
receiver = paging_rig.receiver
smtp = paging_rig.smtp
oncall_person = paging_rig.oncall_person

API = "/api/v1/incidents"


@pytest.fixture
def review_settings(
    settings: Settings, rules_dir: Path, receiver: HttpReceiver, smtp: SmtpServer
) -> Settings:
    """The test settings with an on-call file whose contacts all point at the local receivers."""
    (rules_dir / "oncall.yaml").write_text(oncall_yaml(receiver.url))
    return settings.model_copy(
        update={
            "rules_dir": rules_dir,
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "pagerduty_events_url": f"{receiver.url}/pagerduty",
            "page_max_attempts": 3,
            "outbound_timeout_seconds": 5.0,
        }
    )


@pytest.fixture
def review_client(review_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(review_settings)) as test_client:
        yield test_client


# --- time -------------------------------------------------------------------------------------------


def when(text: str | None) -> datetime:
    """An API timestamp (`...Z`) as an aware datetime."""
    assert text is not None
    return datetime.fromisoformat(text)


def close_to(moment: datetime, expected: datetime, seconds: float = 1.0) -> bool:
    return abs((moment - expected).total_seconds()) <= seconds


def next_weekday(after: datetime, isoweekday: int) -> datetime:
    """The first moment strictly after `after` (same time of day) that falls on `isoweekday`."""
    moment = after + timedelta(days=1)
    while moment.isoweekday() != isoweekday:
        moment += timedelta(days=1)
    return moment


def now() -> datetime:
    return datetime.now(UTC)


# --- incidents --------------------------------------------------------------------------------------


def report(
    client: TestClient,
    type_: str = "technical_failure",
    severity: str = "SEV2",
    model: str | None = "fraud-scorer",
    title: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """POST /api/v1/incidents (an incident a person found); returns it."""
    body: dict[str, Any] = {
        "title": title or f"{type_} on {model}",
        "type": type_,
        "severity": severity,
        "reported_by": "dave",
        **extra,
    }
    if model is not None:
        body["model"] = model
    response = client.post(API, json=body)
    assert response.status_code == 201, response.text
    incident: dict[str, Any] = response.json()
    return incident


def act(client: TestClient, incident_id: int, action: str, by: str = "alice") -> dict[str, Any]:
    """Acknowledge or resolve through the API; returns the incident."""
    response = client.post(f"{API}/{incident_id}/{action}", json={"by": by})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["incident"]
    return result


def reclassify(client: TestClient, incident_id: int, by: str = "alice", **change: str) -> dict[str, Any]:
    response = client.post(
        f"{API}/{incident_id}/reclassify", json={"by": by, "reason": "impact re-assessed", **change}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def resolved_incident(client: TestClient, **report_args: Any) -> dict[str, Any]:
    """A reported incident, resolved by alice; waits for every page and reminder to go out."""
    incident = report(client, **report_args)
    resolved = act(client, incident["id"], "resolve")
    wait_settled(client)
    return resolved


def incident_of(client: TestClient, incident_id: int) -> dict[str, Any]:
    response = client.get(f"{API}/{incident_id}")
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


def entries(client: TestClient, incident_id: int, kind: str) -> list[dict[str, Any]]:
    """Timeline entries of one kind, oldest first."""
    return [e for e in incident_of(client, incident_id)["timeline"] if e["kind"] == kind]


def close(client: TestClient, incident_id: int, by: str = "alice") -> Any:
    return client.post(f"{API}/{incident_id}/close", json={"by": by})


# --- reviews and actions ----------------------------------------------------------------------------


def get_review(client: TestClient, incident_id: int) -> dict[str, Any]:
    response = client.get(f"{API}/{incident_id}/review")
    assert response.status_code == 200, response.text
    review: dict[str, Any] = response.json()
    return review


def put_review(client: TestClient, incident_id: int, expect: int = 200, **body: Any) -> dict[str, Any]:
    response = client.put(f"{API}/{incident_id}/review", json={"by": "alice", **body})
    assert response.status_code == expect, response.text
    answer: dict[str, Any] = response.json()
    return answer


# Everything approval asks for (an action or `no_action_reason` aside).
COMPLETE: dict[str, Any] = {
    "root_cause": {
        "category": "upstream_data_drift",
        "narrative": "A partner feed changed its currency field; features shifted overnight.",
    },
    "contributing_factors": ["the feed contract had no schema check"],
    "harm_assessment": {"harm_level": "near_miss", "users_notified": False, "notes": "no decision changed"},
}


def approve(client: TestClient, incident_id: int, by: str = "bob") -> dict[str, Any]:
    """Fill in what approval needs (no action needed) and approve the review."""
    return put_review(
        client, incident_id, by=by, status="approved", no_action_reason="the feed was retired", **COMPLETE
    )


def add_action(client: TestClient, incident_id: int, expect: int = 201, **body: Any) -> dict[str, Any]:
    payload = {"title": "Add a schema check to the partner feed", "owner": "alice", **body}
    response = client.post(f"{API}/{incident_id}/review/actions", json=payload)
    assert response.status_code == expect, response.text
    answer: dict[str, Any] = response.json()
    return answer


def patch_action(client: TestClient, action_id: int, expect: int = 200, **body: Any) -> dict[str, Any]:
    response = client.patch(f"/api/v1/actions/{action_id}", json=body)
    assert response.status_code == expect, response.text
    answer: dict[str, Any] = response.json()
    return answer


def actions(client: TestClient, headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
    """GET /api/v1/actions with these filters."""
    response = client.get("/api/v1/actions", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def action_ids(client: TestClient, headers: dict[str, str] | None = None, **params: Any) -> list[int]:
    return [a["id"] for a in actions(client, headers, **params)]


def action_of(client: TestClient, action_id: int) -> dict[str, Any]:
    found = [a for a in actions(client) if a["id"] == action_id]
    assert len(found) == 1, found
    return found[0]


# --- the reviews job and what it sent ---------------------------------------------------------------


def runtime(client: TestClient) -> Any:
    return client.app.state.runtime  # type: ignore[attr-defined]


def run_sweep(client: TestClient, at: datetime) -> int:
    """The reviews job as the scheduler runs it, with the clock at `at`; waits for the sends."""
    rt = runtime(client)
    catalog = rt.catalog.current
    handled = flows.sweep(rt.db, lambda: catalog, rt.dispatcher.submit, now=at)
    wait_settled(client)
    return handled


def reminders(client: TestClient, incident_id: int | None = None) -> list[Notification]:
    """Messages to owners (optionally of one incident), oldest first: `review` (a review or an
    action is theirs, the weekly digest) and `reminder` (something is overdue)."""
    rows = notifications(client, incident_id)
    return [n for n in rows if n.kind in ("review", "reminder")]


def sent_to(rows: list[Notification]) -> list[tuple[str, str]]:
    """(recipient, channel) of these notifications, sorted."""
    return sorted((n.recipient, n.channel) for n in rows)


def with_body(client: TestClient, text: str, incident_id: int | None = None) -> list[Notification]:
    """Reminder notifications whose text contains `text`."""
    return [n for n in reminders(client, incident_id) if text in (n.body or "")]
