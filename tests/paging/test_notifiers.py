"""The channels: Slack Block Kit, PagerDuty Events v2, signed webhooks, the shared HTTP POST, and
email over a real in-process SMTP server."""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import respx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from app.config import Settings, SmtpSettings
from app.instance.keys import derive
from app.oncall.schemas import EmailContact, PagerDutyContact, SlackContact, WebhookContact
from app.paging.message import Message
from app.paging.notifiers import DeliveryError, build_notifiers, http, pagerduty, slack, webhook
from app.paging.notifiers import email as email_channel
from app.paging.notifiers import log as log_channel
from tests.paging.standard_webhooks import verifies_legacy, verifies_standard
from tests.support import free_port

PUBLIC = "http://bridge.test"
LINKS = {
    "acknowledge": f"{PUBLIC}/a/ack-token",
    "resolve": f"{PUBLIC}/a/resolve-token",
    "view": f"{PUBLIC}/a/view-token",
}
CONTAINMENT = (
    "Roll back to the previous model version",
    "Freeze automatic retraining",
    "Route traffic to the rules-based fallback",
    "Tell the business owner",
)
RUNBOOK_URL = f"{PUBLIC}/runbooks/model-performance-degradation"
SLACK_URL = "https://hooks.slack.com/services/T0/B0/XXX"
EVENTS_URL = "https://events.pagerduty.test/v2/enqueue"
ROUTING_KEY = "0123456789abcdef0123456789abcdef"
HOOK_URL = "http://receiver.test/hooks/incident"
DEFAULT_SECRET = "default-secret-of-this-install"


def make_message(**changes: Any) -> Message:
    message = Message(
        delivery_id="2f0c8a4e-7b1d-4c36-9a51-0d3e5f6a7b8c",
        kind="page",
        recipient="alice",
        incident_id=42,
        incident_key="accuracy-drop:fraud-scorer",
        title="Accuracy dropped below 0.9",
        status="triggered",
        severity="SEV2",
        type="performance_degradation",
        model="fraud-scorer",
        owner="alice",
        opened_at=datetime(2026, 5, 4, 10, 0, tzinfo=UTC),
        urgency="high",
        runbook_title="Model performance degradation",
        runbook_url=RUNBOOK_URL,
        containment=CONTAINMENT,
        links=dict(LINKS),
    )
    return dataclasses.replace(message, **changes)


def sent_json(route: respx.Route) -> Any:
    assert route.call_count == 1
    return json.loads(route.calls.last.request.content)


# --- Slack ----------------------------------------------------------------------------------------


def send_slack(message: Message) -> dict[str, Any]:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SLACK_URL).mock(return_value=httpx.Response(200, text="ok"))
        with httpx.Client() as client:
            slack.SlackNotifier(client).send(SlackContact(type="slack", webhook_url=SLACK_URL), message)
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = sent_json(route)
    return body


def blocks_of(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in body["blocks"] if b["type"] == kind]


def test_slack_page_is_block_kit() -> None:
    message = make_message()

    body = send_slack(message)

    assert body["text"] == message.headline
    for part in ("SEV2", "Accuracy dropped below 0.9", "fraud-scorer"):
        assert part in body["text"]
    assert body["blocks"][0]["type"] == "header"
    assert body["blocks"][0]["text"]["type"] == "plain_text"
    assert body["blocks"][0]["text"]["text"] == message.subject
    assert "[SEV2] Accuracy dropped below 0.9" in message.subject
    field_sections = [b for b in blocks_of(body, "section") if "fields" in b]
    assert len(field_sections) == 1
    fields = [f["text"] for f in field_sections[0]["fields"]]
    assert fields == [
        "*Severity*\nSEV2",
        "*Type*\nperformance degradation",
        "*Model*\nfraud-scorer",
        "*Owner*\nalice",
    ]
    contain = [
        b for b in blocks_of(body, "section") if b.get("text", {}).get("text", "").startswith("*Contain")
    ]
    assert len(contain) == 1
    text = contain[0]["text"]["text"]
    assert text.startswith("*Contain first*\n1. Roll back to the previous model version\n")
    assert "2. Freeze automatic retraining" in text
    assert "3. Route traffic to the rules-based fallback" in text
    assert "Tell the business owner" not in text  # the first three only
    assert f"<{RUNBOOK_URL}|Runbook: Model performance degradation>" in text
    (actions,) = blocks_of(body, "actions")
    buttons = {b["text"]["text"]: b["url"] for b in actions["elements"]}
    assert buttons == {
        "Acknowledge": LINKS["acknowledge"],
        "Resolve": LINKS["resolve"],
        "View incident": LINKS["view"],
    }
    assert all(b["type"] == "button" for b in actions["elements"])
    assert body["blocks"][-1]["type"] == "actions"


