"""`GET .../review?format=md`: the review as Markdown for a wiki or a ticket, with every
section, and people's text made inert (no HTML, links, headings or lists smuggled in); the
output is also rendered with a CommonMark renderer to check what a reader would get; on both
databases."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.reviews.conftest import API, COMPLETE, add_action, put_review, report, resolved_incident

SECTIONS = (
    "## Summary",
    "## Impact",
    "## Detection",
    "## Timeline",
    "## Root cause",
    "## Contributing factors",
    "## What went well",
    "## What went badly",
    "## Harm assessment",
    "## Improvement actions",
)
SCRIPT = "<script>alert(1)</script>"
LINK = "[x](javascript:alert(document.cookie))"


def markdown_of(client: TestClient, incident_id: int, headers: dict[str, str] | None = None) -> str:
    response = client.get(f"{API}/{incident_id}/review", params={"format": "md"}, headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/markdown")
    text: str = response.text
    return text


def render(text: str) -> str:
    """HTML as a CommonMark renderer with GitHub tables makes it."""
    markdown_it = pytest.importorskip("markdown_it")
    html: str = markdown_it.MarkdownIt("commonmark").enable("table").render(text)
    return html


def headings(html: str) -> list[str]:
    return re.findall(r"<h[1-6]>(.*?)</h[1-6]>", html)


def test_the_markdown_has_every_section_and_the_reviews_content(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV2", title="Fraud scores flat at 0.5")
    action = add_action(
        review_client, incident["id"], owner="bob", priority="high", title="Pin the feed schema"
    )
    put_review(
        review_client,
        incident["id"],
        status="approved",
        by="carol",
        summary="Scores were flat for forty minutes.",
        went_well=["the accuracy alert fired"],
        **{**COMPLETE, "harm_assessment": {**COMPLETE["harm_assessment"], "affected_groups": ["merchants"]}},
    )

    text = markdown_of(review_client, incident["id"])

    assert text.startswith(f"# Post-incident review: incident #{incident['id']}, Fraud scores flat at 0.5\n")
    positions = [text.index(f"\n{section}\n") for section in SECTIONS]
    assert positions == sorted(positions)  # each once, in this order
    assert "- Status: approved (approved by carol, " in text
    assert "- Type: technical_failure; severity SEV2 (peak SEV2)" in text
    assert "Scores were flat for forty minutes." in text
    assert "Category: upstream_data_drift" in text
    assert "A partner feed changed its currency field; features shifted overnight." in text
    assert "- the feed contract had no schema check" in text
    assert "- the accuracy alert fired" in text
    assert "- Harm level: near_miss" in text
    assert "- Affected groups: merchants" in text
    assert "- Users notified: no" in text
    assert "- Notes: no decision changed" in text
    assert f"| {action['id']} | Pin the feed schema | bob | high | {action['due_at'][:10]} | open |" in text
    assert f"http://bridge.test/incidents/{incident['id']}" in text
    assert "| " in text and "resolved by alice" in text  # the timeline table

    html = render(text)
    assert headings(html)[1:] == [s.removeprefix("## ") for s in SECTIONS]
    assert "<table>" in html


def test_a_review_without_actions_says_why(review_client: TestClient) -> None:
    incident = resolved_incident(review_client, severity="SEV2")
    text = markdown_of(review_client, incident["id"])
    assert "No action: reason not given yet" in text
    assert "Category: not decided" in text
    put_review(review_client, incident["id"], no_action_reason="the feed was retired")
    assert "No action: the feed was retired" in markdown_of(review_client, incident["id"])


def test_people_text_comes_out_inert(review_client: TestClient) -> None:
    hostile = f"{SCRIPT} {LINK} <img src=x onerror=alert(1)> **bold** `code` | pipe"
    incident = report(review_client, severity="SEV2", title=f"Title {SCRIPT} {LINK}", description=hostile)
    act_resolve = review_client.post(f"{API}/{incident['id']}/resolve", json={"by": "alice", "note": hostile})
    assert act_resolve.status_code == 200, act_resolve.text
    add_action(review_client, incident["id"], title=f"Action {SCRIPT} {LINK}")
    put_review(
        review_client,
        incident["id"],
        root_cause={"category": "process", "narrative": hostile},
        contributing_factors=[hostile],
        went_badly=[LINK],
        harm_assessment={"harm_level": "issue", "users_notified": False, "notes": hostile},
        owner=f"{SCRIPT}",
    )

    text = markdown_of(review_client, incident["id"])

    assert "<script>" not in text.lower()
    assert re.search(r"(?<!\\)<", text) is None  # every `<` of people's text is escaped
    assert "\\<script\\>" in text  # ...and still there, as text
    assert re.search(r"(?<!\\)\]\(javascript:", text) is None  # never a link target
    assert re.search(r"(?<!\\)[\[\]]", text) is None  # no bracket of people's text unescaped
    assert text.count(LINK) == 0
    html = render(text)
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "javascript:" not in " ".join(re.findall(r'href="([^"]*)"', html))
    assert "<a " not in html  # no link at all: the incident URL is plain text in CommonMark
    assert "<strong>" not in html and "<code>" not in html
    assert headings(html)[1:] == [s.removeprefix("## ") for s in SECTIONS]
    # The text is all still there, for a reader, as text.
    assert "alert(document.cookie)" in html
    assert "&lt;script&gt;" in html


def test_a_javascript_link_leaves_no_link_sequence(review_client: TestClient) -> None:
    incident = report(review_client, severity="SEV2", title=f"Title {LINK}")
    review_client.post(f"{API}/{incident['id']}/resolve", json={"by": "alice"})
    put_review(review_client, incident["id"], summary=LINK)

    text = markdown_of(review_client, incident["id"])

    assert "](javascript:" not in text


# Each of these, written into a field, would start a block of its own after the line break.
BLOCKS = {
    "setext heading": "all fine\n===",
    "another setext heading": "all fine\n---",
    "list": "all fine\n- injected item",
    "ordered list": "all fine\n1. injected item",
    "fenced code swallowing the rest": "all fine\n~~~",
}


@pytest.mark.parametrize("block", list(BLOCKS))
def test_a_line_break_in_a_field_smuggles_in_no_block(review_client: TestClient, block: str) -> None:
    incident: dict[str, Any] = resolved_incident(review_client, severity="SEV2")
    put_review(review_client, incident["id"], summary=BLOCKS[block])

    html = render(markdown_of(review_client, incident["id"]))

    assert headings(html)[1:] == [s.removeprefix("## ") for s in SECTIONS]
    assert "<pre>" not in html
    assert "injected item</li>" not in html


def test_the_markdown_of_an_incident_without_a_review_or_out_of_sight_is_404(
    review_client: TestClient,
) -> None:
    none = resolved_incident(review_client, severity="SEV4")
    response = review_client.get(f"{API}/{none['id']}/review", params={"format": "md"})
    assert response.status_code == 404, response.text

    secret = resolved_incident(review_client, type_="fairness_violation", severity="SEV2")
    assert secret["restricted"] is True
    markdown_of(review_client, secret["id"], {"X-Bridge-Person": "alice"})  # the owner sees it
    response = review_client.get(
        f"{API}/{secret['id']}/review", params={"format": "md"}, headers={"X-Bridge-Person": "mallory"}
    )
    assert response.status_code == 404, response.text
    assert "fairness" not in response.text

    bad = review_client.get(f"{API}/{secret['id']}/review", params={"format": "html"})
    assert bad.status_code == 422, bad.text
