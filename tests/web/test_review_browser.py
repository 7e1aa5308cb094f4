"""The post-incident review page in a real browser: a SEV2 incident resolves and its review
starts; approving it empty is refused with what is missing; the root cause, a contributing
factor, the harm assessment and an improvement action make it complete; it is approved by the
signed-in person and the incident closes; the team's actions page lists the action under its
owner. On a desktop and on a phone. Restricted incidents answer 404, as the incident page does.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import ONCALL_YAML, RULES_DIR, RUNBOOKS_DIR, SECRET_KEY, Bridge, Mailbox
from tests.web.test_workspace_browser import DESKTOP, PHONE, browser_sign_in, is_sign_in, sign_in_link

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots")
DESCRIPTION = "Fraud scores jumped for card payments in EUR after a partner feed change."
NARRATIVE = (
    "The partner feed started sending amounts in cents; the amount feature grew a hundredfold "
    "and the model scored ordinary payments as fraud."
)
FACTORS = ["No schema check on the partner feed", "The drift alert on amount was too loose"]
HARM_NOTES = "Flagged payments went to manual review; no card was blocked on the model's word."
ACTION = "Validate the partner feed's units before features are computed"

# A second person who works on nothing: a restricted incident does not exist for him.
BOB = """\
  - id: bob
    name: Bob Example
    contact:
      - {type: email, address: bob@example.com}
