"""Bad API input is a 4xx naming the problem, never a 500; a database that cannot write is 503."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.cli import migrate
from app.config import Settings
from app.main import create_app
from app.paging.links import sign
from app.text import MAX_DB_ID, MAX_DB_INT
from tests.support import ROOT, PgServer, load_fixture_requests, require


def open_incident(client: TestClient) -> int:
    body = copy.deepcopy(load_fixture_requests()[0]["body"])
    response = client.post("/webhooks/alertmanager", json=body)
    assert response.status_code == 200, response.text
    (incident_id,) = response.json()["incidents"]
    return int(incident_id)


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/incidents/{MAX_DB_ID + 1}",
        f"/api/v1/incidents/{MAX_DB_INT + 1}",
        f"/api/v1/incidents/{2**64}",
        "/api/v1/incidents/0",
        f"/api/v1/incidents?offset={MAX_DB_INT + 1}",
        "/api/v1/incidents?model=a%00b",
        "/api/v1/incidents?type=" + "x" * 201,
    ],
)
def test_out_of_range_or_unstorable_query_is_422(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["errors"], body


def test_the_largest_storable_id_is_a_plain_404(client: TestClient) -> None:
    response = client.get(f"/api/v1/incidents/{MAX_DB_ID}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_the_largest_storable_offset_is_an_empty_page(client: TestClient) -> None:
    open_incident(client)
    page = client.get(f"/api/v1/incidents?offset={MAX_DB_INT}").json()
    assert (page["items"], page["total"]) == ([], 1)


def test_a_nul_in_an_action_is_422_and_changes_nothing(client: TestClient) -> None:
    incident_id = open_incident(client)
    for body in ({"by": "ali\x00ce"}, {"by": "alice", "note": "rolled\x00back"}):
        response = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"][-1] in ("by", "note")
    assert client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "triggered"


def test_an_api_body_over_the_limit_is_413(client: TestClient) -> None:
    incident_id = open_incident(client)
    huge = '{"by": "alice", "note": "' + "x" * (1024 * 1024) + '"}'
    response = client.post(
        f"/api/v1/incidents/{incident_id}/acknowledge",
        content=huge,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        yield b'{"by": "alice", "note": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    streamed = client.post(
        f"/api/v1/incidents/{incident_id}/acknowledge",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    assert client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "triggered"


def test_no_redirect_builds_its_location_from_the_host_header(client: TestClient) -> None:
    response = client.get("/api/v1/incidents/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers


# --- a database that cannot take a write ----------------------------------------------------------


@pytest.fixture
def read_only(
    pg_server: PgServer | None, rules_dir: Path, runbooks_dir: Path
) -> Iterator[tuple[TestClient, int, Any]]:
    """An app on a PostgreSQL database that is switched to read-only after an incident opened."""
    require(pg_server, "BRIDGE_TEST_DATABASE_URL is not set: no PostgreSQL server to test against")
    assert pg_server is not None
    url = pg_server.create("bridge_errors")
    migrate(url)
    settings = Settings(
        database_url=url,
        rules_dir=rules_dir,
        runbooks_dir=runbooks_dir,
        run_jobs=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    try:
        with TestClient(create_app(settings)) as client:
            incident_id = open_incident(client)
            assert client.get("/readyz").status_code == 200
            runtime = client.app.state.runtime  # type: ignore[attr-defined]
            links_key = runtime.keys.links
            name = make_url(url).database
            with pg_server.admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
            runtime.db.dispose()  # new connections see the setting
            yield client, incident_id, links_key
    finally:
        pg_server.drop(url)


def test_readiness_is_503_while_reads_still_work(read_only: tuple[TestClient, int, Any]) -> None:
    """`SELECT 1` still works on a read-only database; readiness must look at writes."""
    client, incident_id, _ = read_only
    assert client.get(f"/api/v1/incidents/{incident_id}").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("not writable: ")


def test_api_actions_answer_503_when_the_database_refuses_writes(
    read_only: tuple[TestClient, int, Any],
) -> None:
    client, incident_id, _ = read_only
    response = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "alice"})
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "unavailable"
    assert response.headers["retry-after"]
    assert client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "triggered"


def test_the_link_page_says_try_again_when_the_database_refuses_writes(
    read_only: tuple[TestClient, int, Any],
) -> None:
    client, incident_id, links_key = read_only
    token = sign(links_key, incident_id, "alice", "acknowledge", datetime.now(UTC) + timedelta(hours=1))
    response = client.post(f"/a/{token}")
    assert response.status_code == 503
    assert "text/html" in response.headers["content-type"]
    assert "try again in a moment" in response.text


def test_the_webhook_answers_503_so_alertmanager_retries(read_only: tuple[TestClient, int, Any]) -> None:
    client, _, _ = read_only
    body = copy.deepcopy(load_fixture_requests()[1]["body"])
    response = client.post("/webhooks/alertmanager", json=body)
    assert response.status_code == 503, response.text


def test_api_answers_503_when_the_database_file_is_gone(settings: Settings, tmp_path: Path) -> None:
    if not settings.database_url.startswith("sqlite"):
        return  # the PostgreSQL case is the read-only database above
    with TestClient(create_app(settings)) as client:
        incident_id = open_incident(client)
        db_file = Path(make_url(settings.database_url).database or "")
        shutil.move(db_file, tmp_path / "moved-away.db")
        db_file.mkdir()  # a directory where the file was: nothing can open it
        client.app.state.runtime.db.dispose()  # type: ignore[attr-defined]
        response = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "alice"})
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "unavailable"


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_on_call_at_the_ends_of_time_is_422(settings: Settings, at: str) -> None:
    """With rotations (the shipped on-call file), shift arithmetic there would overflow."""
    shutil.copy(ROOT / "rules" / "oncall.yaml", settings.rules_dir / "oncall.yaml")
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/oncall").json()["rotations"], "the shipped file has rotations"
        response = client.get("/api/v1/oncall", params={"at": at})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "at"]
