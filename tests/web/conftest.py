"""Browser fixtures: a real `incident-bridge serve` process, an SMTP server that keeps what it
receives, and Debian's Chromium driven by Playwright.

Chromium is never downloaded: the tests use the `chromium` on PATH (the Debian package) and
skip when it is missing (fail, when CI is set). Playwright's sync API runs in the plain test
thread; it must not run inside an asyncio loop.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from app.instance.keys import derive
from tests.support import ROOT, BridgeProcess, free_port, require_binary, require_module, wait_until

RULES_DIR = ROOT / "rules"
RUNBOOKS_DIR = ROOT / "runbooks"
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

SECRET_KEY = "br0wser-Tests-k3y-0123456789abcdefXYZ"
LINK_KEY = derive(SECRET_KEY).links  # what the bridge signs links with
WEBHOOK_TOKEN = "am-secret-token"  # what the captured Alertmanager requests carry
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

        found = wait_until(first, timeout, what=what)
        return found


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on the loopback interface, and its port."""
    controller_module = require_module("aiosmtpd.controller")
    box = Mailbox()
    port = free_port()
    controller = controller_module.Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


# --- the bridge ---------------------------------------------------------------------------------


class Bridge(BridgeProcess):
    """One `incident-bridge serve` process on a fresh SQLite database, sending mail to the test's
    SMTP server; its rules are a copy of the shipped ones with an on-call file of these tests."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, token=WEBHOOK_TOKEN, http_timeout=10.0)
        self.rules_dir = workdir / "rules"

    def fire(self, request: dict[str, Any]) -> list[int]:
        """Replay a captured Alertmanager request; the ids of the incidents it touched."""
        authorization = request["headers"].get("Authorization", f"Bearer {WEBHOOK_TOKEN}")
        response = self.post_webhook(request["body"], headers={"Authorization": authorization})
        assert response.status_code == 200, response.text
        ids: list[int] = response.json()["incidents"]
        return ids


@pytest.fixture
def bridge(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Bridge]:
    workdir = tmp_path / "bridge"
    workdir.mkdir()
    server = Bridge(workdir)
    shutil.copytree(RULES_DIR, server.rules_dir)
    (server.rules_dir / "oncall.yaml").write_text(ONCALL_YAML)
    (server.rules_dir / "communications.yaml").unlink()  # it names the shipped on-call people
    server.start(
        {
            "BRIDGE_DATABASE_URL": f"sqlite:///{workdir / 'bridge.db'}",
            "BRIDGE_RULES_DIR": str(server.rules_dir),
            "BRIDGE_RUNBOOKS_DIR": str(RUNBOOKS_DIR),
            "BRIDGE_PUBLIC_URL": server.url,
            "BRIDGE_SECRET_KEY": SECRET_KEY,
            "BRIDGE_SMTP_HOST": "127.0.0.1",
            "BRIDGE_SMTP_PORT": str(mailbox[1]),
            "BRIDGE_LOG_LEVEL": "warning",
        }
    )
    try:
        yield server
    finally:
        server.stop()


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, shared by the tests of a module."""
    chromium_path = require_binary("chromium", "chromium")
    sync_api = require_module("playwright.sync_api")
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
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