"""
TWO_PEOPLE_ONCALL_YAML = ONCALL_YAML.replace("escalation_policies:\n", BOB + "escalation_policies:\n", 1)


@pytest.fixture
def two_people_bridge(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Bridge]:
    workdir = tmp_path / "bridge"
    workdir.mkdir()
    server = Bridge(workdir)
    shutil.copytree(RULES_DIR, server.rules_dir)
    (server.rules_dir / "oncall.yaml").write_text(TWO_PEOPLE_ONCALL_YAML)
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


# --- the API's view -----------------------------------------------------------------------------


def report_and_resolve(bridge: Bridge) -> int:
    """A SEV2 incident reported and resolved through the API: its review starts."""
    answer = bridge.http.post(
        "/api/v1/incidents",
        json={
            "title": "Fraud scorer flags ordinary EUR payments",
            "type": "performance_degradation",
            "severity": "SEV2",
            "model": "fraud-scorer",
            "reported_by": "alice",
            "description": DESCRIPTION,
        },
    )
    assert answer.status_code == 201, answer.text
    incident_id: int = answer.json()["id"]
    resolved = bridge.http.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "alice"})
    assert resolved.status_code == 200, resolved.text
    return incident_id


def review(bridge: Bridge, incident_id: int) -> dict[str, Any]:
    answer = bridge.http.get(f"/api/v1/incidents/{incident_id}/review")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def fits_the_screen(page: Any) -> None:
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"the page scrolls sideways ({scroll}px wide on a {inner}px screen)"


def save(page: Any) -> None:
    page.locator("#review-form").get_by_role("button", name="Save", exact=True).click()


def test_the_form_sends_only_what_changed() -> None:
    from app.reviews.schemas import ReviewRead
    from app.web.review_pages import duration_text, fields_of, problems_of, review_change

    assert [duration_text(s) for s in (None, 0, 45, 5400, 90061.4)] == ["", "0s", "45s", "1h30m", "1d1h1m1s"]
    now = datetime.now(UTC)
    stored = ReviewRead.model_validate(
        {
            "incident_id": 1,
            "status": "approved",
            "required": True,
            "owner": "alice",
            "due_at": now,
            "overdue": False,
            "updated_by": "alice",
            "approved_by": "alice",
            "approved_at": now,
            "created_at": now,
            "updated_at": now,
            "actions": [],
            "impact": {"duration_seconds": 61.7},
            "detection": {"how": "alert rule X", "when": now, "delay_seconds": 30.0},
            "contributing_factors": ["a"],
        }
    )
    # Posted back untouched (a browser sends CR LF): nothing changes, an approved review stays so.
    untouched = {name: value.replace("\n", "\r\n") for name, value in fields_of(stored).items()}
    assert review_change(untouched, stored, "bob").model_fields_set == {"by"}
    edited = {**untouched, "contributing_factors": "a\r\n\r\n b \r\n", "impact_users": "12"}
    change = review_change(edited, stored, "bob")
    assert change.model_fields_set == {"by", "contributing_factors", "impact"}
    assert change.contributing_factors == ["a", "b"]
    assert change.impact is not None
    assert (change.impact.duration_seconds, change.impact.users_affected) == (61.7, 12)  # "1m2s" kept as is
    moved = review_change({**untouched, "detection_how": "a reviewer", "status": "in_review"}, stored, "bob")
    assert moved.detection is not None and moved.status == "in_review"
    assert (moved.detection.when, moved.detection.delay_seconds) == (now, 30.0)
    assert problems_of("the review cannot be approved yet: `summary` is empty; `x.y_z` says") == [
        "summary is empty",
        "x: y z says",
    ]


# --- the scenario -------------------------------------------------------------------------------


def test_review_approve_close_and_actions(
    bridge: Bridge, mailbox: tuple[Mailbox, int], new_page: Callable[..., Any]
) -> None:
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    incident_id = report_and_resolve(bridge)
    assert review(bridge, incident_id)["status"] == "draft"
    page = new_page(viewport=DESKTOP)
    browser_sign_in(page, bridge, mailbox[0], f"/incidents/{incident_id}")

    # The incident page says a review is under way, and leads to it.
    expect(page.locator("#review-panel-status")).to_have_text("draft")
    page.locator("#review-panel").screenshot(path=str(SHOTS / "incident-review-panel.png"))
    page.locator("#review-link").click()
    page.wait_for_url(f"{bridge.url}/incidents/{incident_id}/review")
    expect(page.locator("#blameless")).to_contain_text("Nobody is to blame")
    expect(page.locator("#review-status")).to_have_text("draft")
    expect(page.locator("#review-owner")).to_have_text("alice")
    expect(page.locator("#r-summary")).to_have_value(DESCRIPTION)  # pre-filled from the incident
    expect(page.locator("#r-how")).to_have_value("user report by alice")
    expect(page.locator("#review-timeline li").first).to_contain_text("reported by alice")

    # Closing is refused while the review is not approved: the reason shows.
    page.get_by_role("button", name="Close the incident").click()
    expect(page.locator("#notice.error")).to_contain_text("approve it first")
    assert bridge.incident(incident_id)["status"] == "resolved"

    # Approving the empty review is refused, says what is missing, and changes nothing.
    page.select_option("#r-status", "approved")
    save(page)
    expect(page.locator("#notice.error")).to_contain_text("not approved and nothing was saved")
    problems = page.locator("#problems li")
    expect(problems).to_have_count(4)
    expect(problems.nth(0)).to_have_text("Root cause needs a category and a narrative")
    expect(problems.nth(1)).to_contain_text("contributing factors")
    expect(problems.nth(2)).to_contain_text("Add an improvement action")
    expect(problems.nth(3)).to_contain_text("Harm assessment needs harm level")
    assert review(bridge, incident_id)["status"] == "draft"
    page.screenshot(path=str(SHOTS / "review-refused-desktop.png"), full_page=True)

    # Write the review: root cause, contributing factors (one per line), the harm assessment.
    page.select_option("#r-category", "upstream_data_drift")
    page.fill("#r-narrative", NARRATIVE)
    page.fill("#r-factors", "\n".join(FACTORS) + "\n\n")
    page.fill("#r-well", "The accuracy alert fired within minutes")
    page.fill("#r-groups", "card holders paying in EUR")
    page.select_option("#r-harm-level", "issue")
    page.select_option("#r-notified", "no")
    page.fill("#r-harm-notes", HARM_NOTES)
    page.select_option("#r-status", "in_review")
    save(page)
    expect(page.locator("#notice")).to_have_text("Review saved; it is now in review.")
    written = review(bridge, incident_id)
    assert written["status"] == "in_review"
    assert written["root_cause"] == {"category": "upstream_data_drift", "narrative": NARRATIVE}
    assert written["contributing_factors"] == FACTORS
    assert written["went_well"] == ["The accuracy alert fired within minutes"]
    harm = written["harm_assessment"]
    assert (harm["affected_groups"], harm["harm_level"], harm["users_notified"], harm["notes"]) == (
        ["card holders paying in EUR"],
        "issue",
        False,
        HARM_NOTES,
    )
    assert written["summary"] == DESCRIPTION  # what was not touched is kept
    assert written["impact"]["duration_seconds"] is not None

    # A ticket link that is not http(s) is refused; what was typed stays in the form.
    page.fill("#a-title", ACTION)
    page.fill("#a-owner", "alice")
    page.select_option("#a-priority", "high")
    page.fill("#a-ticket", "javascript:alert(1)")
    page.get_by_role("button", name="Add action").click()
    expect(page.locator("#notice.error")).to_have_text("The ticket URL must start with http:// or https://")
    expect(page.locator("#a-title")).to_have_value(ACTION)
    expect(page.locator("#actions .action")).to_have_count(0)

    # The action, with its ticket; and one already late.
    page.fill("#a-ticket", "https://tracker.example/BR-12")
    page.get_by_role("button", name="Add action").click()
    expect(page.locator("#notice")).to_contain_text("added for alice")
    page.fill("#a-title", "Tighten the drift alert on amount")
    page.fill("#a-owner", "alice")
    page.fill("#a-due", (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d"))
    page.get_by_role("button", name="Add action").click()
    actions = page.locator("#actions .action")
    expect(actions).to_have_count(2)
    first, late = actions.nth(0), actions.nth(1)
    expect(first.locator(".action-title")).to_have_text(ACTION)
    expect(first.locator("a.ticket")).to_have_attribute("href", "https://tracker.example/BR-12")
    expect(late).to_have_class(re.compile(r"\boverdue\b"))

    # Move the late one: won't do needs a reason.
    late.locator("select[name=status]").select_option("wont_do")
    late.get_by_role("button", name="Update").click()
    expect(page.locator("#notice.error")).to_contain_text("Reason is required")
    late = page.locator("#actions .action").nth(1)
    late.locator("select[name=status]").select_option("in_progress")
    late.get_by_role("button", name="Update").click()
    expect(page.locator("#notice")).to_contain_text("is in progress.")

    # Approve: the API says so, by the signed-in person.
    page.select_option("#r-status", "approved")
    save(page)
    expect(page.locator("#notice")).to_have_text("Review approved by alice.")
    expect(page.locator("#review-status")).to_have_text("approved")
    approved = review(bridge, incident_id)
    assert (approved["status"], approved["approved_by"]) == ("approved", "alice")
    page.screenshot(path=str(SHOTS / "review-desktop.png"), full_page=True)

    # Saving the approved review unchanged keeps it approved; changing it needs "in review".
    save(page)
    expect(page.locator("#notice")).to_have_text("Nothing changed.")
    page.fill("#r-well", "The alert fired at once")
    save(page)
    expect(page.locator("#notice.error")).to_contain_text("set status to in review")
    expect(page.locator("#r-well")).to_have_value("The alert fired at once")
    assert review(bridge, incident_id)["went_well"] == ["The accuracy alert fired within minutes"]

    # The Markdown, for signed-in people.
    markdown = page.context.request.get(f"{bridge.url}/incidents/{incident_id}/review.md")
    assert markdown.status == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert f"# Post-incident review: incident #{incident_id}" in markdown.text()
    assert httpx.get(f"{bridge.url}/incidents/{incident_id}/review.md", timeout=10.0).status_code == 303

    # Close the incident from the page.
    page.goto(f"{bridge.url}/incidents/{incident_id}/review")
    page.get_by_role("button", name="Close the incident").click()
    expect(page.locator("#notice")).to_have_text(f"Incident #{incident_id} is closed.")
    expect(page.locator("#closed")).to_be_visible()
    assert bridge.incident(incident_id)["status"] == "closed"

    # The team's actions, from the navigation: under their owner, due first, the late one marked.
    page.locator("header.site").get_by_role("link", name="Actions").click()
    page.wait_for_url(f"{bridge.url}/actions")
    group = page.locator(".owner-group[data-owner=alice]")
    expect(group.locator(".owner")).to_have_text("alice")
    listed = group.locator(".action")
    expect(listed).to_have_count(2)
    expect(listed.nth(0)).to_have_class(re.compile(r"\boverdue\b"))
    expect(listed.nth(0)).to_contain_text("in progress")
    expect(listed.nth(1).locator(".action-title")).to_have_text(ACTION)
    expect(page.locator("#count")).to_contain_text("2 actions, 1 overdue")
    page.screenshot(path=str(SHOTS / "actions-desktop.png"), full_page=True)
    page.goto(f"{bridge.url}/actions?status=in_progress")
    expect(page.locator(".action")).to_have_count(1)
    page.goto(f"{bridge.url}/actions?owner=bob")
    expect(page.locator("#no-actions")).to_be_visible()
    page.goto(f"{bridge.url}/actions")
    page.locator(".owner-group .action-title", has_text=ACTION).click()
    page.wait_for_url(re.compile(rf"/incidents/{incident_id}/review#action-\d+$"))

    # On a phone: nothing scrolls sideways.
    phone = new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    phone.context.add_cookies(page.context.cookies())
    phone.goto(f"{bridge.url}/incidents/{incident_id}/review")
    expect(phone.locator("#review-status")).to_have_text("approved")
    fits_the_screen(phone)
    phone.screenshot(path=str(SHOTS / "review-phone.png"), full_page=True)
    phone.goto(f"{bridge.url}/actions")
    expect(phone.locator(".owner-group .action")).to_have_count(2)
    fits_the_screen(phone)
    phone.screenshot(path=str(SHOTS / "actions-phone.png"), full_page=True)
    phone.goto(f"{bridge.url}/incidents/{incident_id}")
    expect(phone.locator("#review-panel-status")).to_have_text("approved")
    fits_the_screen(phone)


def test_start_a_review_nobody_required(
    bridge: Bridge, mailbox: tuple[Mailbox, int], new_page: Callable[..., Any]
) -> None:
    from playwright.sync_api import expect

    answer = bridge.http.post(
        "/api/v1/incidents",
        json={
            "title": "A handful of slow scores",
            "type": "performance_degradation",
            "severity": "SEV4",
            "model": "fraud-scorer",
            "reported_by": "alice",
        },
    )
    assert answer.status_code == 201, answer.text
    incident_id = answer.json()["id"]
    page = new_page(viewport=DESKTOP)
    browser_sign_in(page, bridge, mailbox[0], f"/incidents/{incident_id}")
    expect(page.locator("#review-panel-status")).to_contain_text("Not required")
    page.locator("#review-link").click()
    expect(page.locator("#review-status")).to_contain_text("does not need a post-incident review")
    page.get_by_role("button", name="Start the review").click()
    expect(page.locator("#notice")).to_contain_text("Review started as a draft")
    expect(page.locator("#review-status")).to_have_text("draft")
    assert review(bridge, incident_id)["status"] == "draft"


def sign_in(client: httpx.Client, box: Mailbox, person: str) -> str:
    """Sign `person` in with the client; the CSRF token of the session."""
    seen = len([m for m in box.messages if is_sign_in(m)])
    client.post("/login", data={"person": person})
    client.post(sign_in_link(box, seen), data={"next": "/incidents"})
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/incidents").text)
    assert found
    return found.group(1)


def test_restricted_review_does_not_exist_for_others(
    two_people_bridge: Bridge, mailbox: tuple[Mailbox, int]
) -> None:
    bridge = two_people_bridge
    incident_id = report_and_resolve(bridge)
    restricted = bridge.http.post(
        f"/api/v1/incidents/{incident_id}/restrict",
        json={"by": "alice", "restricted": True, "reason": "names a customer"},
    )
    assert restricted.status_code == 200, restricted.text
    added = bridge.http.post(
        f"/api/v1/incidents/{incident_id}/review/actions",
        json={"title": "Mask customer names in the feed", "owner": "carol"},  # not paged: no access
    )
    assert added.status_code == 201, added.text
    before = review(bridge, incident_id)
    with httpx.Client(base_url=bridge.url, timeout=10.0) as client:
        csrf = sign_in(client, mailbox[0], "bob")
        incident_page = client.get(f"/incidents/{incident_id}")
        review_page = client.get(f"/incidents/{incident_id}/review")
        assert incident_page.status_code == review_page.status_code == 404
        assert review_page.text == incident_page.text
        unknown = client.get(f"/incidents/{incident_id + 1}/review")
        assert unknown.status_code == 404
        assert unknown.text == review_page.text.replace(
            f"incident {incident_id} ", f"incident {incident_id + 1} "
        )
        assert client.get(f"/incidents/{incident_id}/review.md").status_code == 404
        for path, data in (
            ("review/save", {"status": "approved", "summary": "bob was here"}),
            ("review/start", {}),
            ("review/actions", {"title": "bob's action", "owner": "bob"}),
            ("review/close", {}),
        ):
            answer = client.post(f"/incidents/{incident_id}/{path}", data={**data, "csrf": csrf})
            assert answer.status_code == 404, path
        assert listed_actions(client) == []
    after = review(bridge, incident_id)
    assert (after["status"], after["summary"], after["actions"]) == (
        "draft",
        before["summary"],
        before["actions"],
    )
    assert bridge.incident(incident_id)["status"] == "resolved"

    # Forms without the session's token are refused, whoever sends them.
    with httpx.Client(base_url=bridge.url, timeout=10.0) as client:
        sign_in(client, mailbox[0], "alice")
        forged = {"csrf": "x" * 43, "status": "approved", "title": "forged", "owner": "alice"}
        for path in ("review/save", "review/start", "review/actions", "review/close"):
            assert client.post(f"/incidents/{incident_id}/{path}", data=forged).status_code == 403, path
        assert client.get(f"/incidents/{incident_id}/review").status_code == 200
        assert listed_actions(client) == ["Mask customer names in the feed"]
    assert review(bridge, incident_id)["actions"] == before["actions"]


def listed_actions(client: httpx.Client) -> list[str]:
    page = client.get("/actions", params={"status": "all"})
    assert page.status_code == 200
    return re.findall(r'class="action-title">([^<]*)<', page.text)
