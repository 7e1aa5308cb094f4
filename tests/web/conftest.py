"""Browser fixtures: a real `incident-bridge serve` process, an SMTP server that keeps what it
receives, and Debian's Chromium driven by Playwright.

Chromium is never downloaded: the tests use /usr/bin/chromium (the Debian package) and skip
when it is missing. Playwright's sync API runs in the plain test thread; it must not run
inside an asyncio loop.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "rules"
RUNBOOKS_DIR = ROOT / "runbooks"
WEBHOOK_FIXTURES = ROOT / "tests" / "fixtures" / "alertmanager-0.25-webhooks.jsonl"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

SECRET_KEY = "browser-tests-secret-key-0123456789abcdef"
WEBHOOK_TOKEN = "am-secret-token"  # what the captured Alertmanager requests carry
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
BROWSER_TIMEOUT_MS = 10_000

# One person, reachable by email only, paged at once for fraud-scorer, which she owns.
ONCALL_YAML = """\
people:
  - id: alice
    name: Alice Example
    contact:
      - {type: email, address: alice@example.com}
escalation_policies:
  - id: owner-first
    steps:
      - {notify: [owner], after: 0m}
models:
  - id: fraud-scorer
    owner: alice
    team: risk-ml
    escalation_policy: owner-first
    tier: production
default_escalation_policy: owner-first
"""

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Call `predicate` until it returns something truthy and return that; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last: {value!r}")
        time.sleep(interval)


def fixture_webhook(line: int) -> dict[str, Any]:
    """The captured Alertmanager 0.25 request on `line` (1-based) of the fixtures file."""
    lines = [raw for raw in WEBHOOK_FIXTURES.read_text().splitlines() if raw.strip()]
    request: dict[str, Any] = json.loads(lines[line - 1])
    return request


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:] or "<no output>"
    except OSError:
        return "<no output>"


# --- mail ---------------------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given, parsed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._messages.append(message)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    def wait_for(self, predicate: Callable[[EmailMessage], bool], timeout: float, what: str) -> EmailMessage:
        def first() -> EmailMessage | None:
            return next((m for m in self.messages if predicate(m)), None)

        found = wait_for(first, timeout, what)
        return found


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on the loopback interface, and its port."""
    controller_module = pytest.importorskip("aiosmtpd.controller")
    box = Mailbox()
    port = free_port()
    controller = controller_module.Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


# --- the bridge ---------------------------------------------------------------------------------


class Bridge:
    """One `incident-bridge serve` process on a fresh SQLite database, sending mail to `smtp_port`."""

    def __init__(self, workdir: Path, smtp_port: int) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.smtp_port = smtp_port
        self.rules_dir = workdir / "rules"
        self.log = workdir / "bridge.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=10.0)

    def _command(self) -> list[str]:
        script = Path(sys.executable).with_name("incident-bridge")
        serve = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if script.exists():
            return [str(script), *serve]
        return [sys.executable, "-m", "app.cli", *serve]

    def _environment(self) -> dict[str, str]:
        # None of the caller's BRIDGE_* settings may leak in; the process runs in its own
        # directory so no .env file is read either.
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
        env.update(
            BRIDGE_DATABASE_URL=f"sqlite:///{self.workdir / 'bridge.db'}",
            BRIDGE_RULES_DIR=str(self.rules_dir),
            BRIDGE_RUNBOOKS_DIR=str(RUNBOOKS_DIR),
            BRIDGE_PUBLIC_URL=self.url,
            BRIDGE_SECRET_KEY=SECRET_KEY,
            BRIDGE_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
            BRIDGE_SMTP_HOST="127.0.0.1",
            BRIDGE_SMTP_PORT=str(self.smtp_port),
            BRIDGE_LOG_LEVEL="warning",
        )
        return env

    def start(self) -> Bridge:
        shutil.copytree(RULES_DIR, self.rules_dir)
        (self.rules_dir / "oncall.yaml").write_text(ONCALL_YAML)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self._command(),
                cwd=self.workdir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"incident-bridge exited with code {self.proc.returncode}:\n{_tail(self.log)}")
            try:
                response = self.http.get("/readyz", timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"incident-bridge not ready after {READY_TIMEOUT:.0f}s ({last}):\n{_tail(self.log)}")

    def stop(self) -> None:
        self.http.close()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)

    def output(self) -> str:
        return _tail(self.log)

    def incident(self, incident_id: int) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/incidents/{incident_id}")
        assert response.status_code == 200, response.text
        detail: dict[str, Any] = response.json()
        return detail

    def fire(self, request: dict[str, Any]) -> list[int]:
        """Replay a captured Alertmanager request; the ids of the incidents it touched."""
        headers = {
            "Content-Type": "application/json",
            "Authorization": request["headers"].get("Authorization", f"Bearer {WEBHOOK_TOKEN}"),
        }
        response = self.http.post(
            "/webhooks/alertmanager", content=json.dumps(request["body"]).encode(), headers=headers
        )
        assert response.status_code == 200, response.text
        ids: list[int] = response.json()["incidents"]
        return ids


@pytest.fixture
def bridge(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Bridge]:
    workdir = tmp_path / "bridge"
    workdir.mkdir()
    server = Bridge(workdir, mailbox[1]).start()
    try:
        yield server
    finally:
        server.stop()


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, shared by the tests of a module."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api")
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open a page in a fresh browser context (no shared cookies or cache); closed afterwards."""
    contexts: list[Any] = []

    def open_page(**context_options: Any) -> Any:
        context = browser.new_context(**context_options)
        contexts.append(context)
        context.set_default_timeout(BROWSER_TIMEOUT_MS)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
