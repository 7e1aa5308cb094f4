"""End-to-end fixtures: incident-bridge as a real process, and a real Alertmanager in front of it.

Each test gets its own bridge on a fresh database (a SQLite file, and a throwaway PostgreSQL
database when BRIDGE_TEST_DATABASE_URL names a server) and, when it asks for one, its own
Alertmanager whose only receiver is that bridge. Alertmanager runs with short timers
(group_wait 1s, group_interval 2s, repeat_interval 4s) so a whole lifecycle takes seconds.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.paging.conftest import HttpReceiver, oncall_yaml
from tests.support import (
    PG_SERVER_URL,
    ROOT,
    BridgeProcess,
    PgServer,
    ServerProcess,
    metric_value,
    require_binary,
    require_postgres,
)

RULES_DIR = ROOT / "rules"  # copied per test; its on-call file is replaced by E2E_ONCALL
RUNBOOKS_DIR = ROOT / "runbooks"

WEBHOOK_TOKEN = "e2e-webhook-token"
GENERATOR_URL = "http://prometheus.example/graph?g0.expr=model_accuracy"

# Alertmanager timers, also used by the tests to size their waits.
GROUP_WAIT_S = 1
GROUP_INTERVAL_S = 2
REPEAT_INTERVAL_S = 4


def rfc3339(moment: datetime | None = None) -> str:
    """RFC 3339 in UTC with a Z suffix, as Alertmanager's API expects."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the bridge ---------------------------------------------------------------------------------


