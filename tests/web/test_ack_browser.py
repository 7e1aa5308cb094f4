"""Acknowledging a page from the email, in a real browser, against a real incident-bridge.

The email's links open a page; only the page's button acts. Mail scanners that fetch every
link must change nothing, replays must be harmless, and changed or expired links refused.
"""

from __future__ import annotations

import base64
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.catalog.loader import load_catalog
from app.paging.links import sign, verify
from tests.support import load_fixture_requests
from tests.web.conftest import LINK_KEY, RUNBOOKS_DIR, Bridge, Mailbox

pytestmark = pytest.mark.e2e

MAIL_TIMEOUT = 10.0
RECIPIENT = "alice"
RECIPIENT_ADDRESS = "alice@example.com"
B64_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


# --- helpers ------------------------------------------------------------------------------------


class _Links(HTMLParser):
    """Every <a href> of an HTML document with its visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append(("".join(self._text).strip(), self._href))
            self._href = None


def html_links(html: str) -> dict[str, str]:
    parser = _Links()
    parser.feed(html)
    return dict(parser.links)


def body_of(mail: EmailMessage, subtype: str) -> str:
    part = mail.get_body(preferencelist=(subtype,))
    assert part is not None, f"the email has no text/{subtype} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content


def is_page(mail: EmailMessage) -> bool:
    """The first page about the incident (acknowledge and resolve notices have a subject prefix)."""
    return str(mail["To"]) == RECIPIENT_ADDRESS and str(mail["Subject"]).startswith("[")


def events(detail: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [event for event in detail["timeline"] if event["kind"] == kind]


def button_labels(page: Any) -> list[str]:
    labels: list[str] = page.locator("form button").all_inner_texts()
    return [label.strip() for label in labels]


def tamper_signature(url: str, position: int) -> str:
    """`url` with the character at `position` of the signature (after the last '.') changed."""
    head, _, mac = url.rpartition(".")
    index = position % len(mac)
    changed = "B" if mac[index] == "A" else "A"
    return f"{head}.{mac[:index]}{changed}{mac[index + 1 :]}"


@dataclass(frozen=True)
class Paged:
    """An incident that paged alice by email, and the Acknowledge link the email carried."""

    bridge: Bridge
    incident_id: int
    mail: EmailMessage
    ack_url: str
    resolve_url: str
    view_url: str


@pytest.fixture
def paged(bridge: Bridge, mailbox: tuple[Mailbox, int]) -> Paged:
    """ModelAccuracyDrop on fraud-scorer (second captured webhook) fired at the bridge."""
    ids = bridge.fire(load_fixture_requests()[1])
    assert len(ids) == 1, ids
    mail = mailbox[0].wait_for(is_page, MAIL_TIMEOUT, f"the page email to {RECIPIENT_ADDRESS}")
    ack_url = html_links(body_of(mail, "html")).get("Acknowledge")
    assert ack_url, f"no Acknowledge link in the HTML part:\n{body_of(mail, 'html')}"
    links = html_links(body_of(mail, "html"))
    return Paged(bridge, ids[0], mail, ack_url, links["Resolve"], links["View incident"])


# --- the email ----------------------------------------------------------------------------------


def test_page_email_carries_a_signed_acknowledge_link(paged: Paged) -> None:
    text = body_of(paged.mail, "plain")
    assert f"Acknowledge: {paged.ack_url}" in text.splitlines(), text
    assert paged.ack_url.startswith(f"{paged.bridge.url}/a/")
    claims = verify(LINK_KEY, paged.ack_url.rsplit("/", 1)[1], datetime.now(UTC))
    assert (claims.incident_id, claims.recipient, claims.action) == (
        paged.incident_id,
        RECIPIENT,
        "acknowledge",
    )
    assert "[SEV2]" in str(paged.mail["Subject"])


def test_link_scanners_change_nothing(paged: Paged) -> None:
    """A mail scanner or chat unfurler fetching the link must not acknowledge the incident."""
    fetched = httpx.get(paged.ack_url, timeout=10.0)
    assert fetched.status_code == 200, fetched.text
    assert "Acknowledge" in fetched.text  # it shows the button, and that is all
    peeked = httpx.head(paged.ack_url, timeout=10.0)
    assert peeked.status_code in (200, 405), peeked.status_code

    detail = paged.bridge.incident(paged.incident_id)
    assert detail["status"] == "triggered"
    assert detail["acknowledged_by"] is None
    assert events(detail, "acknowledged") == []


# --- the page -----------------------------------------------------------------------------------


def test_acknowledge_replay_and_resolve_in_the_browser(
    paged: Paged, new_page: Callable[..., Any], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    bridge = paged.bridge
    opened = bridge.incident(paged.incident_id)
    assert (opened["status"], opened["severity"], opened["model"]) == ("triggered", "SEV2", "fraud-scorer")
    rules = load_catalog(bridge.rules_dir, RUNBOOKS_DIR)
    runbook = rules.runbooks[opened["runbook"]["id"]]

    # Opening the link shows the incident and its buttons; nothing changes yet.
    page = new_page()
    response = page.goto(paged.ack_url)
    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_have_text(opened["title"])
    meta = page.locator("dl.meta")
    expect(meta).to_contain_text("fraud-scorer")
    expect(meta).to_contain_text(opened["type"].replace("_", " "))
    expect(meta).to_contain_text(RECIPIENT)  # the owner
    expect(page.locator(".badge").first).to_have_text("SEV2")
    expect(page.locator("#status")).to_have_text("triggered")
    expect(page.get_by_role("heading", name="Contain first")).to_be_visible()
    steps = page.locator("h2:text-is('Contain first') + ol > li")
    expect(steps).to_have_count(len(runbook.containment))
    expect(steps.first).to_have_text(runbook.containment[0])
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.locator(".timeline li").first).to_contain_text("incident opened by rule")
    # An acknowledge link offers exactly what it was signed for.
    assert button_labels(page) == ["Acknowledge"]
    screenshot = tmp_path / "incident.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0
    assert bridge.incident(paged.incident_id)["status"] == "triggered"

    # Pressing Acknowledge acts as alice.
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Acknowledge", exact=True).click()
    assert posted.value.status == 200
    expect(page.locator("#notice")).to_contain_text("Acknowledged by alice")
    expect(page.locator("#status")).to_have_text("acknowledged")
    expect(page.locator(".timeline")).to_contain_text(f"{RECIPIENT}: via link")
    acked = bridge.incident(paged.incident_id)
    assert (acked["status"], acked["acknowledged_by"]) == ("acknowledged", RECIPIENT)
    assert [e["actor"] for e in events(acked, "acknowledged")] == [RECIPIENT]

    # Opening the same link again offers nothing: it was signed to acknowledge, not to resolve.
    page = new_page()
    response = page.goto(paged.ack_url)
    assert response is not None and response.status == 200
    expect(page.locator("#status")).to_have_text("acknowledged")
    assert button_labels(page) == []

    # Replaying the original acknowledge POST is harmless.
    replay = httpx.post(paged.ack_url, timeout=10.0)
    assert replay.status_code == 200, replay.text
    assert "Already acknowledged by alice; nothing changed." in replay.text
    after = bridge.incident(paged.incident_id)
    assert after["acknowledged_at"] == acked["acknowledged_at"]
    assert (after["status"], after["acknowledged_by"]) == ("acknowledged", RECIPIENT)
    assert len(events(after, "acknowledged")) == 1

    # Resolve from the resolve link's page.
    page = new_page()
    response = page.goto(paged.resolve_url)
    assert response is not None and response.status == 200
    assert button_labels(page) == ["Resolve"]
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Resolve", exact=True).click()
    assert posted.value.status == 200
    expect(page.locator("#notice")).to_contain_text("Resolved by alice")
    expect(page.locator("#status")).to_have_text("resolved")
    assert button_labels(page) == []
    resolved = bridge.incident(paged.incident_id)
    assert (resolved["status"], resolved["resolved_by"]) == ("resolved", RECIPIENT)
    assert [e["actor"] for e in events(resolved, "resolved")] == [RECIPIENT]

    # The acknowledge link of a resolved incident says so and changes nothing.
    late = httpx.post(paged.ack_url, timeout=10.0)
    assert late.status_code == 200, late.text
    assert "already resolved; nothing to do" in late.text
    final = bridge.incident(paged.incident_id)
    assert (final["status"], final["acknowledged_at"]) == ("resolved", acked["acknowledged_at"])


def test_tampered_link_is_refused(paged: Paged, new_page: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    tampered = tamper_signature(paged.ack_url, 0)
    assert tampered != paged.ack_url
    page = new_page()
    response = page.goto(tampered)
    assert response is not None and response.status == 403
    expect(page.locator("#notice")).to_have_text(
        "this link is not valid: it was changed or not issued by this service"
    )
    expect(page).to_have_title("Link not valid")
    assert button_labels(page) == []
    assert page.locator("h1").count() == 0  # nothing about the incident leaks

    pressed = httpx.post(tampered, timeout=10.0)
    assert pressed.status_code == 403
    assert paged.bridge.incident(paged.incident_id)["status"] == "triggered"


def test_link_with_changed_last_signature_character_is_refused(paged: Paged) -> None:
    head, _, mac = paged.ack_url.rpartition(".")
    # 32 bytes in 43 base64 characters: the last one carries 4 bits and 2 unused ones.
    sibling = B64_ALPHABET[B64_ALPHABET.index(mac[-1]) ^ 1]
    tampered = f"{head}.{mac[:-1]}{sibling}"
    assert tampered != paged.ack_url
    assert base64.urlsafe_b64decode(mac + "=") == base64.urlsafe_b64decode(mac[:-1] + sibling + "=")

    fetched = httpx.get(tampered, timeout=10.0)
    assert fetched.status_code == 403, "a link whose signature was changed was accepted"


def test_expired_link_is_refused(paged: Paged, new_page: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    expired_at = datetime.now(UTC) - timedelta(minutes=1)
    token = sign(LINK_KEY, paged.incident_id, RECIPIENT, "acknowledge", expires_at=expired_at)
    url = f"{paged.bridge.url}/a/{token}"
    page = new_page()
    response = page.goto(url)
    assert response is not None and response.status == 410
    expect(page.locator("#notice")).to_contain_text("this link has expired")
    assert button_labels(page) == []

    pressed = httpx.post(url, timeout=10.0)
    assert pressed.status_code == 410
    assert paged.bridge.incident(paged.incident_id)["status"] == "triggered"


# --- on a phone ---------------------------------------------------------------------------------


def test_page_is_usable_on_a_phone(paged: Paged, new_page: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    width = 390
    page = new_page(
        viewport={"width": width, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    response = page.goto(paged.ack_url)
    assert response is not None and response.status == 200
    button = page.get_by_role("button", name="Acknowledge", exact=True)
    expect(button).to_be_visible()
    expect(button).to_be_in_viewport()
    box = button.bounding_box()
    assert box is not None
    assert box["height"] >= 40, f"the Acknowledge button is only {box['height']:.0f}px tall"
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page scrolls sideways ({scroll_width}px wide)"

    button.tap()
    expect(page.locator("#notice")).to_contain_text("Acknowledged by alice")
    assert paged.bridge.incident(paged.incident_id)["acknowledged_by"] == RECIPIENT


# --- links do only what they were signed for ------------------------------------------------------


def test_view_link_is_read_only(paged: Paged, new_page: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    page = new_page()
    response = page.goto(paged.view_url)
    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_be_visible()
    assert button_labels(page) == []
    assert page.locator("form").count() == 0, "a view link's page must not carry any form"

    pressed = httpx.post(paged.view_url, timeout=10.0)
    assert pressed.status_code == 400
    assert paged.bridge.incident(paged.incident_id)["status"] == "triggered"


def test_resolve_link_page_offers_only_resolve(paged: Paged) -> None:
    page = httpx.get(paged.resolve_url, timeout=10.0)
    assert page.status_code == 200
    actions = [href for _, href in _Forms.of(page.text)]
    resolve_token = paged.resolve_url.rsplit("/", 1)[1]
    # The only form posts back to the very token that was opened: no page mints a token.
    assert actions == [f"/a/{resolve_token}"]
    assert paged.bridge.incident(paged.incident_id)["status"] == "triggered"


def test_every_page_carries_a_strict_content_security_policy(paged: Paged) -> None:
    for url in (paged.ack_url, paged.view_url, f"{paged.bridge.url}/runbooks/model-performance-degradation"):
        answer = httpx.get(url, timeout=10.0)
        assert answer.status_code == 200, url
        csp = answer.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["form-action"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert "'unsafe-inline'" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            found = dict(attrs)
            self.forms.append((found.get("method") or "", found.get("action") or ""))

    @classmethod
    def of(cls, html: str) -> list[tuple[str, str]]:
        parser = cls()
        parser.feed(html)
        return parser.forms


# --- only http(s) URLs become links ----------------------------------------------------------------


def test_javascript_runbook_url_never_becomes_a_link(bridge: Bridge, new_page: Callable[..., Any]) -> None:
    """An alert no rule knows gets the triage runbook; its javascript: runbook_url is never a link."""
    from playwright.sync_api import expect

    evil = "javascript:document.forms[0].submit()"
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "incident-bridge",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "SomethingNoRuleKnows", "model": "fraud-scorer"},
                "annotations": {"summary": "odd thing", "runbook_url": evil},
                "startsAt": datetime.now(UTC).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": "0123456789abcdef",
            }
        ],
    }
    ids = bridge.fire({"headers": {}, "body": body})
    incident = bridge.incident(ids[0])
    assert incident["runbook"]["id"] == "unclassified-alert"
    assert not incident["runbook"]["url"].lower().startswith("javascript:")

    token = sign(LINK_KEY, ids[0], RECIPIENT, "acknowledge", datetime.now(UTC) + timedelta(hours=1))
    page = new_page()
    response = page.goto(f"{bridge.url}/a/{token}")
    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_have_text("odd thing")
    hrefs = page.eval_on_selector_all("a", "links => links.map(a => a.getAttribute('href'))")
    assert all(not (h or "").lower().startswith("javascript:") for h in hrefs), hrefs
    assert any((h or "").endswith("/runbooks/unclassified-alert") for h in hrefs), hrefs
    assert bridge.incident(ids[0])["status"] == "triggered"
