"""The runbook pages (/runbooks, /runbooks/{id}) and the runbook API (/api/v1/runbooks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.runbooks.library import load_library
from app.web.rendering import TEMPLATES
from app.web.runbooks import _groups

TODAY = datetime.now(UTC).date()
RECENT = (TODAY - timedelta(days=10)).isoformat()
OLD = (TODAY - timedelta(days=400)).isoformat()

HOSTILE = f"""\
---
id: hostile
title: Serving errors <b>bold</b>
types: [technical_failure, safety]
models: [fraud-scorer]
owner: ml-platform
last_reviewed: {RECENT}
---
# Serving errors <b>bold</b>

<script>document.title = "owned"</script>

## Containment

1. Roll back the release
   that went out last.
2. [Drain](javascript:alert(1)) the bad zone; see [the dashboard](https://grafana.example/d/1).

| a | b |
|---|---|
| {"x" * 300} | y |

```sh
{"kubectl get pods " * 30}
```
"""

PLAIN = """\
---
id: plain
title: A plain runbook
types: [technical_failure]
---
## Containment
- Stop it.
"""

STALE = f"""\
---
id: stale
title: Old advice
owner: sre
last_reviewed: {OLD}
---
## Containment
- Read it twice.
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    return directory


@pytest.fixture
def runbooks_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "runbooks"
    directory.mkdir()
    for name, text in {"hostile": HOSTILE, "plain": PLAIN, "stale": STALE}.items():
        (directory / f"{name}.md").write_text(text, encoding="utf-8")
    return directory


class _Page(HTMLParser):
    """Tags with their attributes, and the text of each h1."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.h1: list[str] = []
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "h1":
            self._in_h1 = True
            self.h1.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._in_h1:
            self.h1[-1] += data

    @classmethod
    def of(cls, html: str) -> _Page:
        page = cls()
        page.feed(html)
        return page

    def hrefs(self) -> list[str]:
        return [str(a.get("href")) for tag, a in self.tags if tag == "a"]


# --- the pages -----------------------------------------------------------------------------------


def test_a_runbook_page(client: TestClient) -> None:
    answer = client.get("/runbooks/hostile")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    page = _Page.of(answer.text)
    # The title once, from the front matter (the body's H1 repeats it and is left out), escaped.
    assert page.h1 == ["Serving errors <b>bold</b>"]
    assert ("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}) in page.tags
    # Raw HTML in the body is text; no tag of the runbook's own makes it into the page.
    assert "&lt;script&gt;document.title = &quot;owned&quot;&lt;/script&gt;" in answer.text
    assert not any(tag in ("script", "b", "style") for tag, _ in page.tags)
    # Only the safe link is a link.
    assert "https://grafana.example/d/1" in page.hrefs()
    assert not any("javascript" in href for href in page.hrefs())
    assert "[Drain](javascript:alert(1))" in answer.text
    # The containment list, a wrapped step as one item; the table in its scrolling wrapper.
    assert re.search(
        r'<h2 id="containment">Containment</h2>\s*<ol>\s*<li>Roll back the release\nthat went out last.</li>',
        answer.text,
    )
    assert '<div class="table-scroll">' in answer.text
    # Who keeps it, when it was last looked at, which version of the file this is.
    book = load_library(Path(client.app.state.runtime.settings.runbooks_dir))[0]["hostile"]  # type: ignore[attr-defined]
    assert '<dd id="owner">ml-platform</dd>' in answer.text
    assert f'<dd id="last-reviewed">{RECENT}</dd>' in answer.text
    assert f'<code id="revision">{book.revision}</code>' in answer.text
    assert "technical failure, safety incidents; models fraud-scorer" in answer.text


def test_a_page_without_owner_or_review_date_says_so(client: TestClient) -> None:
    text = client.get("/runbooks/plain").text
    assert '<dd id="owner">nobody named</dd>' in text
    assert re.search(
        r'<dd id="last-reviewed">never <span class="badge review-due">review due</span></dd>', text
    )
    stale = client.get("/runbooks/stale").text
    assert f'<dd id="last-reviewed">{OLD} <span class="badge review-due">review due</span></dd>' in stale
    assert "incidents whose rule names it" in stale


def test_the_markdown_of_a_runbook(client: TestClient) -> None:
    answer = client.get("/runbooks/hostile", params={"format": "md"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/markdown; charset=utf-8"
    assert answer.text.startswith("# Serving errors <b>bold</b>\n")
    assert "<script>document.title" in answer.text and "content-security-policy" not in answer.headers


def test_an_unknown_runbook_is_a_404_page(client: TestClient) -> None:
    answer = client.get("/runbooks/nope")
    assert answer.status_code == 404
    assert "There is no runbook nope." in answer.text
    assert 'href="/runbooks"' in answer.text


def test_the_index_groups_runbooks_by_type(client: TestClient) -> None:
    answer = client.get("/runbooks")

    assert answer.status_code == 200
    text = answer.text
    assert "3 runbooks" in text
    groups = re.findall(r"<h2>([^<]+)</h2>", text)
    assert groups == ["technical failure", "safety", "any type (named by rules)"]
    # Under a type, the runbooks for any model come before those for named models.
    technical = text.split("<h2>technical failure</h2>")[1].split("<h2>")[0]
    assert _Page.of(technical).hrefs() == ["/runbooks/plain", "/runbooks/hostile"]
    assert "models fraud-scorer" in technical and "owner ml-platform" in technical
    assert f"reviewed {RECENT}" in technical and "types technical failure, safety" in technical
    assert "owner none" in technical and "reviewed never" in technical
    assert text.count("review due") == 2  # plain (never) and stale (400 days)
    assert "Serving errors &lt;b&gt;bold&lt;/b&gt;" in text


# --- the API -------------------------------------------------------------------------------------


def test_the_api_lists_every_runbook(client: TestClient, runbooks_dir: Path) -> None:
    answer = client.get("/api/v1/runbooks")

    assert answer.status_code == 200
    body = answer.json()
    assert body["total"] == 3
    assert [item["id"] for item in body["items"]] == ["plain", "stale", "hostile"]  # by title
    hostile = body["items"][2]
    assert hostile == {
        "id": "hostile",
        "title": "Serving errors <b>bold</b>",
        "types": ["technical_failure", "safety"],
        "models": ["fraud-scorer"],
        "owner": "ml-platform",
        "last_reviewed": RECENT,
        "revision": load_library(runbooks_dir)[0]["hostile"].revision,
        "containment": [
            "Roll back the release that went out last.",
            "[Drain](javascript:alert(1)) the bad zone; see [the dashboard](https://grafana.example/d/1).",
        ],
        "url": "http://bridge.test/runbooks/hostile",
    }
    assert body["items"][0]["owner"] is None and body["items"][0]["last_reviewed"] is None


def test_the_api_gives_one_runbook_with_its_markdown(client: TestClient) -> None:
    answer = client.get("/api/v1/runbooks/stale")
    assert answer.status_code == 200
    body = answer.json()
    assert body["markdown"] == "## Containment\n- Read it twice.\n"
    assert (body["title"], body["owner"], body["last_reviewed"], body["types"]) == (
        "Old advice",
        "sre",
        OLD,
        [],
    )
    missing = client.get("/api/v1/runbooks/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": "runbook 'nope' not found"}


@pytest.fixture
def guarded(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"api_token": "runbook-api-token"}))) as client:
        yield client


def test_the_api_needs_the_token_when_one_is_set(guarded: TestClient) -> None:
    for path in ("/api/v1/runbooks", "/api/v1/runbooks/plain"):
        assert guarded.get(path).status_code == 401
        assert guarded.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = guarded.get(path, headers={"Authorization": "Bearer runbook-api-token"})
        assert ok.status_code == 200, ok.text
    # The pages are for people: readable without the API token, as before.
    assert guarded.get("/runbooks/plain").status_code == 200


def test_the_openapi_document_describes_the_runbook_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    listing = spec["paths"]["/api/v1/runbooks"]["get"]
    one = spec["paths"]["/api/v1/runbooks/{runbook_id}"]["get"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RunbookList"
    }
    assert {"200", "401", "404"} <= set(one["responses"])
    detail = spec["components"]["schemas"]["RunbookDetail"]["properties"]
    assert {
        "id",
        "title",
        "types",
        "models",
        "owner",
        "last_reviewed",
        "revision",
        "containment",
        "url",
        "markdown",
    } == set(detail)


def test_the_index_puts_each_types_general_runbook_first_and_marks_it() -> None:
    library, problems = load_library(Path(__file__).resolve().parents[2] / "runbooks")
    assert problems == []
    groups = _groups(sorted(library.values(), key=lambda b: b.title))
    firsts = {type_: books[0].id for _, type_, books in groups}
    assert firsts["technical_failure"] == "model-serving-errors"
    assert firsts["performance_degradation"] == "model-performance-degradation"
    html = TEMPLATES.get_template("runbooks.html").render(groups=groups, due=set(), total=len(library))
    # One "general" mark per type that has a general runbook, and only on that runbook.
    assert html.count('class="badge general"') == sum(1 for b in library.values() for _ in b.default_for)
