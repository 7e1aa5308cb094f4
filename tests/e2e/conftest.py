"""End-to-end fixtures: incident-bridge as a real process, and a real Alertmanager in front of it.

Each test gets its own bridge on a fresh database (a SQLite file, and a throwaway PostgreSQL
database when BRIDGE_TEST_DATABASE_URL names a server) and, when it asks for one, its own
Alertmanager whose only receiver is that bridge. Alertmanager runs with short timers
(group_wait 1s, group_interval 2s, repeat_interval 4s) so a whole lifecycle takes seconds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "rules"
RUNBOOKS_DIR = ROOT / "runbooks"
WEBHOOK_FIXTURES = ROOT / "tests" / "fixtures" / "alertmanager-0.25-webhooks.jsonl"
ALERTMANAGER_BIN = Path("/usr/bin/prometheus-alertmanager")
PG_SERVER_URL = os.environ.get("BRIDGE_TEST_DATABASE_URL")

WEBHOOK_TOKEN = "e2e-webhook-token"
GENERATOR_URL = "http://prometheus.example/graph?g0.expr=model_accuracy"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.2

# Alertmanager timers, also used by the tests to size their waits.
GROUP_WAIT_S = 1
GROUP_INTERVAL_S = 2
REPEAT_INTERVAL_S = 4

T = TypeVar("T")


# --- small helpers ------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rfc3339(moment: datetime | None = None) -> str:
    """RFC 3339 in UTC with a Z suffix, as Alertmanager's API expects."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wait_for(
    predicate: Callable[[], T], timeout: float = 20.0, interval: float = POLL_INTERVAL, what: str = ""
) -> T:
    """Call `predicate` every `interval` seconds until it returns something truthy; return that.

    Fails the test after `timeout` seconds, showing the last value the predicate returned.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what or predicate!r}; last: {value!r}")
        time.sleep(interval)


def metric_value(exposition: str, sample: str, **labels: str) -> float:
    """Sum of the samples named `sample` whose labels include `labels` (0 when there are none)."""
    total = 0.0
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def load_webhook_fixtures() -> list[dict[str, Any]]:
    """Webhook requests captured from a real Alertmanager 0.25 (path, headers and body)."""
    lines = WEBHOOK_FIXTURES.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        data = path.read_text(errors="replace")
    except OSError:
        return "<no output>"
    return data[-limit:] or "<no output>"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT)


def _wait_http_ready(proc: subprocess.Popen[bytes], url: str, name: str, log: Path) -> None:
    """Poll `url` until it answers 200; fail with the process's output when it never does."""
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with code {proc.returncode} before it was ready:\n{_tail(log)}")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    _stop(proc)
    pytest.fail(f"{name} not ready after {READY_TIMEOUT:.0f}s ({last}); its output:\n{_tail(log)}")


# --- the bridge ---------------------------------------------------------------------------------


