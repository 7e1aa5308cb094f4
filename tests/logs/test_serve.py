"""A real `incident-bridge serve` with BRIDGE_LOG_FORMAT=json writes nothing but JSON lines, from
start to stop: its own, uvicorn's, and its worker's (the one forked at start and the one started
anew when it died) while they send pages; and the migrations at start say one line, not twenty.

Runs against a SQLite file and, when BRIDGE_TEST_DATABASE_URL is set, a new PostgreSQL database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.paging.conftest import HttpReceiver, alert_body, oncall_yaml
from tests.support import ROOT, BridgeProcess, fresh_database, wait_until

pytestmark = pytest.mark.e2e

TOKEN = "logs-e2e-webhook-token-0123456789abcdef"
REQUIRED = ("timestamp", "level", "logger", "message")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, unmigrated database: serve migrates it as it starts."""
    with fresh_database(request.param, tmp_path, "bridge_logs") as url:
        yield url


def children(pid: int) -> list[int]:
    """The running child processes of `pid` (a serve process has one: its worker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(parent) == pid and state != "Z":
            found.append(int(entry.name))
    return found


def command_of(pid: int) -> list[str]:
    try:
        return [p.decode() for p in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if p]
    except OSError:
        return []


def json_lines(bridge: BridgeProcess, strict: bool = True) -> list[dict[str, Any]]:
    """Every line the process wrote (stdout and stderr), each one JSON with the required fields.
    Not `strict` (while it runs): the line being written may be incomplete, and is left out."""
    lines = []
    for number, raw in enumerate(bridge.log.read_text().splitlines(), start=1):
        try:
            line = json.loads(raw)
        except ValueError:
            if not strict:
                continue
            pytest.fail(f"line {number} is not JSON: {raw!r}")
        assert isinstance(line, dict) and all(line.get(name) for name in REQUIRED), raw
        lines.append(line)
    return lines


def paged(bridge: BridgeProcess, incident_id: int) -> bool:
    lines = json_lines(bridge, strict=False)
    return any(ln.get("event") == "paged" and ln.get("incident_id") == incident_id for ln in lines)


def worker_starts(bridge: BridgeProcess) -> int:
    return sum("incident-bridge worker" in ln["message"] for ln in json_lines(bridge, strict=False))


def fire(bridge: BridgeProcess, body: dict[str, Any]) -> int:
    response = bridge.post_webhook(body)
    assert response.status_code == 200, response.text
    (incident_id,) = response.json()["incidents"]
    return int(incident_id)


def test_serve_and_its_workers_write_only_json_lines(
    tmp_path: Path, rules_dir: Path, receiver: HttpReceiver, database_url: str
) -> None:
    (rules_dir / "oncall.yaml").write_text(oncall_yaml(receiver.url))
    bridge = BridgeProcess(tmp_path, token=TOKEN)
    settings = {
        "BRIDGE_DATABASE_URL": database_url,
        "BRIDGE_RULES_DIR": str(rules_dir),
        "BRIDGE_RUNBOOKS_DIR": str(ROOT / "runbooks"),
        "BRIDGE_PAGERDUTY_EVENTS_URL": f"{receiver.url}/pagerduty",
        "BRIDGE_PUBLIC_URL": bridge.url,
        "BRIDGE_LOG_FORMAT": "json",
        "BRIDGE_LOG_LEVEL": "info",
    }
    try:
        bridge.start(settings)
        assert bridge.proc is not None
        serve = bridge.proc.pid
        # The worker forked at start sends the page (alice: her webhook; email is not configured).
        first = fire(bridge, alert_body())
        receiver.wait_for(1, "/alice", timeout=30)
        wait_until(lambda: paged(bridge, first), what="the forked worker's paged line")

        (forked,) = wait_until(lambda: children(serve), what="the forked worker")
        os.kill(forked, signal.SIGKILL)
        spawned = wait_until(
            lambda: [pid for pid in children(serve) if "worker" in command_of(pid)],
            what="a worker started anew",
        )
        assert command_of(spawned[0])[-4:-1] == ["app.cli", "worker", "--parent"]
        wait_until(lambda: worker_starts(bridge) == 2, what="the new worker's start")
        second = fire(bridge, alert_body(model="churn-model"))  # bob's: webhook, Slack, PagerDuty
        receiver.wait_for(1, "/bob", timeout=30)
        wait_until(lambda: paged(bridge, second), what="the new worker's paged line")
    finally:
        output = bridge.stop()
    assert bridge.returncode == 0, output

    lines = json_lines(bridge)
    messages = [ln["message"] for ln in lines]
    assert any(ln["logger"] == "uvicorn.error" and "Uvicorn running on" in ln["message"] for ln in lines)
    assert any("Application shutdown complete" in m for m in messages)  # to the very end
    assert sum("worker" in m and "started" in m for m in messages) == 2
    assert {ln["incident_id"] for ln in lines if ln.get("event") == "opened"} == {first, second}
    gave_up = [ln for ln in lines if ln.get("event") == "gave_up"]
    assert gave_up and all(ln["channel"] == "email" for ln in gave_up)  # no SMTP server configured
    # Migrations: alembic keeps its INFO lines to itself; one line says where the schema is.
    assert not [ln for ln in lines if ln["logger"].startswith("alembic")]
    (schema,) = [m for m in messages if m.startswith("database schema")]
    assert schema.startswith("database schema upgraded from revision none to ")
    assert TOKEN not in bridge.log.read_text()


def test_serve_refusing_broken_rules_says_why_in_json(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "10.yaml").write_text("rules:\n  - name: broken\n    matchers: ['model=~\"(\"']\n")
    env = {
        **os.environ,
        "BRIDGE_LOG_FORMAT": "json",
        "BRIDGE_RULES_DIR": str(rules),
        "BRIDGE_RUNBOOKS_DIR": str(ROOT / "runbooks"),
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--inline", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    lines = [json.loads(line) for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    messages = [line["message"] for line in lines if line["level"] == "ERROR"]
    assert any("rule 'broken'" in m and "regex" in m for m in messages), messages
    assert messages[-1] == "refusing to start: fix the rules (incident-bridge check-rules)"