@pytest.mark.parametrize("kind", ["severity", "fallback"])
def test_slack_actionable_kinds_have_acknowledge(kind: str) -> None:
    body = send_slack(make_message(kind=kind, note="Severity is now SEV1."))

    (actions,) = blocks_of(body, "actions")
    assert [b["action_id"] for b in actions["elements"]] == ["acknowledge", "resolve", "view"]
    (context,) = blocks_of(body, "context")
    assert context["elements"][0]["text"] == "Severity is now SEV1."


@pytest.mark.parametrize("kind", ["resolve", "acknowledge"])
def test_slack_follow_ups_have_no_acknowledge_button(kind: str) -> None:
    body = send_slack(make_message(kind=kind, status="resolved", resolved_by="bob"))

    (actions,) = blocks_of(body, "actions")
    assert [b["text"]["text"] for b in actions["elements"]] == ["View incident"]
    assert actions["elements"][0]["url"] == LINKS["view"]
    prefix = "Resolved: " if kind == "resolve" else "Acknowledged: "
    assert body["blocks"][0]["text"]["text"].startswith(prefix + "[SEV2]")


def test_slack_without_links_containment_model_or_owner() -> None:
    message = make_message(links={}, containment=(), model=None, owner=None, severity="SEV4")

    body = send_slack(message)

    assert blocks_of(body, "actions") == []
    assert not any("Contain first" in json.dumps(b) for b in body["blocks"])
    fields = [f["text"] for f in blocks_of(body, "section")[1]["fields"]]
    assert "*Model*\nunknown" in fields
    assert "*Owner*\nunowned" in fields
    assert body["text"] == message.headline
    assert "SEV4" in body["text"]


def test_slack_header_fits_slacks_limit() -> None:
    body = send_slack(make_message(title="x" * 400))

    assert len(body["blocks"][0]["text"]["text"]) <= 150


# --- PagerDuty ------------------------------------------------------------------------------------


def send_pagerduty(message: Message, events_url: str = EVENTS_URL) -> dict[str, Any]:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(events_url).mock(return_value=httpx.Response(202, json={"status": "success"}))
        with httpx.Client() as client:
            pagerduty.PagerDutyNotifier(client, events_url).send(
                PagerDutyContact(type="pagerduty", routing_key=ROUTING_KEY), message
            )
    body: dict[str, Any] = sent_json(route)
    return body


@pytest.mark.parametrize("kind", ["page", "severity", "fallback"])
def test_pagerduty_trigger(kind: str) -> None:
    message = make_message(kind=kind)

    body = send_pagerduty(message)

    assert body["event_action"] == "trigger"
    assert body["routing_key"] == ROUTING_KEY
    assert body["dedup_key"] == "accuracy-drop:fraud-scorer"
    payload = body["payload"]
    assert payload["summary"] == message.headline
    for part in ("SEV2", "Accuracy dropped below 0.9", "fraud-scorer"):
        assert part in payload["summary"]
    assert payload["severity"] == "error"
    assert payload["source"] == "fraud-scorer"
    assert payload["class"] == "performance_degradation"
    assert payload["custom_details"]["incident_id"] == 42
    assert payload["custom_details"]["contain_first"] == list(CONTAINMENT[:3])
    assert body["links"] == [
        {"href": LINKS["view"], "text": "Incident in incident-bridge"},
        {"href": RUNBOOK_URL, "text": "Runbook: Model performance degradation"},
    ]
    assert body["client_url"] == LINKS["view"]


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("SEV1", "critical"), ("SEV2", "error"), ("SEV3", "warning"), ("SEV4", "info")],
)
def test_pagerduty_severity_mapping(severity: str, expected: str) -> None:
    assert send_pagerduty(make_message(severity=severity))["payload"]["severity"] == expected


