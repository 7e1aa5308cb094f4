"""The incident page's protocol panels in a real browser: assess the harm of a fairness incident,
see the EU AI Act Art. 73 clock and the evidence hold it starts, edit, save and send the notice to
the affected users, cancel another, record the initial report; on a desktop and on a phone.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import ONCALL_YAML, RULES_DIR, RUNBOOKS_DIR, SECRET_KEY, Bridge, Mailbox
from tests.web.test_workspace_browser import DESKTOP, PHONE, browser_sign_in

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots")

# The tests' on-call file with a high-risk model: a serious harm starts the Art. 73 clock.
HIGH_RISK_MODEL = """\
  - id: credit-scorer
    owner: alice
    team: risk-ml
    escalation_policy: owner-first
    tier: production
    risk_tier: high
    decisions: whether a loan application is approved
"""
PROTOCOL_ONCALL_YAML = ONCALL_YAML.replace("models:\n", "models:\n" + HIGH_RISK_MODEL, 1)

COMMUNICATIONS_YAML = """\
communications:
  contact: "the model risk desk, risk-desk@example.org"
  audiences:
    legal: {name: Legal, people: [alice]}
    affected-users: {name: Affected users, channel: "letter"}
  policies:
    - name: fairness
      when: {types: [fairness_violation]}
      notify:
        - {audience: legal, within: 4h, from: opened, approval: true}   # else it goes out at once
    - name: fairness-users
      when: {types: [fairness_violation], harm_levels: [harm_event, serious]}
      notify:
        - {audience: affected-users, within: 72h, from: aware}
