"""Helpers shared by the test packages: free ports, polling, Prometheus text, throwaway PostgreSQL
databases, the captured Alertmanager webhooks, and incident-bridge (or another server) as a real process.
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, Self, TypeVar

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from app.alerts.schemas import AlertIn
from app.catalog.loader import load_catalog
from app.db import Database, build_engine, normalize_url
from app.flows.intake import ingest
from app.models import Incident

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_FIXTURES = ROOT / "tests" / "fixtures" / "alertmanager-0.25-webhooks.jsonl"
PG_SERVER_URL = os.environ.get("BRIDGE_TEST_DATABASE_URL")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

T = TypeVar("T")


# --- what a test needs to run -------------------------------------------------------------------


def require(condition: object, reason: str) -> None:
    """Skip the calling test (or module) unless `condition` holds; under CI, fail it instead.

    With the environment variable CI set to anything non-empty, a test that cannot run is a
    failure: CI never goes green on a suite that did not run (a missing binary, database or browser).
    """
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so a test that cannot run fails)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_binary(name: str, package: str) -> str:
    """The path of executable `name` on PATH (as `command -v` finds it); `require`s that it exists."""
    path = shutil.which(name)
    require(path, f"{name} not found on PATH: install Debian's {package} package to run this test")
    assert path is not None
    return path


def require_module(name: str) -> ModuleType:
    """`pytest.importorskip`, except that under CI a missing module fails the test."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        require(False, f"cannot import {name}: {exc}")
        raise  # unreachable: require skipped or failed


def require_postgres(url: str | None) -> str:
    """BRIDGE_TEST_DATABASE_URL's value; `require`s that it is set."""
    require(url, "BRIDGE_TEST_DATABASE_URL is not set: no PostgreSQL server to test against")
    assert url is not None
    return url


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.1, what: str = "") -> T:
    """Call `predicate` every `interval` seconds until it returns something truthy; return that.

    A connection error counts as "not yet" (a server may still be starting or reloading). Fails
    the test after `timeout` seconds, showing the last value the predicate returned or raised.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = value = predicate()
        except httpx.TransportError as exc:
            last = exc
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what or predicate!r}; last: {last!r}")
        time.sleep(interval)


# --- no test pages anyone outside this machine ----------------------------------------------------


def is_loopback(host: object) -> bool:
    """Whether `host` (a name or an address, as given to connect or getaddrinfo) is this machine."""
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    host = host.strip("[]").split("%", 1)[0]
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OutboundGuard:
    """Refuses, and remembers, every connection and name lookup of this process that would leave
    the machine. Installed for every test by an autouse fixture (tests/conftest.py)."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_getaddrinfo = socket.getaddrinfo
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        guard = self

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host not in (None, "", b"") and not is_loopback(host):
                guard.refuse(f"name lookup of {host!r}")
            return real_getaddrinfo(host, *args, **kwargs)

        def check(sock: socket.socket, address: Any) -> None:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
                guard.refuse(f"connection to {address!r}")

        def connect(sock: socket.socket, address: Any) -> None:
            check(sock, address)
            real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            check(sock, address)
            return real_connect_ex(sock, address)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)

    def refuse(self, what: str) -> None:
        self.blocked.append(what)
        raise OSError(f"tests may not reach outside this machine: {what}")


class Tripwire:
    """An HTTP proxy on 127.0.0.1 that forwards nothing: it records every request and refuses it.

    Server processes started by the tests get it as HTTP(S)_PROXY, with loopback exempt
    (NO_PROXY), so any request they make to another host lands here instead of leaving.
    """

    def __init__(self) -> None:
        self.requests: list[str] = []
        tripwire = self

        class Handler(BaseHTTPRequestHandler):
            def refuse(self) -> None:
                tripwire.requests.append(f"{self.command} {self.path}")
                self.send_error(403, "tests may not reach outside this machine")

            do_CONNECT = do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = refuse

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="tripwire", daemon=True).start()

    def environment(self) -> dict[str, str]:
        """Proxy variables that send every non-loopback request of a process to this tripwire."""
        names = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
        env = {name: self.url for name in names} | {name.lower(): self.url for name in names}
        exempt = "127.0.0.1,localhost,::1"
        return env | {"NO_PROXY": exempt, "no_proxy": exempt}


_tripwire: Tripwire | None = None


def tripwire() -> Tripwire:
    """The tripwire of this test session (started on first use)."""
    global _tripwire
    if _tripwire is None:
        _tripwire = Tripwire()
    return _tripwire