@pytest.mark.parametrize("kind", ["acknowledge", "resolve"])
def test_pagerduty_acknowledge_and_resolve(kind: str) -> None:
    body = send_pagerduty(make_message(kind=kind))

    assert body == {
        "routing_key": ROUTING_KEY,
        "event_action": kind,
        "dedup_key": "accuracy-drop:fraud-scorer",
    }


def test_pagerduty_posts_to_the_configured_events_url() -> None:
    other = "https://pd-proxy.internal.test/enqueue"

    body = send_pagerduty(make_message(), events_url=other)

    assert body["event_action"] == "trigger"


def test_pagerduty_summary_is_truncated_and_dedup_key_limited() -> None:
    body = send_pagerduty(make_message(title="t" * 2000, incident_key="k" * 300))

    assert len(body["payload"]["summary"]) == 1024
    assert len(body["dedup_key"]) == 255
    assert body["dedup_key"].startswith("k" * 190)
    other = send_pagerduty(make_message(title="t", incident_key="k" * 299 + "x"))
    assert other["dedup_key"] != body["dedup_key"]
    short = send_pagerduty(make_message(title="t", incident_key="k" * 255))
    assert short["dedup_key"] == "k" * 255


def test_pagerduty_without_model_or_links() -> None:
    body = send_pagerduty(make_message(model=None, links={}, runbook_url=None))

    assert body["payload"]["source"] == "incident-bridge"
    assert body["links"] == []
    assert "client_url" not in body


# --- generic webhook ------------------------------------------------------------------------------


def send_webhook(contact: WebhookContact, message: Message) -> httpx.Request:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(HOOK_URL).mock(return_value=httpx.Response(204))
        with httpx.Client() as client:
            webhook.WebhookNotifier(client, DEFAULT_SECRET).send(contact, message)
    assert route.call_count == 1
    request: httpx.Request = route.calls.last.request
    return request