class Bridge:
    """One `incident-bridge serve` process and a client for its HTTP API."""

    def __init__(self, database_url: str, workdir: Path, name: str) -> None:
        self.database_url = database_url
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = WEBHOOK_TOKEN
        self.log = workdir / f"{name}.log"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=30.0)

    def _command(self) -> list[str]:
        script = Path(sys.executable).with_name("incident-bridge")
        serve = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if script.exists():
            return [str(script), *serve]
        return [sys.executable, "-m", "app.cli", *serve]

    def _environment(self) -> dict[str, str]:
        # Nothing from the caller's BRIDGE_* settings may leak in (an API token, a production
        # environment name...); the process runs in its own directory so no .env file is read.
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
        env.update(
            BRIDGE_DATABASE_URL=self.database_url,
            BRIDGE_RULES_DIR=str(RULES_DIR),
            BRIDGE_RUNBOOKS_DIR=str(RUNBOOKS_DIR),
            BRIDGE_WEBHOOK_TOKEN=self.token,
            BRIDGE_LOG_LEVEL="warning",
            BRIDGE_PUBLIC_URL=self.url,
        )
        return env

    def start(self) -> Bridge:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self._command(),
                cwd=self.workdir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_http_ready(self.proc, f"{self.url}/readyz", f"incident-bridge {self.name}", self.log)
        return self

    def stop(self) -> None:
        self.http.close()
        if self.proc is not None:
            _stop(self.proc)

    def output(self) -> str:
        return _tail(self.log)

    # API helpers

    def page(self, **filters: str) -> dict[str, Any]:
        response = self.http.get("/api/v1/incidents", params={"limit": "500", **filters})
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    def incidents(self, **filters: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.page(**filters)["items"]
        return items

    def incident(self, incident_id: int) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/incidents/{incident_id}")
        assert response.status_code == 200, response.text
        detail: dict[str, Any] = response.json()
        return detail

    def act(self, incident_id: int, action: str, by: str, note: str = "") -> dict[str, Any]:
        response = self.http.post(f"/api/v1/incidents/{incident_id}/{action}", json={"by": by, "note": note})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def metrics(self) -> str:
        response = self.http.get("/metrics")
        assert response.status_code == 200, response.text
        return response.text

    def metric(self, sample: str, **labels: str) -> float:
        return metric_value(self.metrics(), sample, **labels)

    def post_webhook(
        self, body: bytes | dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        sent.update(headers or {})
        return self.http.post("/webhooks/alertmanager", content=content, headers=sent)


# --- Alertmanager -------------------------------------------------------------------------------


class Alertmanager:
    """A real Alertmanager whose single receiver is the bridge, and helpers for its API v2."""

    def __init__(self, bridge: Bridge, workdir: Path) -> None:
        self.bridge = bridge
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "alertmanager.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=10.0)
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
            str(ALERTMANAGER_BIN),
            f"--config.file={config_file}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # no gossip: a single, isolated instance
            "--log.level=warn",
        ]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                command, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        _wait_http_ready(self.proc, f"{self.url}/-/ready", "Alertmanager", self.log)
        return self

    def stop(self) -> None:
        self.http.close()
        if self.proc is not None:
            _stop(self.proc)

    def output(self) -> str:
        return _tail(self.log)

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


class PgServer:
    """Creates throwaway databases `bridge_e2e_<random>` on the server of BRIDGE_TEST_DATABASE_URL."""

    def __init__(self, url: str) -> None:
        self.base = make_url(url).set(drivername="postgresql+psycopg")
        self.admin: Engine = create_engine(self.base, isolation_level="AUTOCOMMIT")

    def create(self) -> str:
        name = f"bridge_e2e_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = self.base.set(drivername="postgresql", database=name)
        return url.render_as_string(hide_password=False)

    def drop(self, database_url: str) -> None:
        name = make_url(database_url).database
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def dispose(self) -> None:
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer | None]:
    if not PG_SERVER_URL:
        yield None
        return
    server = PgServer(PG_SERVER_URL)
    yield server
    server.dispose()


@pytest.fixture
def fresh_database(pg_server: PgServer | None, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Make an empty database of a kind ("sqlite" or "postgresql"); dropped after the test."""
    created: list[str] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'bridge-{uuid.uuid4().hex[:8]}.db'}"
        if pg_server is None:
            pytest.skip("BRIDGE_TEST_DATABASE_URL is not set: no PostgreSQL server to test against")
        url = pg_server.create()
        created.append(url)
        return url

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


# --- processes ----------------------------------------------------------------------------------


@pytest.fixture
def start_bridge(tmp_path: Path, fresh_database: Callable[[str], str]) -> Iterator[Callable[[str], Bridge]]:
    """Start incident-bridge processes on a database URL; all are stopped after the test.

    Depends on `fresh_database` so that the processes stop before their databases are dropped.
    """
    started: list[Bridge] = []

    def start(database_url: str) -> Bridge:
        bridge = Bridge(database_url, tmp_path, f"bridge-{len(started) + 1}")
        started.append(bridge)
        return bridge.start()

    yield start
    for bridge in started:
        bridge.stop()
        # Shown by pytest only when the test failed.
        sys.stderr.write(f"--- {bridge.name} output ---\n{bridge.output()}\n")


@pytest.fixture
def bridge(start_bridge: Callable[[str], Bridge], e2e_database_url: str) -> Bridge:
    """One bridge process on a fresh database (parametrized over SQLite and PostgreSQL)."""
    return start_bridge(e2e_database_url)


@pytest.fixture
def alertmanager(bridge: Bridge, tmp_path: Path) -> Iterator[Alertmanager]:
    """A real Alertmanager that notifies `bridge`."""
    if not ALERTMANAGER_BIN.exists():
        pytest.skip(
            f"{ALERTMANAGER_BIN} not found: install Debian's prometheus-alertmanager "
            "(apt-get install prometheus-alertmanager) to run the end-to-end tests"
        )
    am = Alertmanager(bridge, tmp_path)
    try:
        yield am.start()
    finally:
        am.stop()
        sys.stderr.write(f"--- Alertmanager output ---\n{am.output()}\n")
