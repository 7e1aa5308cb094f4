"""The `log` channel: a page written to the service's log, a few readable lines with its links.

The flow tests run against SQLite and, when BRIDGE_TEST_DATABASE_URL is set, PostgreSQL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.catalog.loader import ConfigError, load_catalog
from app.config import Settings
from app.instance.keys import derive
from app.main import create_app
from app.oncall.schemas import LogContact
from app.paging.links import verify
from app.paging.message import Message
from app.paging.notifiers.log import LogNotifier, render
from app.vocabulary import COMMUNICATION, PAGE
from tests.paging.conftest import alert_body, notifications, timeline, wait_until
from tests.support import metric, parse_metrics

PAGE_LOGGER = "incident_bridge.page"
SECRET_KEY = "log-channel-test-master-key-0123456789abcdef"
API_TOKEN = "log-channel-api-token-value"
WEBHOOK_TOKEN = "log-channel-webhook-token-value"
LINKS = {
    "acknowledge": "http://bridge.test/a/ack-token.sig",
    "resolve": "http://bridge.test/a/resolve-token.sig",
    "view": "http://bridge.test/a/view-token.sig",
}
TITLE = "Accuracy of fraud-scorer dropped 6 points"
RUNBOOK = "http://bridge.test/runbooks/model-performance-degradation"
CONTAINMENT = (
    "Roll back to the last model version with good online metrics.",
    "Serve the fallback model while you investigate.",
    "Pause automated retraining.",
)
ONCALL = """\
people:
  - id: alice
    name: Alice Example
    timezone: Europe/Amsterdam
    contact: [{type: log}]
  - id: bob
    name: Bob Example
    contact: [{type: log}]
escalation_policies:
  - id: owner-first
    steps:
      - {notify: [owner], after: 0m}
      - {notify: ["person:bob"], after: 5m}
models:
  - {id: fraud-scorer, owner: alice, team: risk-ml, escalation_policy: owner-first}
teams:
  - id: risk-ml
    fallback: [{type: log}]
