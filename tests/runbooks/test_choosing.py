"""Which runbook an incident gets, through the running app: alert-born incidents (intake) and
reported ones (the workspace) choose alike; the incident API and page say which and why; an
incident stored before reasons existed still shows its runbook."""

from __future__ import annotations

import hashlib
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.models import Incident
from app.runbooks.library import load_library
from tests.support import incident_detail
from tests.web.test_auth import sign_in

RULES = """\
rules:
  - name: accuracy-drop
    matchers: ['alertname="ModelAccuracyDrop"']
    type: performance_degradation
    severity: SEV2
    group_by: [alertname, model]
    runbook: accuracy
  - name: drift
    matchers: ['alertname="FeatureDrift"']
    type: performance_degradation
    severity: SEV3
    group_by: [alertname, model]
  - name: ethics
    matchers: ['alertname="ConsentViolation"']
    type: ethical
    severity: SEV2
    group_by: [alertname, model]
"""

RUNBOOKS = {
    "accuracy": "types: []",  # only the rule that names it gives it out
    "drift-general": "types: [performance_degradation]",
    "drift-fraud": "types: [performance_degradation]\nmodels: [fraud-scorer]",
    "triage": "types: [unclassified]",
}


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "10-rules.yaml").write_text(RULES, encoding="utf-8")
    return directory


@pytest.fixture
def runbooks_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "runbooks"
    directory.mkdir()
    for id_, front in RUNBOOKS.items():
        text = f"---\nid: {id_}\ntitle: Runbook {id_}\n{front}\n---\n## Containment\n1. Contain {id_}.\n"
        (directory / f"{id_}.md").write_text(text, encoding="utf-8")
    return directory


def fire(client: TestClient, alertname: str, model: str | None, runbook_url: str | None = None) -> int:
    labels = {"alertname": alertname, **({"model": model} if model else {})}
    annotations = {
        "summary": f"{alertname} on {model}",
        **({"runbook_url": runbook_url} if runbook_url else {}),
    }
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "bridge",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": datetime.now(UTC).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": hashlib.sha256(f"{alertname}/{model}".encode()).hexdigest()[:16],
            }
        ],
    }
    response = client.post("/webhooks/alertmanager", json=body)
    assert response.status_code == 200, response.text
    [incident_id] = response.json()["incidents"]
    assert isinstance(incident_id, int)
    return incident_id


def runbook_of(client: TestClient, incident_id: int) -> dict[str, Any] | None:
    runbook: dict[str, Any] | None = incident_detail(client, incident_id)["runbook"]
    return runbook


def expected(runbooks_dir: Path, id_: str, reason: str) -> dict[str, Any]:
    book = load_library(runbooks_dir)[0][id_]
    return {
        "id": id_,
        "title": book.title,
        "url": f"http://bridge.test/runbooks/{id_}",
        "reason": reason,
        "revision": book.revision,
    }


def test_alert_born_incidents_get_a_runbook_and_its_reason(client: TestClient, runbooks_dir: Path) -> None:
    named = fire(client, "ModelAccuracyDrop", "fraud-scorer")
    for_model = fire(client, "FeatureDrift", "fraud-scorer", "https://wiki.example/drift")
    for_type = fire(client, "FeatureDrift", "churn-model", "https://wiki.example/drift")
    unclassified = fire(client, "DiskFull", None, "https://wiki.example/disk")

    assert runbook_of(client, named) == expected(runbooks_dir, "accuracy", "named by rule accuracy-drop")
    assert runbook_of(client, for_model) == expected(
        runbooks_dir, "drift-fraud", "written for model fraud-scorer and type performance_degradation"
    )
    assert runbook_of(client, for_type) == expected(
        runbooks_dir, "drift-general", "written for performance_degradation incidents"
    )
    assert runbook_of(client, unclassified) == expected(
        runbooks_dir, "triage", "written for unclassified incidents"
    )


def test_without_a_library_runbook_the_alerts_http_url_is_kept(client: TestClient) -> None:
    kept = fire(client, "ConsentViolation", "fraud-scorer", "https://wiki.example/consent")
    dropped = fire(client, "ConsentViolation", "churn-model", "javascript:alert(1)")

    assert runbook_of(client, kept) == {
        "id": None,
        "title": None,
        "url": "https://wiki.example/consent",
        "reason": "from the alert's runbook_url annotation",
        "revision": None,
    }
    assert runbook_of(client, dropped) is None


def test_reported_incidents_choose_the_same_way(client: TestClient, runbooks_dir: Path) -> None:
    body = {
        "title": "Scores look odd",
        "type": "performance_degradation",
        "severity": "SEV3",
        "reported_by": "ops",
    }
    for_model = client.post("/api/v1/incidents", json={**body, "model": "fraud-scorer"})
    for_type = client.post("/api/v1/incidents", json={**body, "model": "churn-model"})
    nothing = client.post("/api/v1/incidents", json={**body, "type": "ethical"})
    assert {for_model.status_code, for_type.status_code, nothing.status_code} == {201}, for_model.text

    assert for_model.json()["runbook"] == expected(
        runbooks_dir, "drift-fraud", "written for model fraud-scorer and type performance_degradation"
    )
    assert for_type.json()["runbook"] == expected(
        runbooks_dir, "drift-general", "written for performance_degradation incidents"
    )
    assert nothing.json()["runbook"] is None


def test_the_incident_page_says_which_runbook_and_why(client: TestClient) -> None:
    incident_id = fire(client, "FeatureDrift", "fraud-scorer")
    sign_in(client, "alice")

    page = client.get(f"/incidents/{incident_id}")

    assert page.status_code == 200
    assert 'href="http://bridge.test/runbooks/drift-fraud"' in page.text
    assert "Runbook drift-fraud" in page.text
    assert "(written for model fraud-scorer and type performance_degradation)" in page.text


def test_an_incident_stored_before_reasons_still_shows_its_runbook(client: TestClient) -> None:
    incident_id = fire(client, "ModelAccuracyDrop", "fraud-scorer")
    old = {"id": "accuracy", "title": "Runbook accuracy", "url": "http://bridge.test/runbooks/accuracy"}
    with client.app.state.runtime.db.session(write=True) as session:  # type: ignore[attr-defined]
        session.execute(update(Incident).where(Incident.id == incident_id).values(runbook=old))

    assert runbook_of(client, incident_id) == {**old, "reason": None, "revision": None}
    sign_in(client, "alice")
    page = client.get(f"/incidents/{incident_id}")
    assert page.status_code == 200
    assert 'href="http://bridge.test/runbooks/accuracy"' in page.text
    assert 'id="runbook-reason"' not in page.text
    assert "Contain accuracy." in page.text


def test_the_triage_runbook_of_the_shipped_library_is_for_unclassified_incidents() -> None:
    """The shipped library gives unclassified incidents a runbook (the triage runbook)."""
    from app.runbooks.selection import choose

    root = Path(__file__).resolve().parents[2]
    library, problems = load_library(root / "runbooks")
    assert problems == []
    choice = choose(library, rule="unclassified", rule_runbook=None, model=None, type_="unclassified")
    assert choice is not None and choice.runbook is not None, textwrap.shorten(str(sorted(library)), 200)
    assert "unclassified" in choice.runbook.types
