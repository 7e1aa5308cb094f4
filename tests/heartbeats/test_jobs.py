"""The check runs by itself where the jobs run: in a process that sends its own pages
(`serve --inline`, create_app). The worker process runs it too (tests/e2e/test_heartbeat.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.heartbeats.conftest import incidents_of, write_heartbeats
from tests.paging.conftest import HttpReceiver, SmtpServer, wait_until

QUICK = "heartbeats:\n  - {name: quick, interval: 1s}\n"


def test_an_inline_process_checks_its_heartbeats(
    heartbeat_settings: Settings, rules_dir: Path, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    write_heartbeats(rules_dir, QUICK)
    settings = heartbeat_settings.model_copy(update={"run_jobs": True, "escalation_interval_seconds": 0.2})

    with TestClient(create_app(settings)) as client:
        # Armed by its first beat; silent a second later, and paged.
        beat = client.post(
            "/heartbeats/quick",
            headers={"Content-Type": "application/json"},
            content=b"{}",
        )
        assert beat.status_code == 200, beat.text
        (incident,) = wait_until(
            lambda: incidents_of(client, "heartbeat:quick"), timeout=15, what="an incident"
        )
        (page,) = receiver.wait_for(1, "/alice", timeout=15)

    assert incident.type == "technical_failure"
    assert page.json["incident"]["id"] == incident.id