default_escalation_policy: owner-first
"""


def message(**changes: object) -> Message:
    values: dict[str, object] = {
        "delivery_id": "3f1c6a52-0000-4000-8000-000000000001",
        "kind": PAGE,
        "recipient": "alice",
        "incident_id": 7,
        "incident_key": "ModelAccuracyDrop/fraud-scorer",
        "title": TITLE,
        "status": "triggered",
        "severity": "SEV2",
        "type": "performance_degradation",
        "model": "fraud-scorer",
        "owner": "alice",
        "opened_at": datetime(2026, 11, 27, 5, 6, tzinfo=UTC),
        "urgency": "high",
        "runbook_title": "Model performance degradation",
        "runbook_url": RUNBOOK,
        "containment": CONTAINMENT,
        "links": dict(LINKS),
        "step": 0,
    }
    values.update(changes)
    return Message(**values)  # type: ignore[arg-type]


@pytest.fixture
def page_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=PAGE_LOGGER)
    return caplog


def page_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == PAGE_LOGGER]


# --- what a page looks like in the log ----------------------------------------------------------


def test_a_page_is_logged_at_info_with_its_links_on_a_few_lines(page_log: pytest.LogCaptureFixture) -> None:
    LogNotifier().send(LogContact(type="log"), message())

    records = [r for r in page_log.records if r.name == PAGE_LOGGER]
    assert records and all(r.levelno == logging.INFO for r in records)
    lines = [r.getMessage() for r in records]
    assert 4 <= len(lines) <= 8, lines
    assert (
        lines[0] == "page for alice: SEV2 performance degradation: Accuracy of fraud-scorer dropped 6 points"
    )
    text = "\n".join(lines)
    assert "incident #7 triggered, model fraud-scorer, owner alice, urgency high, step 1" in text
    assert f"contain first: {CONTAINMENT[0]} (+2 more in the runbook)" in text
    assert (
        "runbook: Model performance degradation http://bridge.test/runbooks/model-performance-degradation"
        in text
    )
    for label, action in (
        ("acknowledge:", "acknowledge"),
        ("resolve:", "resolve"),
        ("incident page:", "view"),
    ):
        (line,) = [line for line in lines if line.strip().startswith(label)]
        assert line.split()[-1] == LINKS[action]  # the whole link, nothing after it
    # Each line a record of its own: a text log keeps one line per record.
    assert all("\n" not in line and "\r" not in line for line in lines)
    # The ids travel on every record (fields of a JSON log line).
    assert {(r.incident_id, r.delivery_id) for r in records} == {(7, message().delivery_id)}  # type: ignore[attr-defined]


def test_alert_text_cannot_forge_log_lines_or_drive_the_terminal(page_log: pytest.LogCaptureFixture) -> None:
    forged = "drift\n2026-11-27 05:06:00,000 INFO incident_bridge.page: page for mallory\x1b[2J\r"
    LogNotifier().send(
        LogContact(type="log"), message(title=forged, model="fraud\nscorer\x07", containment=(forged,))
    )

    lines = page_lines(page_log)
    assert len(lines) == len(render(message()))  # no line more than an ordinary page
    for line in lines:
        assert not any(ch in line for ch in "\n\r\x1b\x07"), repr(line)
    assert lines[0].startswith("page for alice: SEV2 performance degradation: drift 2026-11-27")


def test_a_notice_shows_its_text_briefly_and_only_the_incident_link() -> None:
    note = "\n".join(f"Line {n} of the notice." for n in range(1, 11))
    lines = render(message(kind=COMMUNICATION, note=note, step=None))

    assert lines[0].startswith("notice for alice: ")
    assert [line.strip() for line in lines[1:6]] == [
        "Line 1 of the notice.",
        "Line 2 of the notice.",
        "Line 3 of the notice.",
        "Line 4 of the notice.",
        "(… 6 more line(s) on the incident page)",
    ]
    text = "\n".join(lines)
    assert LINKS["view"] in text
    assert LINKS["acknowledge"] not in text and LINKS["resolve"] not in text  # a notice wakes nobody
    assert "contain first" not in text


def test_a_sign_in_link_is_shown_once_with_its_own_label() -> None:
    url = "http://bridge.test/sign-in/confirm?token=abc.def"
    note = f"Someone (hopefully you) asked to sign in.\n\nSign in: {url}\n\nThe link works once.\n"
    lines = render(
        message(
            kind="sign_in", title="Your sign-in link", severity="", note=note, links={"view": url}, step=None
        )
    )

    assert lines == [
        "sign-in link for alice: Your sign-in link",
        "    Someone (hopefully you) asked to sign in.",
        "    The link works once.",
        f"    sign in:       {url}",
    ]


def test_in_production_the_first_page_warns_that_the_log_holds_its_links(
    page_log: pytest.LogCaptureFixture,
) -> None:
    notifier = LogNotifier("production")
    notifier.send(LogContact(type="log"), message())
    notifier.send(LogContact(type="log"), message(recipient="bob"))

    warnings = [r for r in page_log.records if r.name == PAGE_LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "give people real contacts in production" in warnings[0].getMessage()
    LogNotifier().send(LogContact(type="log"), message())  # development: no warning
    assert len([r for r in page_log.records if r.levelno == logging.WARNING]) == 1


# --- the contact type is validated like the others ----------------------------------------------


def load_oncall(tmp_path: Path, contact: str) -> list[str]:
    rules, runbooks = tmp_path / "rules", tmp_path / "runbooks"
    rules.mkdir(exist_ok=True)
    runbooks.mkdir(exist_ok=True)
    (rules / "oncall.yaml").write_text(f"people:\n  - id: alice\n    contact: [{contact}]\n")
    try:
        person = load_catalog(rules, runbooks).oncall.people["alice"]
    except ConfigError as exc:
        return exc.problems
    assert [c.model_dump() for c in person.contact] == [
        {"type": "log", "urgency": ["low"] if "low]" in contact else ["high", "low"]}
    ]
    return []


@pytest.mark.parametrize(
    ("contact", "problem"),
    [
        ("{type: log}", None),
        ("{type: log, urgency: [low]}", None),
        ("{type: log, address: alice@example.com}", "contact.0.log.address: unknown key"),
        ("{type: log, urgency: [urgent]}", "contact.0.log.urgency.0"),
        ("{type: logs}", "contact.0: Input tag 'logs' found using 'type' does not match"),
    ],
)
def test_a_log_contact_is_validated_like_the_others(
    tmp_path: Path, contact: str, problem: str | None
) -> None:
    problems = load_oncall(tmp_path, contact)

    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems
        if "tag 'logs'" in problem:
            assert "'log'" in problems[0]  # the known types are named, log among them


# --- a page by the log channel, end to end ------------------------------------------------------


@pytest.fixture
def log_client(settings: Settings) -> Iterator[TestClient]:
    (settings.rules_dir / "oncall.yaml").write_text(ONCALL)
    secured = settings.model_copy(
        update={
            "secret_key": SecretStr(SECRET_KEY),
            "api_token": API_TOKEN,
            "webhook_token": WEBHOOK_TOKEN,
        }
    )
    with TestClient(
        create_app(secured),
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    ) as client:
        yield client


def fire_page(client: TestClient) -> int:
    """Open a SEV2 incident on fraud-scorer; its page to alice is written to the log."""
    response = client.post(
        "/webhooks/alertmanager",
        json=alert_body(),
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
    )
    assert response.status_code == 200, response.text
    (incident_id,) = response.json()["incidents"]
    return int(incident_id)


def delivered(client: TestClient, incident_id: int) -> list[str]:
    return [n.recipient for n in notifications(client, incident_id, channel="log", status="delivered")]


def test_a_page_by_log_is_delivered_and_its_acknowledge_link_works(
    log_client: TestClient, page_log: pytest.LogCaptureFixture
) -> None:
    before = metric(log_client, "bridge_notifications_total", channel="log", outcome="delivered")

    incident_id = fire_page(log_client)
    wait_until(lambda: delivered(log_client, incident_id) == ["alice"], what="the page to alice delivered")

    (row,) = notifications(log_client, incident_id, channel="log")
    assert (row.kind, row.status, row.attempts, row.last_error) == ("page", "delivered", 1, None)
    notes = [e["message"] for e in timeline(log_client, incident_id) if e["kind"] == "notified"]
    assert notes == ["page delivered to alice by log"]
    after = metric(log_client, "bridge_notifications_total", channel="log", outcome="delivered")
    assert after == before + 1

    lines = wait_until(lambda: page_lines(page_log), what="the page in the log")
    assert lines[0] == "page for alice: SEV2 performance degradation: ModelAccuracyDrop on fraud-scorer"
    assert f"incident #{incident_id} triggered" in lines[1]
    (ack_line,) = [line for line in lines if line.strip().startswith("acknowledge:")]
    ack_url = ack_line.split()[-1]
    assert ack_url.startswith("http://bridge.test/a/")
    keys = derive(SECRET_KEY)
    claims = verify(keys.links, ack_url.rsplit("/", 1)[1], datetime.now(UTC))
    assert (claims.incident_id, claims.recipient, claims.action) == (incident_id, "alice", "acknowledge")

    path = urlsplit(ack_url).path
    assert log_client.get(path).status_code == 200
    assert log_client.post(path).status_code == 200
    incident = log_client.get(f"/api/v1/incidents/{incident_id}").json()
    assert (incident["status"], incident["acknowledged_by"]) == ("acknowledged", "alice")


def test_the_log_holds_no_secret_but_the_signed_links(
    log_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    incident_id = fire_page(log_client)
    wait_until(lambda: delivered(log_client, incident_id) == ["alice"], what="the page to alice delivered")
    wait_until(lambda: page_lines(caplog), what="the page in the log")

    everything = "\n".join(f"{r.name} {r.getMessage()} {r.__dict__}" for r in caplog.records)
    keys = derive(SECRET_KEY)
    for secret in (SECRET_KEY, API_TOKEN, WEBHOOK_TOKEN, keys.links, keys.webhooks, keys.trackers):
        assert secret not in everything
    # What looks like a token is one of the page's own signed links, nothing else.
    tokens = set(re.findall(r"/a/([A-Za-z0-9_.-]{40,})", "\n".join(page_lines(caplog))))
    assert len(tokens) == 3
    for token in tokens:
        assert verify(keys.links, token, datetime.now(UTC)).recipient == "alice"


def test_the_log_channel_has_its_series_with_the_other_channels(log_client: TestClient) -> None:
    def outcomes(exposition: str, channel: str) -> set[str]:
        found = set()
        for sample in parse_metrics(exposition):
            if sample.startswith("bridge_notifications_total{") and f'channel="{channel}"' in sample:
                found.add(re.sub(r'.*outcome="([a-z]+)".*', r"\1", sample))
        return found

    start = log_client.get("/metrics").text
    assert outcomes(start, "log") == outcomes(start, "email")

    incident_id = fire_page(log_client)
    wait_until(lambda: delivered(log_client, incident_id) == ["alice"], what="the page to alice delivered")

    later = log_client.get("/metrics").text
    assert "delivered" in outcomes(later, "log")
    assert outcomes(start, "email") <= outcomes(later, "log")