class Bridge(BridgeProcess):
    """One `incident-bridge serve` process and a client for its HTTP API."""

    def page(self, **filters: str) -> dict[str, Any]:
        response = self.http.get("/api/v1/incidents", params={"limit": "500", **filters})
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    def incidents(self, **filters: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.page(**filters)["items"]
        return items

    def act(self, incident_id: int, action: str, by: str, note: str = "") -> dict[str, Any]:
        response = self.http.post(f"/api/v1/incidents/{incident_id}/{action}", json={"by": by, "note": note})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def metric(self, sample: str, **labels: str) -> float:
        return metric_value(self.metrics(), sample, **labels)


# --- Alertmanager -------------------------------------------------------------------------------


class Alertmanager(ServerProcess):
    """A real Alertmanager whose single receiver is the bridge, and helpers for its API v2."""

    ready_path = "/-/ready"

    def __init__(self, bridge: Bridge, workdir: Path, binary: str) -> None:
        super().__init__(workdir, "alertmanager", "Alertmanager", http_timeout=10.0)
        self.bridge = bridge
        self.binary = binary
        # startsAt of every label set we fired, so that resolving sends the same activity range
        self._started: dict[frozenset[tuple[str, str]], str] = {}

    def config(self) -> dict[str, Any]:
        return {
            "route": {
                "receiver": "bridge",
                "group_by": ["alertname", "model"],
                "group_wait": f"{GROUP_WAIT_S}s",
                "group_interval": f"{GROUP_INTERVAL_S}s",
                "repeat_interval": f"{REPEAT_INTERVAL_S}s",
            },
            "receivers": [
                {
                    "name": "bridge",
                    "webhook_configs": [
                        {
                            "url": f"{self.bridge.url}/webhooks/alertmanager",
                            "send_resolved": True,
                            "http_config": {"authorization": {"credentials": self.bridge.token}},
                        }
                    ],
                }
            ],
        }

    def start(self) -> Alertmanager:
        config_file = self.workdir / "alertmanager.yml"
        config_file.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        storage = self.workdir / "alertmanager-data"
        storage.mkdir(exist_ok=True)
        command = [
            self.binary,
            f"--config.file={config_file}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # no gossip: a single, isolated instance
            "--log.level=warn",
        ]
        self.launch(command)
        self.wait_ready()
        return self

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = self.http.post("/api/v2/alerts", json=alerts)
        assert response.status_code == 200, f"Alertmanager refused the alerts: {response.text}"

    def fire(self, *label_sets: dict[str, str], annotations: dict[str, str] | None = None) -> None:
        """Post firing alerts (no endsAt: Alertmanager keeps them firing until resolve_timeout)."""
        starts_at = rfc3339()
        alerts = []
        for labels in label_sets:
            self._started[frozenset(labels.items())] = starts_at
            alerts.append(
                {
                    "labels": labels,
                    "annotations": annotations or {},
                    "startsAt": starts_at,
                    "generatorURL": GENERATOR_URL,
                }
            )
        self.post_alerts(alerts)

    def resolve(self, *label_sets: dict[str, str], annotations: dict[str, str] | None = None) -> None:
        """Post the same alerts again with endsAt = now: Alertmanager then notifies them resolved."""
        ends_at = rfc3339()
        alerts = [
            {
                "labels": labels,
                "annotations": annotations or {},
                "startsAt": self._started.get(frozenset(labels.items()), ends_at),
                "endsAt": ends_at,
                "generatorURL": GENERATOR_URL,
            }
            for labels in label_sets
        ]
        self.post_alerts(alerts)


# --- databases ----------------------------------------------------------------------------------


@pytest.fixture
def fresh_database(pg_server: PgServer | None, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Make an empty database of a kind ("sqlite" or "postgresql"); dropped after the test."""
    created: list[str] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'bridge-{uuid.uuid4().hex[:8]}.db'}"
        require_postgres(PG_SERVER_URL)
        assert pg_server is not None
        # The processes get the URL as users write it, and pick the driver themselves.
        url = make_url(pg_server.create("bridge_e2e")).set(drivername="postgresql")
        created.append(url.render_as_string(hide_password=False))
        return created[-1]

    yield make
    for url in created:
        assert pg_server is not None
        pg_server.drop(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def e2e_database_url(request: pytest.FixtureRequest, fresh_database: Callable[[str], str]) -> str:
    """A fresh database: a SQLite file, then a new PostgreSQL database when a server is configured."""
    return fresh_database(request.param)


@pytest.fixture
def pg_database_url(fresh_database: Callable[[str], str]) -> str:
    """A fresh PostgreSQL database; the test is skipped without BRIDGE_TEST_DATABASE_URL."""
    return fresh_database("postgresql")


# --- where pages go -----------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    """The only place the bridges may page: an HTTP receiver on 127.0.0.1 (PagerDuty included)."""
    server = HttpReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def e2e_rules_dir(tmp_path: Path, receiver: HttpReceiver) -> Path:
    """The shipped rules, with an on-call file whose every contact is `receiver`.

    The shipped on-call file is an example: its Slack and PagerDuty contacts are real services.
    Without SMTP configured, email contacts fail permanently and send nothing.
    """
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    (target / "oncall.yaml").write_text(oncall_yaml(receiver.url))
    return target


# --- processes ----------------------------------------------------------------------------------


@pytest.fixture
def start_bridge(
    tmp_path: Path, fresh_database: Callable[[str], str], e2e_rules_dir: Path, receiver: HttpReceiver
) -> Iterator[Callable[[str], Bridge]]:
    """Start incident-bridge processes on a database URL; all are stopped after the test.

    Depends on `fresh_database` so that the processes stop before their databases are dropped.
    """
    started: list[Bridge] = []

    def start(database_url: str) -> Bridge:
        bridge = Bridge(tmp_path, f"bridge-{len(started) + 1}", token=WEBHOOK_TOKEN)
        started.append(bridge)
        settings = {
            "BRIDGE_DATABASE_URL": database_url,
            "BRIDGE_RULES_DIR": str(e2e_rules_dir),
            "BRIDGE_PAGERDUTY_EVENTS_URL": f"{receiver.url}/pagerduty",
            "BRIDGE_RUNBOOKS_DIR": str(RUNBOOKS_DIR),
            "BRIDGE_LOG_LEVEL": "warning",
            "BRIDGE_PUBLIC_URL": bridge.url,
        }
        return bridge.start(settings)

    yield start
    for bridge in started:
        output = bridge.stop()
        # Shown by pytest only when the test failed.
        sys.stderr.write(f"--- {bridge.name} output ---\n{output}\n")


@pytest.fixture
def bridge(start_bridge: Callable[[str], Bridge], e2e_database_url: str) -> Bridge:
    """One bridge process on a fresh database (parametrized over SQLite and PostgreSQL)."""
    return start_bridge(e2e_database_url)


@pytest.fixture
def alertmanager(bridge: Bridge, tmp_path: Path) -> Iterator[Alertmanager]:
    """A real Alertmanager that notifies `bridge`."""
    binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    am = Alertmanager(bridge, tmp_path, binary)
    try:
        yield am.start()
    finally:
        output = am.stop()
        sys.stderr.write(f"--- Alertmanager output ---\n{output}\n")
