"""The incident report: the same numbers as GET /api/v1/stats, served to signed-in people or the
API token holder, and written by `incident-bridge report` to one file that needs no network."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.config import Settings, get_settings
from app.web.incident_report import duration, percent

TOKEN = {"Authorization": "Bearer any"}  # the test app has no API token: any bearer is the holder


@pytest.fixture
def environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command reads its settings from the environment: point it at the test's database."""
    monkeypatch.setenv("BRIDGE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BRIDGE_RULES_DIR", str(settings.rules_dir))
    monkeypatch.setenv("BRIDGE_RUNBOOKS_DIR", str(settings.runbooks_dir))
    get_settings.cache_clear()  # settings read by an earlier command are not these
    yield
    get_settings.cache_clear()


def incident(client: TestClient, title: str, type_: str, severity: str, resolve: bool = True) -> int:
    body = {"title": title, "type": type_, "severity": severity, "reported_by": "dana"}
    created = client.post("/api/v1/incidents", json=body)
    assert created.status_code == 201, created.text
    incident_id: int = created.json()["id"]
    assert client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "dana"}).status_code == 200
    if resolve:
        assert client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "dana"}).status_code == 200
    return incident_id


def history(client: TestClient) -> None:
    incident(client, "Serving errors on fraud-scorer", "technical_failure", "SEV2")
    incident(client, "Accuracy drop <script>alert(1)</script>", "performance_degradation", "SEV3")
    incident(client, "Approval gap for older applicants", "fairness_violation", "SEV3")
    incident(client, "Feature drift", "performance_degradation", "SEV4", resolve=False)


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def cell_after(html: str, label: str) -> str:
    """The value cell of a row of the report's tables, by its label."""
    found = re.search(rf"<td>{re.escape(label)}</td><td class=\"n\">([^<]*)</td>", html)
    assert found, f"no row {label!r}"
    return unescape(found.group(1))


def test_the_report_shows_the_numbers_of_the_api(client: TestClient) -> None:
    history(client)
    stats: dict[str, Any] = client.get("/api/v1/stats", params={"since": "1d"}).json()
    page = client.get("/reports/incidents", params={"since": "1d"}, headers=TOKEN)
    assert page.status_code == 200, page.text
    html = page.text

    assert stats["count"] == 4
    assert f"<b>{stats['count']}</b><span>incidents opened</span>" in html
    for name in ("time_to_acknowledge", "time_to_resolve"):
        assert f"<b>{duration(stats[name]['p50'])}</b>" in html
    assert cell_after(html, "Reviews required") == str(stats["reviews"]["required"])
    assert stats["reviews"]["required"] == 2  # the SEV2 and the fairness incident
    assert cell_after(html, "Actions open") == str(stats["actions"]["open"])
    on_time = stats["communications_on_time"]
    assert (
        cell_after(html, "Notices sent on time")
        == f"{on_time['on_time']}/{on_time['due']} ({percent(on_time['share'])})"
    )
    for week in stats["weekly"]:
        assert f"<td>{week['week']}</td>" in html
    for slow in stats["slowest"]:
        assert f">{slow['id']}</a>" in html


def test_user_text_is_escaped_and_the_page_loads_nothing_inline(client: TestClient) -> None:
    history(client)
    html = client.get("/reports/incidents", headers=TOKEN).text
    assert "<script>" not in html
    assert "Accuracy drop &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<style>" not in html and 'href="/static/report.css"' in html  # the CSP allows no inline style


def test_the_report_needs_a_signed_in_person_or_the_token(client: TestClient) -> None:
    anonymous = client.get("/reports/incidents", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")


def test_a_bad_period_is_refused(client: TestClient) -> None:
    response = client.get("/reports/incidents", params={"since": "yesterday"}, headers=TOKEN)
    assert response.status_code == 422
    assert "since" in response.text


def test_the_command_writes_one_self_contained_file(
    client: TestClient, environment: None, tmp_path: Path, capsys: Any
) -> None:
    history(client)
    api = client.get("/api/v1/stats", params={"since": "30d"}).json()
    out = tmp_path / "report.html"

    assert main(["report", "--since", "30d", "--out", str(out)]) == 0

    html = out.read_text(encoding="utf-8")
    assert f"wrote {out}: 4 incidents" in capsys.readouterr().out
    assert "<style>" in html and "report.css" not in html  # the style is inside
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from anywhere
    assert "<svg" in html and html.count("<svg") == 3
    assert f"<b>{api['count']}</b><span>incidents opened</span>" in html
    assert cell_after(html, "Reviews required") == str(api["reviews"]["required"])


def test_the_command_says_what_is_wrong_with_a_period(environment: None, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "--since", "soon", "--out", str(out)]) == 2
    assert "since" in capsys.readouterr().err
    assert not out.exists()


def test_durations_and_shares_read_plainly() -> None:
    assert [duration(s) for s in (None, 42, 600, 7200, 3 * 86400)] == [
        "n/a",
        "42 s",
        "10 min",
        "2.0 h",
        "3.0 d",
    ]
    assert [percent(s) for s in (None, 0.0, 0.5, 1.0)] == ["n/a", "0%", "50%", "100%"]