# --- Prometheus text ----------------------------------------------------------------------------


def _samples(exposition: str) -> Iterator[tuple[str, dict[str, str], float]]:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


def parse_metrics(exposition: str) -> dict[str, float]:
    """Every sample of a Prometheus text exposition by series: `name`, or `name{a="x",b="y"}`
    with the labels sorted by name."""
    series: dict[str, float] = {}
    for name, labels, value in _samples(exposition):
        rendered = ",".join(f'{key}="{labels[key]}"' for key in sorted(labels))
        series[f"{name}{{{rendered}}}" if labels else name] = value
    return series


def histogram_in_process(name: str) -> tuple[float, float]:
    """Count and sum of histogram `name` as this process has observed it so far."""
    sample = REGISTRY.get_sample_value
    return sample(f"{name}_count") or 0.0, sample(f"{name}_sum") or 0.0


def metric_value(exposition: str, name: str, **labels: str) -> float:
    """Sum of the samples named `name` whose labels include `labels` (0 when there are none)."""
    matching = (v for n, have, v in _samples(exposition) if n == name and labels.items() <= have.items())
    return sum(matching, 0.0)


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    """`metric_value` of what `client` (a TestClient, or a client of a running server) reads at /metrics."""
    return metric_value(client.get("/metrics").text, name, **labels)


# --- fixtures and databases ---------------------------------------------------------------------