def lower(request: httpx.Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def test_webhook_body_and_headers() -> None:
    message = make_message(acknowledged_by="bob")
    before = int(time.time())

    request = send_webhook(WebhookContact(type="webhook", url=HOOK_URL), message)

    after = int(time.time())
    body = json.loads(request.content)
    assert body["delivery_id"] == message.delivery_id
    assert body["event"] == "page"
    assert body["recipient"] == "alice"
    assert body["urgency"] == "high"
    assert body["incident"] == {
        "id": 42,
        "key": "accuracy-drop:fraud-scorer",
        "title": "Accuracy dropped below 0.9",
        "status": "triggered",
        "severity": "SEV2",
        "type": "performance_degradation",
        "model": "fraud-scorer",
        "owner": "alice",
        "opened_at": "2026-05-04T10:00:00+00:00",
        "acknowledged_by": "bob",
        "resolved_by": None,
    }
    assert body["links"] == LINKS
    assert body["runbook"]["containment"] == list(CONTAINMENT)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Incident-Bridge-Delivery"] == message.delivery_id
    assert before <= int(request.headers["X-Incident-Bridge-Timestamp"]) <= after


def test_webhook_signatures_verify_with_the_default_secret() -> None:
    request = send_webhook(WebhookContact(type="webhook", url=HOOK_URL, secret=None), make_message())

    headers = lower(request)
    assert headers["webhook-id"] == headers["x-incident-bridge-delivery"] == make_message().delivery_id
    assert headers["webhook-timestamp"] == headers["x-incident-bridge-timestamp"]
    assert headers["webhook-signature"].startswith("v1,")
    assert verifies_standard(DEFAULT_SECRET, headers, request.content)
    assert verifies_legacy(DEFAULT_SECRET, headers, request.content)


@pytest.mark.parametrize(
    "secret",
    ["alice-only", "whsec_" + base64.b64encode(b"alice's own 24 random bytes").decode()],
    ids=["text", "whsec"],
)
def test_webhook_signatures_use_the_contacts_own_secret(secret: str) -> None:
    request = send_webhook(WebhookContact(type="webhook", url=HOOK_URL, secret=secret), make_message())

    headers = lower(request)
    assert verifies_standard(secret, headers, request.content)
    assert verifies_legacy(secret, headers, request.content)
    assert not verifies_standard(DEFAULT_SECRET, headers, request.content)
    assert not verifies_legacy(DEFAULT_SECRET, headers, request.content)


def test_webhook_signatures_cover_the_delivery_id_timestamp_and_body() -> None:
    request = send_webhook(WebhookContact(type="webhook", url=HOOK_URL), make_message())
    headers, body = lower(request), request.content
    assert verifies_standard(DEFAULT_SECRET, headers, body) and verifies_legacy(DEFAULT_SECRET, headers, body)

    other_id = {**headers, "webhook-id": "another-id", "x-incident-bridge-delivery": "another-id"}
    later = str(int(headers["webhook-timestamp"]) + 1)
    other_time = {**headers, "webhook-timestamp": later, "x-incident-bridge-timestamp": later}
    for changed_headers, changed_body in ((other_id, body), (other_time, body), (headers, body + b" ")):
        assert not verifies_standard(DEFAULT_SECRET, changed_headers, changed_body)
        assert not verifies_legacy(DEFAULT_SECRET, changed_headers, changed_body)


def test_webhook_signature_changes_with_the_delivery_id() -> None:
    first = send_webhook(WebhookContact(type="webhook", url=HOOK_URL), make_message())
    second = send_webhook(
        WebhookContact(type="webhook", url=HOOK_URL), make_message(delivery_id="another-delivery")
    )

    assert lower(second)["webhook-id"] == "another-delivery"
    assert lower(first)["webhook-signature"] != lower(second)["webhook-signature"]
    assert lower(first)["x-incident-bridge-signature"] != lower(second)["x-incident-bridge-signature"]
    # Our signing code agrees with the verifier written from the spec.
    timestamp = lower(first)["webhook-timestamp"]
    signed = webhook.signature(DEFAULT_SECRET, make_message().delivery_id, timestamp, first.content)
    assert signed == lower(first)["x-incident-bridge-signature"]


# --- shared HTTP POST -----------------------------------------------------------------------------


def post_with(response: httpx.Response | Exception) -> httpx.Response:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(HOOK_URL)
        if isinstance(response, Exception):
            route.mock(side_effect=response)
        else:
            route.mock(return_value=response)
        with httpx.Client() as client:
            return http.post(
                client, HOOK_URL, b"{}", {"Content-Type": "application/json"}, "webhook", make_message()
            )


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_post_success(status: int) -> None:
    assert post_with(httpx.Response(status)).status_code == status


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
def test_post_retryable_statuses(status: int) -> None:
    with pytest.raises(DeliveryError) as excinfo:
        post_with(httpx.Response(status, text="try later"))
    assert excinfo.value.retryable is True
    # The channel, the recipient and the status: never the URL, nor a body that may echo it.
    assert str(excinfo.value) == f"webhook to alice: HTTP {status}"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_post_permanent_statuses(status: int) -> None:
    with pytest.raises(DeliveryError) as excinfo:
        post_with(httpx.Response(status, text="no such hook"))
    assert excinfo.value.retryable is False
    assert str(excinfo.value) == f"webhook to alice: HTTP {status}"


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("timed out"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_post_network_errors_are_retryable(error: Exception) -> None:
    with pytest.raises(DeliveryError) as excinfo:
        post_with(error)
    assert excinfo.value.retryable is True
    assert str(excinfo.value) == f"webhook to alice: {type(error).__name__}"


def test_post_to_a_closed_port_is_retryable() -> None:
    port = free_port()
    with httpx.Client(timeout=2) as client, pytest.raises(DeliveryError) as excinfo:
        http.post(client, f"http://127.0.0.1:{port}/hook", b"{}", {}, "slack", make_message())
    assert excinfo.value.retryable is True
    assert str(excinfo.value) == "slack to alice: ConnectError"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_post_redirect_is_not_a_delivery(status: int) -> None:
    elsewhere = "https://elsewhere.test/hook"
    with respx.mock(assert_all_called=False) as mock:
        mock.post(HOOK_URL).mock(return_value=httpx.Response(status, headers={"Location": elsewhere}))
        followed = mock.post(elsewhere).mock(return_value=httpx.Response(200))
        with httpx.Client() as client, pytest.raises(DeliveryError) as excinfo:
            http.post(
                client, HOOK_URL, b"{}", {"Content-Type": "application/json"}, "webhook", make_message()
            )
    assert excinfo.value.retryable is False
    assert str(excinfo.value) == f"webhook to alice: HTTP {status}"
    assert followed.call_count == 0


@pytest.mark.parametrize("channel", ["slack", "pagerduty", "webhook"])
def test_channels_raise_delivery_errors(channel: str) -> None:
    url = {"slack": SLACK_URL, "pagerduty": EVENTS_URL, "webhook": HOOK_URL}[channel]
    with respx.mock(assert_all_called=True) as mock:
        mock.post(url).mock(return_value=httpx.Response(503))
        with httpx.Client() as client, pytest.raises(DeliveryError) as excinfo:
            if channel == "slack":
                slack.SlackNotifier(client).send(SlackContact(type="slack", webhook_url=url), make_message())
            elif channel == "pagerduty":
                pagerduty.PagerDutyNotifier(client, url).send(
                    PagerDutyContact(type="pagerduty", routing_key=ROUTING_KEY), make_message()
                )
            else:
                webhook.WebhookNotifier(client, DEFAULT_SECRET).send(
                    WebhookContact(type="webhook", url=url), make_message()
                )
    assert excinfo.value.retryable is True
    assert str(excinfo.value) == f"{channel} to alice: HTTP 503"
    assert url not in str(excinfo.value) and ROUTING_KEY not in str(excinfo.value)


# --- email: building the message ------------------------------------------------------------------


def parts(mail: EmailMessage) -> tuple[str, str]:
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


def test_email_build_is_multipart_alternative() -> None:
    mail = email_channel.build(make_message(), "alice@example.com", "bridge@example.com")

    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert mail["To"] == "alice@example.com"
    assert mail["From"] == "bridge@example.com"
    subject = mail["Subject"]
    assert "SEV2" in subject
    assert "Accuracy dropped below 0.9" in subject
    assert "fraud-scorer" in subject
    assert mail["X-Incident-Bridge-Delivery"] == make_message().delivery_id
    assert mail["References"] == "<incident-42@incident-bridge>"
    assert mail["X-Priority"] == "1"
    text, html = parts(mail)
    for url in LINKS.values():
        assert url in text
        assert url in html
    assert RUNBOOK_URL in text and RUNBOOK_URL in html
    assert "1. Roll back to the previous model version" in text
    assert "Tell the business owner" not in text
    assert "<li>Roll back to the previous model version</li>" in html


def test_email_html_escapes_the_title() -> None:
    message = make_message(title='<script>alert("x")</script> & more')

    mail = email_channel.build(message, "alice@example.com", "bridge@example.com")

    text, html = parts(mail)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&amp; more" in html
    assert '<script>alert("x")</script> & more' in text  # plain text is not HTML
    assert "<script>" in mail["Subject"]


def test_email_resolve_has_only_the_view_link() -> None:
    mail = email_channel.build(make_message(kind="resolve"), "alice@example.com", "bridge@example.com")

    assert mail["Subject"].startswith("Resolved: [SEV2]")
    assert mail["X-Priority"] is None
    text, html = parts(mail)
    assert LINKS["view"] in text and LINKS["view"] in html
    assert LINKS["acknowledge"] not in text and LINKS["acknowledge"] not in html


def test_email_low_urgency_is_not_flagged_important() -> None:
    mail = email_channel.build(make_message(urgency="low"), "alice@example.com", "bridge@example.com")

    assert mail["X-Priority"] is None
    assert mail["Importance"] is None


# --- email: sending over SMTP ---------------------------------------------------------------------


class Collector:
    """An SMTP handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


class RefuseRecipients(Collector):
    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        return self.reply


def running(handler: Collector) -> Iterator[int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def smtp_port(collector: Collector) -> Iterator[int]:
    yield from running(collector)


def smtp_settings(port: int) -> SmtpSettings:
    return Settings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="incident-bridge@example.com",
        outbound_timeout_seconds=5,
        _env_file=None,  # type: ignore[call-arg]
    ).smtp


def send_email(smtp: SmtpSettings, address: str, message: Message) -> None:
    email_channel.EmailNotifier(smtp).send(EmailContact(type="email", address=address), message)


def test_email_send_delivers_one_message(collector: Collector, smtp_port: int) -> None:
    message = make_message()

    send_email(smtp_settings(smtp_port), "alice@example.com", message)

    assert len(collector.envelopes) == 1
    envelope = collector.envelopes[0]
    assert envelope.mail_from == "incident-bridge@example.com"
    assert envelope.rcpt_tos == ["alice@example.com"]
    assert isinstance(envelope.content, bytes)
    received = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(received, EmailMessage)
    assert received["Subject"] == message.subject
    assert received["X-Incident-Bridge-Delivery"] == message.delivery_id
    assert received.get_content_type() == "multipart/alternative"
    text, html = parts(received)
    assert LINKS["acknowledge"] in text
    assert LINKS["acknowledge"] in html


def test_email_send_without_host_is_permanent() -> None:
    settings = smtp_settings(free_port()).model_copy(update={"host": None})

    with pytest.raises(DeliveryError) as excinfo:
        send_email(settings, "alice@example.com", make_message())
    assert excinfo.value.retryable is False
    assert "BRIDGE_SMTP_HOST" in str(excinfo.value)


def test_email_recipient_refused_is_permanent() -> None:
    handler = RefuseRecipients("550 no such user")
    for port in running(handler):
        with pytest.raises(DeliveryError) as excinfo:
            send_email(smtp_settings(port), "nobody@example.com", make_message())
        assert excinfo.value.retryable is False
        assert "nobody@example.com" in str(excinfo.value)
    assert handler.envelopes == []


def test_email_recipient_temporarily_refused_is_retryable() -> None:
    handler = RefuseRecipients("450 mailbox busy, try again later")
    for port in running(handler):
        with pytest.raises(DeliveryError) as excinfo:
            send_email(smtp_settings(port), "alice@example.com", make_message())
        assert excinfo.value.retryable is True


def test_email_to_a_closed_port_is_retryable() -> None:
    with pytest.raises(DeliveryError) as excinfo:
        send_email(smtp_settings(free_port()), "alice@example.com", make_message())
    assert excinfo.value.retryable is True


def test_email_with_a_line_break_in_the_title_is_sent(collector: Collector, smtp_port: int) -> None:
    message = make_message(title="Accuracy dropped\nbelow 0.9")

    send_email(smtp_settings(smtp_port), "alice@example.com", message)

    (envelope,) = collector.envelopes
    assert isinstance(envelope.content, bytes)
    received = email.message_from_bytes(envelope.content, policy=email.policy.default)
    # The header is one line: a raw line break would end the headers or inject a new one.
    assert received["Subject"] == "[SEV2] Accuracy dropped below 0.9 on fraud-scorer"
    assert received["X-Incident-Bridge-Delivery"] == message.delivery_id


# --- settings and the registry --------------------------------------------------------------------


def test_settings_group_the_smtp_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {
        "BRIDGE_SMTP_HOST": "mail.example.com",
        "BRIDGE_SMTP_PORT": "465",
        "BRIDGE_SMTP_USERNAME": "bridge",
        "BRIDGE_SMTP_PASSWORD": "hunter2-smtp-password",
        "BRIDGE_SMTP_FROM": "pages@example.com",
        "BRIDGE_SMTP_STARTTLS": "true",
        "BRIDGE_SMTP_SSL": "true",
        "BRIDGE_OUTBOUND_TIMEOUT_SECONDS": "3.5",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    smtp = settings.smtp
    assert smtp.password is not None and smtp.password.get_secret_value() == "hunter2-smtp-password"
    assert smtp.model_dump(exclude={"password"}) == {
        "host": "mail.example.com",
        "port": 465,
        "username": "bridge",
        "sender": "pages@example.com",
        "starttls": True,
        "use_ssl": True,
        "timeout": 3.5,
    }
    for shown in (repr(settings), str(settings), repr(smtp), str(smtp)):
        assert "hunter2-smtp-password" not in shown


def test_settings_hide_the_secret_key_and_tokens() -> None:
    settings = Settings(
        secret_key="a-Real-k3y-of-this-install-0123456789",
        api_token="api-token-value",
        webhook_token="webhook-token-value",
        _env_file=None,  # type: ignore[call-arg]
    )

    for secret in ("a-Real-k3y-of-this-install-0123456789", "api-token-value", "webhook-token-value"):
        assert secret not in repr(settings)


def test_smtp_defaults_come_from_settings() -> None:
    smtp = Settings(_env_file=None).smtp  # type: ignore[call-arg]

    assert smtp == SmtpSettings(
        host=None,
        port=25,
        username=None,
        password=None,
        sender="incident-bridge@localhost",
        starttls=False,
        use_ssl=False,
        timeout=10.0,
    )


def test_every_channel_is_registered_under_its_contact_type() -> None:
    settings = Settings(
        pagerduty_events_url=EVENTS_URL,
        _env_file=None,  # type: ignore[call-arg]
    )
    with httpx.Client() as client:
        notifiers = build_notifiers(settings, client, derive(DEFAULT_SECRET))

    assert {name: type(n) for name, n in notifiers.items()} == {
        "email": email_channel.EmailNotifier,
        "webhook": webhook.WebhookNotifier,
        "slack": slack.SlackNotifier,
        "pagerduty": pagerduty.PagerDutyNotifier,
        "log": log_channel.LogNotifier,
    }
    assert all(n.channel == name for name, n in notifiers.items())
    pd = notifiers["pagerduty"]
    assert isinstance(pd, pagerduty.PagerDutyNotifier) and pd.events_url == EVENTS_URL
    hook = notifiers["webhook"]
    assert (
        isinstance(hook, webhook.WebhookNotifier) and hook.default_secret == derive(DEFAULT_SECRET).webhooks
    )


# --- alert text and URLs that try to become markup or links ---------------------------------------


def all_mrkdwn(body: dict[str, Any]) -> list[str]:
    texts = [body["text"]]
    for block in body["blocks"]:
        objects = [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
        texts += [p["text"] for p in objects if isinstance(p, dict) and p.get("type") == "mrkdwn"]
    return texts


def test_slack_escapes_every_alert_derived_string() -> None:
    evil = "<!channel> <https://evil.example|Acknowledge here> & more"
    message = make_message(
        title=evil,
        model="<!here>",
        owner="<@U123>",
        type="<!everyone>",
        note=evil,
        containment=(evil, "second"),
        runbook_title=evil,
    )

    body = slack.payload(message)

    texts = all_mrkdwn(body)
    assert len(texts) == 8  # text, headline, four fields, note, containment
    for text in texts:
        assert "<!" not in text and "<@" not in text and "<https://evil.example" not in text
    escaped = "&lt;!channel&gt; &lt;https://evil.example|Acknowledge here&gt; &amp; more"
    assert body["text"] == f"SEV2 &lt;!everyone&gt;: {escaped} on &lt;!here&gt;"
    assert escaped in texts[1] and escaped in texts[6]
    assert texts[2:6] == [
        "*Severity*\nSEV2",
        "*Type*\n&lt;!everyone&gt;",
        "*Model*\n&lt;!here&gt;",
        "*Owner*\n&lt;@U123&gt;",
    ]
    assert f"1. {escaped}\n2. second\n<{RUNBOOK_URL}|Runbook: {escaped}>" in texts[7]
    assert message.subject in json.dumps(body["blocks"][0])  # plain_text shows it as written


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://wiki.test/rb?a=1&b=2", "<https://wiki.test/rb?a=1&amp;b=2|Runbook: R>"),
        ("https://wiki.test/rb|fake>x", "<https://wiki.test/rb%7Cfake&gt;x|Runbook: R>"),
        ("https://wiki.test/<!channel>", "<https://wiki.test/&lt;!channel&gt;|Runbook: R>"),
    ],
)
def test_slack_runbook_link_cannot_end_early(url: str, expected: str) -> None:
    body = slack.payload(make_message(runbook_url=url, runbook_title="R"))
    assert all_mrkdwn(body)[-1].endswith("\n" + expected)


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html,x", "JAVASCRIPT:alert(1)", " https://x.test", "//evil.test"],
)
def test_a_runbook_url_that_is_not_http_becomes_no_link_anywhere(url: str) -> None:
    message = make_message(runbook_url=url)

    slack_body = json.dumps(slack.payload(message))
    pd_body = pagerduty.payload(ROUTING_KEY, message)
    hook_body = webhook.payload(message)
    mail = email_channel.build(message, "alice@example.com", "bridge@example.com")
    text, html = parts(mail)

    assert message.runbook_link is None
    assert url.strip() not in slack_body and "Runbook" not in slack_body
    assert pd_body["payload"]["custom_details"]["runbook"] is None
    assert [link["text"] for link in pd_body["links"]] == ["Incident in incident-bridge"]
    assert hook_body["runbook"]["url"] is None
    assert url.strip() not in text and url.strip() not in html and "Runbook" not in html
