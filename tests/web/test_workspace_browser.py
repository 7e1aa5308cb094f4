"""The workspace pages in a real browser: sign in by a mailed link (or behind a trusted proxy),
list and filter incidents, open one, contain it, add a note, reclassify, report a new one.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import load_fixture_requests
from tests.web.conftest import ONCALL_YAML, RULES_DIR, RUNBOOKS_DIR, SECRET_KEY, Bridge, Mailbox

pytestmark = pytest.mark.e2e

MAIL_TIMEOUT = 10.0
SIGN_IN_SUBJECT = "Your sign-in link for incident-bridge"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def start_bridge(workdir: Path, smtp_port: int, extra: dict[str, str] | None = None) -> Bridge:
    workdir.mkdir()
    server = Bridge(workdir)
    shutil.copytree(RULES_DIR, server.rules_dir)
    (server.rules_dir / "oncall.yaml").write_text(ONCALL_YAML)
    (server.rules_dir / "communications.yaml").unlink()  # it names the shipped on-call people
    env = {
        "BRIDGE_DATABASE_URL": f"sqlite:///{workdir / 'bridge.db'}",
        "BRIDGE_RULES_DIR": str(server.rules_dir),
        "BRIDGE_RUNBOOKS_DIR": str(RUNBOOKS_DIR),
        "BRIDGE_PUBLIC_URL": server.url,
        "BRIDGE_SECRET_KEY": SECRET_KEY,
        "BRIDGE_SMTP_HOST": "127.0.0.1",
        "BRIDGE_SMTP_PORT": str(smtp_port),
        "BRIDGE_LOG_LEVEL": "warning",
    }
    return server.start({**env, **(extra or {})})


@pytest.fixture
def proxied(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Callable[[str], Bridge]]:
    """Start a bridge trusting X-Forwarded-User from the given proxy list."""
    started: list[Bridge] = []

    def start(proxies: str) -> Bridge:
        server = start_bridge(
            tmp_path / f"proxied{len(started)}",
            mailbox[1],
            {"BRIDGE_TRUSTED_USER_HEADER": "X-Forwarded-User", "BRIDGE_TRUSTED_PROXIES": proxies},
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def is_sign_in(mail: EmailMessage) -> bool:
    return str(mail["Subject"]) == SIGN_IN_SUBJECT


def sign_in_link(box: Mailbox, seen: int = 0) -> str:
    """The link of the newest sign-in mail after the first `seen` ones."""
    mail = box.wait_for(
        lambda m: is_sign_in(m) and m not in [x for x in box.messages if is_sign_in(x)][:seen],
        MAIL_TIMEOUT,
        "the sign-in mail",
    )
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(r"Sign in: (\S+)", body.get_content())
    assert found, body.get_content()
    return found.group(1)


def browser_sign_in(page: Any, bridge: Bridge, box: Mailbox, target: str = "/incidents") -> None:
    from playwright.sync_api import expect

    page.goto(f"{bridge.url}{target}")
    assert "/login" in page.url
    page.fill("#person", "alice")
    page.get_by_role("button", name="Send me a sign-in link").click()
    expect(page.locator("#notice")).to_contain_text("a sign-in link is on its way")
    seen = len([m for m in box.messages if is_sign_in(m)])
    link = sign_in_link(box, seen - 1 if seen else 0)
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{bridge.url}{target}")


def fire(bridge: Bridge) -> int:
    ids = bridge.fire(load_fixture_requests()[1])  # ModelAccuracyDrop on fraud-scorer, SEV2
    assert len(ids) == 1
    return ids[0]


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways ({width}px wide)"


# --- signing in ---------------------------------------------------------------------------------


def test_pages_need_sign_in(bridge: Bridge) -> None:
    for path in ("/incidents", "/incidents/1", "/incidents/new", "/oncall"):
        answer = httpx.get(f"{bridge.url}{path}", follow_redirects=False, timeout=10.0)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next="), answer.headers["location"]


def test_unknown_id_gets_the_same_answer(bridge: Bridge, mailbox: tuple[Mailbox, int]) -> None:
    known = httpx.post(f"{bridge.url}/login", data={"person": "alice"}, timeout=10.0)
    unknown = httpx.post(f"{bridge.url}/login", data={"person": "mallory"}, timeout=10.0)
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    sign_in_link(mailbox[0])
    assert [str(m["To"]) for m in mailbox[0].messages if is_sign_in(m)] == ["alice@example.com"]


def test_sign_in_link_works_once(bridge: Bridge, mailbox: tuple[Mailbox, int]) -> None:
    httpx.post(f"{bridge.url}/login", data={"person": "alice"}, timeout=10.0)
    link = sign_in_link(mailbox[0])
    shown = httpx.get(link, timeout=10.0)  # a scanner fetching it uses nothing up
    assert shown.status_code == 200 and "Sign in as alice" in shown.text
    elsewhere = {"Origin": "https://attacker.example"}  # login CSRF: signing a victim in as us
    foreign = httpx.post(link, data={"next": "/incidents"}, headers=elsewhere, timeout=10.0)
    assert foreign.status_code == 403 and "bridge_session" not in foreign.cookies
    cross_site = {"Origin": "null", "Sec-Fetch-Site": "cross-site"}
    foreign = httpx.post(link, data={"next": "/incidents"}, headers=cross_site, timeout=10.0)
    assert foreign.status_code == 403 and "bridge_session" not in foreign.cookies
    first = httpx.post(link, data={"next": "/incidents"}, follow_redirects=False, timeout=10.0)
    assert first.status_code == 303 and "bridge_session" in first.cookies
    second = httpx.post(link, data={"next": "/incidents"}, follow_redirects=False, timeout=10.0)
    assert second.status_code == 403
    assert "already used" in second.text
    assert "bridge_session" not in second.cookies


def test_form_without_csrf_token_is_refused(bridge: Bridge, mailbox: tuple[Mailbox, int]) -> None:
    incident_id = fire(bridge)
    httpx.post(f"{bridge.url}/login", data={"person": "alice"}, timeout=10.0)
    link = sign_in_link(mailbox[0])
    with httpx.Client(base_url=bridge.url, timeout=10.0) as client:
        client.post(link, data={"next": "/incidents"})
        assert client.get("/incidents").status_code == 200
        refused = client.post(f"/incidents/{incident_id}/note", data={"text": "forged"})
        assert refused.status_code == 403
        forged = client.post(f"/incidents/{incident_id}/note", data={"text": "forged", "csrf": "x" * 43})
        assert forged.status_code == 403
        assert client.post("/logout").status_code == 403
    assert all(e["message"] != "forged" for e in bridge.incident(incident_id)["timeline"])


def test_trusted_header_from_a_trusted_proxy(proxied: Callable[[str], Bridge]) -> None:
    bridge = proxied("127.0.0.1, 10.0.0.0/8")
    answer = httpx.get(f"{bridge.url}/incidents", headers={"X-Forwarded-User": "alice"}, timeout=10.0)
    assert answer.status_code == 200
    assert '<span class="who">alice</span>' in answer.text


def test_trusted_header_from_elsewhere_is_ignored(proxied: Callable[[str], Bridge]) -> None:
    bridge = proxied("10.0.0.0/8")
    answer = httpx.get(
        f"{bridge.url}/incidents", headers={"X-Forwarded-User": "alice"}, follow_redirects=False, timeout=10.0
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


def test_page_link_signs_in_for_its_incident_only(
    bridge: Bridge, mailbox: tuple[Mailbox, int], new_page: Callable[..., Any]
) -> None:
    from playwright.sync_api import expect

    from tests.web.test_ack_browser import body_of, html_links, is_page

    incident_id = fire(bridge)
    mail = mailbox[0].wait_for(is_page, MAIL_TIMEOUT, "the page email")
    ack_url = html_links(body_of(mail, "html"))["Acknowledge"]
    page = new_page()
    page.goto(ack_url)
    page.get_by_role("button", name="Acknowledge", exact=True).click()
    page.locator("#workspace").click()
    expect(page.locator("#status")).to_have_text("acknowledged")
    assert page.url == f"{bridge.url}/incidents/{incident_id}"
    listed = page.goto(f"{bridge.url}/incidents")
    assert listed is not None and listed.status == 403
    other = page.goto(f"{bridge.url}/incidents/{incident_id + 1}")
    assert other is not None and other.status == 403


# --- working an incident ------------------------------------------------------------------------


def test_list_filter_open_contain_note_reclassify_report(
    bridge: Bridge, mailbox: tuple[Mailbox, int], new_page: Callable[..., Any], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    incident_id = fire(bridge)
    title = bridge.incident(incident_id)["title"]
    page = new_page(viewport=DESKTOP)
    browser_sign_in(page, bridge, mailbox[0])

    # The list, and its filters.
    rows = page.locator(".incident-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(title)
    page.select_option("select[name=severity]", "SEV1")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".incident-row")).to_have_count(0)
    page.select_option("select[name=severity]", "SEV2")
    page.fill("input[name=q]", title.split()[0].lower())
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".incident-row")).to_have_count(1)
    page.fill("input[name=q]", "nothing-like-this")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".incident-row")).to_have_count(0)
    page.goto(f"{bridge.url}/incidents?status=open&team=risk-ml")
    expect(page.locator(".incident-row")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "list-desktop.png"), full_page=True)

    # Open it: containment first.
    page.locator(".incident-row a").first.click()
    expect(page.locator("h1")).to_contain_text(title)
    expect(page.get_by_role("heading", name="Contain first")).to_be_visible()
    page.screenshot(path=str(tmp_path / "detail-desktop.png"), full_page=True)

    # Contain.
    page.fill("#contain-note", "rolled back to v41")
    page.get_by_role("button", name="Mark contained").click()
    expect(page.locator("#notice")).to_have_text("Contained.")
    expect(page.locator("#contained")).to_be_visible()

    # A decision with its rationale.
    page.fill("#note-text", "keep the old model until Monday")
    page.check("input[name=decision]")
    page.fill("#note-rationale", "v42 fails on weekend traffic")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#notice")).to_have_text("Decision recorded.")
    decision = page.locator(".timeline .decision")
    expect(decision).to_contain_text("keep the old model until Monday")
    expect(decision).to_contain_text("v42 fails on weekend traffic")

    # Reclassify.
    page.select_option("#rc-severity", "SEV1")
    page.fill("#rc-reason", "customers are affected")
    page.get_by_role("button", name="Reclassify").click()
    expect(page.locator("#notice")).to_have_text("Reclassified.")
    expect(page.locator("#severity")).to_have_text("SEV1")

    # A refused change is a readable notice.
    page.fill("#link-other", str(incident_id))
    page.get_by_role("button", name="Link", exact=True).click()
    expect(page.locator("#notice.error")).to_be_visible()

    detail = bridge.incident(incident_id)
    assert (detail["severity"], detail["contained_by"]) == ("SEV1", "alice")
    decisions = [e for e in detail["timeline"] if e["kind"] == "decision"]
    assert [e["actor"] for e in decisions] == ["alice"]

    # Star an entry, hide another; hidden entries are left out until asked for.
    page.locator(".timeline .event").first.get_by_role("button", name="Star").click()
    expect(page.locator(".timeline .starred")).to_have_count(1)
    before = page.locator(".timeline .event").count()
    page.locator(".timeline .event").last.get_by_role("button", name="Hide").click()
    expect(page.locator(".timeline .event")).to_have_count(before - 1)
    page.get_by_role("link", name=re.compile("Show 1 hidden entry")).click()
    expect(page.locator(".timeline .event")).to_have_count(before)

    # On a phone.
    phone = new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    phone.context.add_cookies(page.context.cookies())
    phone.goto(f"{bridge.url}/incidents")
    expect(phone.locator(".incident-row")).to_have_count(1)
    phone.screenshot(path=str(tmp_path / "list-phone.png"), full_page=True)
    no_sideways_scroll(phone)
    phone.goto(f"{bridge.url}/incidents/{incident_id}")
    phone.screenshot(path=str(tmp_path / "detail-phone.png"), full_page=True)
    no_sideways_scroll(phone)
    phone.goto(f"{bridge.url}/oncall")
    expect(phone.locator("#models")).to_contain_text("fraud-scorer")
    no_sideways_scroll(phone)

    # Report a new incident; the reporter is the signed-in person.
    page.get_by_role("link", name="Report").click()
    page.fill("#title", "Chatbot gives legal advice")
    page.select_option("#severity", "SEV3")
    page.fill("#model", "support-bot")
    page.fill("#description", "A customer forwarded a transcript.")
    page.get_by_role("button", name="Report").click()
    expect(page.locator("h1")).to_contain_text("Chatbot gives legal advice")
    new_id = int(page.url.rsplit("/", 1)[1])
    reported = bridge.incident(new_id)
    assert (reported["reported_by"], reported["severity"], reported["source"]) == (
        "alice",
        "SEV3",
        "user_report",
    )

    for name in ("list-desktop", "detail-desktop", "list-phone", "detail-phone"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0

    # Sign out.
    page.get_by_role("button", name="Sign out").click()
    assert "/login" in page.url
    page.goto(f"{bridge.url}/incidents")
    assert "/login" in page.url