def list_incidents(client: httpx.Client, **params: Any) -> dict[str, Any]:
    """GET /api/v1/incidents, asserting it answers 200."""
    response = client.get("/api/v1/incidents", params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def incident_detail(client: httpx.Client, incident_id: int) -> dict[str, Any]:
    """GET /api/v1/incidents/{id}, asserting it answers 200."""
    response = client.get(f"/api/v1/incidents/{incident_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def incident_action(client: httpx.Client, incident_id: int, action: str, /, **body: Any) -> dict[str, Any]:
    """POST /api/v1/incidents/{id}/{action} with a JSON body, asserting it answers 200."""
    response = client.post(f"/api/v1/incidents/{incident_id}/{action}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def incident_events(client: httpx.Client, incident_id: int, kind: str) -> list[dict[str, Any]]:
    """The incident's timeline entries of one kind."""
    return [e for e in incident_detail(client, incident_id)["timeline"] if e["kind"] == kind]


def load_fixture_requests() -> list[dict[str, Any]]:
    """Webhook requests captured from a real Alertmanager 0.25 (path, headers and body)."""
    return [json.loads(line) for line in WEBHOOK_FIXTURES.read_text().splitlines() if line.strip()]


class PgServer:
    """Creates throwaway databases on the PostgreSQL server named by BRIDGE_TEST_DATABASE_URL.

    `drop` removes one; `drop_all` removes whatever is left and closes the connections.
    """

    def __init__(self, url: str) -> None:
        self.base = normalize_url(url)
        self.admin = create_engine(self.base, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self, prefix: str = "bridge_test") -> str:
        """A new, empty database `<prefix>_<random>`; its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.base.set(database=name).render_as_string(hide_password=False)

    def drop(self, database_url: str) -> None:
        self._drop(make_url(database_url).database)

    def drop_all(self) -> None:
        for name in list(self.created):
            self._drop(name)
        self.admin.dispose()

    def _drop(self, name: str | None) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)


# --- servers as real processes ------------------------------------------------------------------


class ServerProcess:
    """A server run as a child process on a free loopback port, with an HTTP client for it.

    Its output goes to `<name>.log` in its working directory. Subclasses say how to start it
    (`launch`, then `wait_ready`) and where it reports being ready (`ready_path`).
    """

    ready_path = "/"

    def __init__(self, workdir: Path, name: str, title: str, http_timeout: float = 30.0) -> None:
        self.workdir = workdir
        self.name = name
        self.title = title  # for failure messages
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=http_timeout)

    def launch(self, command: list[str], env: Mapping[str, str] | None = None) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll `ready_path` until it answers 200; fail with the process's output when it never does."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                pytest.fail(f"{self.title} exited with code {code} before it was ready:\n{self.output()}")
            try:
                response = self.http.get(self.ready_path, timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"{self.title} not ready after {timeout:.0f}s ({last}); its output:\n{self.output()}")

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has exited (negative: killed by that signal)."""
        return None if self.proc is None else self.proc.poll()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> str:
        """Terminate the process (kill it if it does not stop) and return its output."""
        self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        return self.output()

    def output(self, limit: int = 6000) -> str:
        """The end of what the process wrote to stdout and stderr."""
        try:
            return self.log.read_text(errors="replace")[-limit:] or "<no output>"
        except OSError:
            return "<no output>"


class BridgeProcess(ServerProcess):
    """`incident-bridge serve` as a real process, and helpers for its HTTP API.

    `token`, when given, is the webhook token the process is started with and `post_webhook` sends.
    """

    ready_path = "/readyz"

    def __init__(
        self, workdir: Path, name: str = "bridge", token: str | None = None, http_timeout: float = 30.0
    ) -> None:
        super().__init__(workdir, name, f"incident-bridge {name}", http_timeout)
        self.token = token

    def start(self, env: Mapping[str, str], wait: bool = True) -> Self:
        """Serve with the BRIDGE_* settings in `env`; wait for /readyz unless `wait` is false.

        None of the caller's own BRIDGE_* variables leak in (an API token, a production database...),
        and the process runs in its working directory, so no stray .env file is read either.
        """
        environment = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
        # The code of this checkout, whatever checkout the virtualenv was installed from.
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        environment.update(tripwire().environment())  # no request leaves this machine
        if self.token is not None:
            environment["BRIDGE_WEBHOOK_TOKEN"] = self.token
        environment.update(env)
        serve = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        script = Path(sys.executable).with_name("incident-bridge")
        command = [str(script), *serve] if script.exists() else [sys.executable, "-m", "app.cli", *serve]
        self.launch(command, environment)
        if wait:
            self.wait_ready()
        return self

    def metrics(self) -> str:
        response = self.http.get("/metrics")
        assert response.status_code == 200, response.text
        return response.text

    def incident(self, incident_id: int) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/incidents/{incident_id}")
        assert response.status_code == 200, response.text
        detail: dict[str, Any] = response.json()
        return detail

    def post_webhook(
        self, body: bytes | dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST an Alertmanager webhook with the bridge's token; `headers` may replace it."""
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json"}
        if self.token is not None:
            sent["Authorization"] = f"Bearer {self.token}"
        sent.update(headers or {})
        return self.http.post("/webhooks/alertmanager", content=content, headers=sent)


def migrate_to(url: str, revision: str, *, down: bool = False) -> None:
    """Upgrade (or downgrade) the database at `url` to one Alembic revision."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    engine = build_engine(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, revision)
    finally:
        engine.dispose()


@contextlib.contextmanager
def fresh_database(kind: str, directory: Path, prefix: str) -> Iterator[str]:
    """An empty, unmigrated database: a SQLite file in `directory`, or a new PostgreSQL one."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'old.db'}"
        return
    server = PgServer(require_postgres(PG_SERVER_URL))
    try:
        yield server.create(prefix)
    finally:
        server.drop_all()


def drop_other_connections(database_url: str) -> int:
    """PostgreSQL: terminate every server connection to this database but the one asking (as a
    server restart or a proxy would), and wait until they are gone (a terminated backend exits,
    and says goodbye on its socket, a moment after it is told to); how many there were."""
    from sqlalchemy import create_engine, text

    from app.db import normalize_url

    others = (
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )
    engine = create_engine(normalize_url(database_url))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        dropped = conn.execute(text(f"SELECT count(pg_terminate_backend(pid)) {others}")).scalar_one()
        deadline = time.monotonic() + 10
        while conn.execute(text(f"SELECT count(*) {others}")).scalar_one() and time.monotonic() < deadline:
            time.sleep(0.01)
    engine.dispose()
    return int(dropped)


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL of every statement any engine runs meanwhile, its whitespace collapsed."""
    from sqlalchemy import Engine, event

    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def open_one_incident(db: Database, at: datetime) -> int:
    """Open an incident the way intake does (one firing ModelAccuracyDrop on fraud-scorer, with
    the repository's rules), at `at`; its id."""
    alert = AlertIn(
        fingerprint="f1",
        status="firing",
        labels={"alertname": "ModelAccuracyDrop", "model": "fraud-scorer"},
        annotations={},
        starts_at=at,
        ends_at=None,
    )
    with db.session(write=True) as session:
        ingest(session, load_catalog(ROOT / "rules", ROOT / "runbooks"), [[alert]], at, "http://bridge.test")
    with db.session() as session:
        return session.scalars(select(Incident.id)).one()
