"""The incident page shows a bounded number of the latest alerts and timeline entries, with links
to the earlier ones; on both databases, without a browser."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from app.web import pages
from tests.incidents.test_alert_pages import fire, note
from tests.support import incident_action
from tests.web.test_auth import sign_in

API = "/api/v1/incidents"


def window(page: str, which: str) -> tuple[str | None, str | None]:
    """The "earlier" and "latest" links of one list on the page."""
    found = re.search(rf'<p class="muted" id="{which}-window">(.*?)</p>', page)
    if found is None:
        return None, None
    links = dict(
        (text.split()[0].lower(), html.unescape(href))
        for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', found.group(1))
    )
    return links.get("earlier"), links.get("latest")


def alert_count(page: str) -> int:
    alerts = page.split("<h2>Alerts</h2>", 1)[1].split("</ul>", 1)[0]
    return alerts.count('<span class="badge">')


def event_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="event-(\d+)"', page)]


def test_the_page_shows_the_latest_rows_and_links_to_earlier_ones(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "PAGE_ROWS", 3)
    incident_id = fire(client, range(1, 9))
    for i in range(4):
        note(client, incident_id, f"note {i}")
    everything = client.get(f"{API}/{incident_id}/timeline", params={"limit": 1000}).json()["items"]
    hidden = everything[1]["id"]
    incident_action(client, incident_id, f"timeline/{hidden}", by="alice", hidden=True)
    shown = [e["id"] for e in reversed(everything) if e["id"] != hidden]
    sign_in(client, "alice")

    page = client.get(f"/incidents/{incident_id}").text
    assert "3 of 8 alerts." in page and f"3 of {len(shown)} entries." in page
    assert event_ids(page) == shown[-3:]  # the latest, oldest first
    assert "Show 1 hidden entry" in page
    # Following "earlier" shows every alert and every entry once.
    walked_alerts, walked_events, path = alert_count(page), event_ids(page), window(page, "alerts")[0]
    while path is not None:
        earlier = client.get(path).text
        walked_alerts += alert_count(earlier)
        assert window(earlier, "alerts")[1] == f"/incidents/{incident_id}"
        path = window(earlier, "alerts")[0]
    assert walked_alerts == 8
    path = window(page, "timeline")[0]
    while path is not None:
        earlier = client.get(path).text
        walked_events = event_ids(earlier) + walked_events
        path = window(earlier, "timeline")[0]
    assert walked_events == shown
    # With hidden entries shown, the links keep showing them.
    with_hidden = client.get(f"/incidents/{incident_id}?hidden=1").text
    earlier_link = window(with_hidden, "timeline")[0]
    assert earlier_link is not None and "hidden=1" in earlier_link
    # A link that is not one shows the latest rows.
    forged = client.get(f"/incidents/{incident_id}?alerts_before=forged&timeline_before=x")
    assert forged.status_code == 200 and event_ids(forged.text) == shown[-3:]


def test_a_small_incident_shows_whole_without_links(client: TestClient) -> None:
    incident_id = fire(client, range(1, 4))
    sign_in(client, "alice")
    page = client.get(f"/incidents/{incident_id}").text
    assert alert_count(page) == 3
    assert window(page, "alerts") == (None, None) and window(page, "timeline") == (None, None)