"""

# What the comms lead types: line breaks (a browser posts them as CR LF), markup and quotes that
# must reach the letter exactly as typed and show on the page as text.
DRAFT = "Dear applicant,\n\nWe are looking into a problem with a loan decision.\n"
TYPED = (
    "Dear applicant,\n\n"
    'Our credit scoring treated applicants over 60 <b>less favourably</b> & we are "sorry".\n'
    "<script>alert(1)</script>\n\n"
    "The model risk desk\n"
)


@pytest.fixture
def protocol_bridge(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Bridge]:
    """A bridge whose rules have the communications section and the high-risk model above."""
    workdir = tmp_path / "bridge"
    workdir.mkdir()
    server = Bridge(workdir)
    shutil.copytree(RULES_DIR, server.rules_dir)
    (server.rules_dir / "oncall.yaml").write_text(PROTOCOL_ONCALL_YAML)
    (server.rules_dir / "communications.yaml").write_text(COMMUNICATIONS_YAML)
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


def report_fairness_incident(bridge: Bridge) -> int:
    answer = bridge.http.post(
        "/api/v1/incidents",
        json={
            "title": "Credit scorer refuses older applicants more often",
            "type": "fairness_violation",
            "severity": "SEV2",
            "model": "credit-scorer",
            "reported_by": "alice",
            "description": "A reviewer found a 9-point approval gap for applicants over 60.",
        },
    )
    assert answer.status_code == 201, answer.text
    incident_id: int = answer.json()["id"]
    return incident_id


def communications(bridge: Bridge, incident_id: int) -> list[dict[str, Any]]:
    answer = bridge.http.get(f"/api/v1/incidents/{incident_id}/communications")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_countdown_words() -> None:
    from app.web.protocol_forms import countdown

    day, hour = 86_400, 3_600
    assert countdown(2 * day + 4 * hour + 59) == "due in 2 d 4 h"
    assert countdown(15 * day - 3) == "due in 14 d 23 h"
    assert countdown(3 * day) == "due in 3 d"
    assert countdown(hour + 90) == "due in 1 h 1 min"
    assert countdown(59) == "due in less than a minute"
    assert countdown(-3 * hour - 20) == "OVERDUE by 3 h"
    assert countdown(-(day + 60)) == "OVERDUE by 1 d"
    assert countdown(None) == ""


def fits_the_screen(page: Any) -> None:
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"the page scrolls sideways ({scroll}px wide on a {inner}px screen)"


def open_every_form(page: Any) -> None:
    for details in page.locator(".protocol details").all():
        if details.get_attribute("open") is None:
            details.locator("summary").click()


def test_assess_harm_send_notice_and_report(
    protocol_bridge: Bridge, mailbox: tuple[Mailbox, int], new_page: Callable[..., Any]
) -> None:
    from playwright.sync_api import expect

    bridge = protocol_bridge
    SHOTS.mkdir(parents=True, exist_ok=True)
    incident_id = report_fairness_incident(bridge)
    page = new_page(viewport=DESKTOP)
    browser_sign_in(page, bridge, mailbox[0], f"/incidents/{incident_id}")

    # Before any assessment: no clock runs, and only the legal notice of the fairness policy is due.
    expect(page.locator("#harm-level")).to_have_text("Not assessed yet.")
    expect(page.locator("#obligations .clock")).to_have_count(0)
    expect(page.locator("#evidence-hold")).to_have_count(0)
    expect(page.locator(".comm[data-audience=legal] .comm-status")).to_have_text("pending")
    expect(page.locator(".comm[data-audience=legal] .countdown")).to_have_text("due in 3 h 59 min")
    expect(page.locator(".comm[data-audience=affected-users]")).to_have_count(0)

    # Assess the harm in the page's form.
    page.locator("#harm summary", has_text="Assess the harm").click()
    page.select_option("#harm-level-input", "serious")
    page.check("input[name=domain_fundamental_rights]")
    page.fill("#harm-groups", "applicants over 60, applicants with a guarantor")
    page.fill("#harm-persons", "120")
    page.fill("#harm-reason", "refusals confirmed on a sample")
    page.get_by_role("button", name="Save assessment").click()
    expect(page.locator("#notice")).to_have_text("Harm assessed as serious (version 1).")
    expect(page.locator("#harm-level")).to_have_text("serious")
    expect(page.locator("#harm-domains")).to_have_text("fundamental rights")
    assessed = bridge.incident(incident_id)["harm"]
    assert (assessed["level"], assessed["domains"], assessed["by"]) == (
        "serious",
        ["fundamental_rights"],
        "alice",
    )
    assert assessed["affected_groups"] == ["applicants over 60", "applicants with a guarantor"]
    assert assessed["persons_affected"] == 120

    # A refused version is a readable notice, and changes nothing.
    page.locator("#harm summary").click()
    page.fill("#harm-states", "Germany")
    page.get_by_role("button", name="Save assessment").click()
    expect(page.locator("#notice.error")).to_contain_text("member_states")
    assert bridge.incident(incident_id)["harm"]["version"] == 1

    # The Art. 73 clock runs, 15 days from now, and evidence is on hold.
    clock = page.locator("#obligations .clock[data-regime=eu_ai_act_art73]")
    expect(clock).to_have_count(1)
    expect(clock).to_contain_text("15 days")
    expect(clock.locator(".countdown")).to_have_text("due in 14 d 23 h")
    expect(page.locator("#evidence-hold")).to_contain_text("Art. 73(6)")

    # The notice to the affected users appears, due 72 hours after awareness, sent by letter.
    letter = page.locator(".comm[data-audience=affected-users]")
    expect(letter).to_have_count(1)
    expect(letter.locator(".comm-status")).to_have_text("pending")
    expect(letter.locator(".countdown")).to_have_text("due in 2 d 23 h")
    expect(letter).to_contain_text("Goes out by letter")
    expect(letter.locator("textarea")).to_have_value(
        next(c["text"] for c in communications(bridge, incident_id) if c["audience"] == "affected-users")
    )
    page.screenshot(path=str(SHOTS / "communications-desktop.png"), full_page=True)

    # On a phone: the panels fit the screen, with every form open.
    phone = new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    phone.context.add_cookies(page.context.cookies())
    phone.goto(f"{bridge.url}/incidents/{incident_id}")
    expect(phone.locator("#evidence-hold")).to_be_visible()
    expect(phone.locator(".comm[data-audience=affected-users] textarea")).to_be_visible()
    open_every_form(phone)
    fits_the_screen(phone)
    phone.screenshot(path=str(SHOTS / "communications-phone.png"), full_page=True)

    # Save a draft: it needs approval again, and the page shows the saved text.
    letter.locator("textarea").fill(DRAFT)
    letter.get_by_role("button", name="Save draft").click()
    expect(page.locator("#notice")).to_contain_text("Draft of the notice to Affected users saved")
    expect(letter.locator(".comm-status")).to_have_text("draft")
    expect(letter.locator("textarea")).to_have_value(DRAFT)
    drafted = next(c for c in communications(bridge, incident_id) if c["audience"] == "affected-users")
    assert (drafted["status"], drafted["text"], drafted["edited_by"]) == ("draft", DRAFT, "alice")

    # Edit it again and send it: what went out is exactly what was typed last.
    letter.locator("textarea").fill(TYPED)
    letter.locator("input[name=via]").fill("letter")
    letter.get_by_role("button", name="Approve and send").click()
    expect(page.locator("#notice")).to_have_text("Notice to Affected users recorded as sent via letter.")
    sent = next(c for c in communications(bridge, incident_id) if c["audience"] == "affected-users")
    assert (sent["status"], sent["sent_by"], sent["via"], sent["approved_by"]) == (
        "sent",
        "alice",
        "letter",
        "alice",
    )
    assert sent["text"] == TYPED
    shown = page.locator(".comm.done[data-audience=affected-users]")
    expect(shown.locator(".comm-status")).to_have_text("sent")
    expect(shown).to_contain_text("Sent by alice")
    assert shown.locator("pre").text_content() == TYPED  # markup shown as text, not run
    expect(page.locator("#communications script")).to_have_count(0)

    # Cancel the notice to legal, with the reason.
    legal = page.locator(".comm[data-audience=legal]")
    legal.locator("summary", has_text="Cancel this notice").click()
    legal.locator("input[name=reason]").fill("legal already joined the bridge call")
    legal.get_by_role("button", name="Cancel notice").click()
    expect(page.locator("#notice")).to_have_text("Notice to Legal cancelled.")
    expect(page.locator(".comm.done[data-audience=legal] .comm-status")).to_have_text("cancelled")
    cancelled = next(c for c in communications(bridge, incident_id) if c["audience"] == "legal")
    assert (cancelled["status"], cancelled["cancel_reason"]) == (
        "cancelled",
        "legal already joined the bridge call",
    )

    # Record the initial report: the obligation is met for now and the evidence hold ends.
    clock.locator("summary", has_text="Record a report").click()
    clock.locator("select[name=kind]").select_option("initial")
    clock.locator("input[name=reference]").fill("MSA-2026-0042")
    clock.get_by_role("button", name="Record report").click()
    expect(page.locator("#notice")).to_have_text("The initial report to eu ai act art73 report is recorded.")
    expect(page.locator("#evidence-hold")).to_have_count(0)
    expect(clock.locator(".ob-status")).to_have_text("initial sent")
    expect(clock).to_contain_text("Reference MSA-2026-0042")
    obligations = bridge.http.get(f"/api/v1/incidents/{incident_id}/obligations").json()
    art73 = next(o for o in obligations["items"] if o["regime"] == "eu_ai_act_art73")
    assert (art73["status"], art73["initial_by"], art73["reference"]) == (
        "initial_sent",
        "alice",
        "MSA-2026-0042",
    )
    assert obligations["evidence_hold"]["active"] is False
    page.screenshot(path=str(SHOTS / "communications-desktop-after.png"), full_page=True)
    phone.reload()
    open_every_form(phone)
    fits_the_screen(phone)
    phone.screenshot(path=str(SHOTS / "communications-phone-after.png"), full_page=True)


def test_panel_actions_need_the_csrf_token(protocol_bridge: Bridge, mailbox: tuple[Mailbox, int]) -> None:
    from tests.web.test_workspace_browser import sign_in_link

    bridge = protocol_bridge
    incident_id = report_fairness_incident(bridge)
    notice = next(c for c in communications(bridge, incident_id) if c["audience"] == "legal")
    httpx.post(f"{bridge.url}/login", data={"person": "alice"}, timeout=10.0)
    link = sign_in_link(mailbox[0])
    with httpx.Client(base_url=bridge.url, timeout=10.0) as client:
        client.post(link, data={"next": "/incidents"})
        forged = {"communication": str(notice["id"]), "text": "forged", "csrf": "x" * 43}
        for action in ("notice-send", "notice-draft", "harm"):
            assert client.post(f"/incidents/{incident_id}/{action}", data=forged).status_code == 403
    after = next(c for c in communications(bridge, incident_id) if c["audience"] == "legal")
    assert (after["status"], after["text"]) == ("pending", notice["text"])
    assert bridge.incident(incident_id)["harm"] is None
