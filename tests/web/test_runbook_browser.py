"""Runbook pages in a real browser, on a phone: the runbook's headings and containment steps are
there, the page never scrolls sideways (code and tables scroll inside themselves), a runbook's
raw `<script>` is shown as text and never runs, a `javascript:` link is no link; the index lists
every runbook and leads to it. Every shipped runbook is checked for sideways scrolling too.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.runbooks.library import load_library
from tests.web.conftest import ONCALL_YAML, RULES_DIR, RUNBOOKS_DIR, SECRET_KEY, Bridge

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
TITLE = "Hostile serving runbook"
# Lines far wider than a phone: they must scroll inside their code block and table.
LONG_COMMAND = (
    "kubectl -n serving logs deploy/fraud-scorer-server --since=30m"
    " | grep -iE 'error|exception|oom|cuda' | head -50 | tee /tmp/errors.txt"
)
WIDE_ROW = (
    '| errors | `sum by (code) (rate(model_serving_http_requests_total{model="$MODEL", code=~"5.."}[5m]))`'
    " | the error ratio per status code over five minutes |"
)
HOSTILE = f"""\
---
id: zz-hostile
title: {TITLE}
types: [technical_failure]
owner: ml-platform
last_reviewed: 2026-01-15
---
# {TITLE}

<script>window.ranRunbookScript = true; alert("script ran")</script>

<img src="x" onerror="window.ranRunbookScript = true">

## Containment

1. Roll back the release that went out in the last few hours, whichever
   component it touched.
2. [Drain the zone](javascript:window.ranRunbookScript=true) that errs; watch
   [the error dashboard](https://grafana.example/d/errors).
3. Shed batch traffic: supercalifragilisticexpialidociouslylongidentifierthatdoesnotbreakanywhere_{"x" * 80}.

## Diagnosis

```sh
{LONG_COMMAND}
```

| signal | query | what it means |
|---|---|---|
{WIDE_ROW}
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped runbooks, and one written to misbehave."""
    directory = tmp_path_factory.mktemp("runbooks")
    for path in RUNBOOKS_DIR.glob("*.md"):
        shutil.copy(path, directory / path.name)
    (directory / "zz-hostile.md").write_text(HOSTILE, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory, library: Path) -> Iterator[Bridge]:
    workdir = tmp_path_factory.mktemp("bridge")
    server = Bridge(workdir)
    shutil.copytree(RULES_DIR, server.rules_dir)
    (server.rules_dir / "oncall.yaml").write_text(ONCALL_YAML)
    (server.rules_dir / "communications.yaml").unlink()  # it names the shipped on-call people
    server.start(
        {
            "BRIDGE_DATABASE_URL": f"sqlite:///{workdir / 'bridge.db'}",
            "BRIDGE_RULES_DIR": str(server.rules_dir),
            "BRIDGE_RUNBOOKS_DIR": str(library),
            "BRIDGE_PUBLIC_URL": server.url,
            "BRIDGE_SECRET_KEY": SECRET_KEY,
            "BRIDGE_LOG_LEVEL": "warning",
        }
    )
    try:
        yield server
    finally:
        server.stop()


def phone(new_page: Callable[..., Any]) -> Any:
    return new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)


# The items of the lists that sit directly in the Containment section (up to the next h2).
COUNT_STEPS = """() => {
  let count = 0;
  for (let e = document.getElementById("containment").nextElementSibling; e && e.tagName !== "H2";
       e = e.nextElementSibling) {
    if (e.tagName === "OL" || e.tagName === "UL") count += e.querySelectorAll(":scope > li").length;
  }
  return count;
}"""


def containment_steps(page: Any) -> int:
    return int(page.evaluate(COUNT_STEPS))


def sideways(page: Any) -> tuple[int, int]:
    """How wide the page's content is, and how wide the window."""
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    return int(width), int(inner)


def test_a_runbook_on_a_phone(
    bridge: Bridge, library: Path, new_page: Callable[..., Any], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = phone(new_page)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    response = page.goto(f"{bridge.url}/runbooks/zz-hostile")
    assert response is not None and response.status == 200

    # The title once; the sections and the containment steps, a wrapped step as one step.
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("h1")).to_have_text(TITLE)
    expect(page.get_by_role("heading", name="Containment", level=2)).to_be_visible()
    expect(page.get_by_role("heading", name="Diagnosis", level=2)).to_be_visible()
    assert containment_steps(page) == 3
    steps = page.locator("h2#containment + ol > li")
    expect(steps.first).to_have_text(
        "Roll back the release that went out in the last few hours, whichever component it touched."
    )
    expect(page.locator("#owner")).to_have_text("ml-platform")
    expect(page.locator("#last-reviewed")).to_contain_text("2026-01-15")
    expect(page.locator("#revision")).to_have_text(load_library(library)[0]["zz-hostile"].revision)

    # Nothing the runbook carries runs: its <script> is text, its onerror no attribute.
    expect(
        page.get_by_text('<script>window.ranRunbookScript = true; alert("script ran")</script>')
    ).to_be_visible()
    assert page.evaluate("window.ranRunbookScript === undefined")
    assert dialogs == []
    assert page.locator(".runbook-body script, .runbook-body img").count() == 0

    # The javascript: link is no link; the dashboard link is.
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.get_by_role("link", name="Drain the zone").count() == 0
    expect(page.get_by_text("[Drain the zone](javascript:window.ranRunbookScript=true)")).to_be_visible()
    expect(page.get_by_role("link", name="the error dashboard")).to_have_attribute(
        "href", "https://grafana.example/d/errors"
    )

    # No sideways scrolling: the code block and the table scroll inside themselves.
    width, inner = sideways(page)
    assert width <= inner, f"the page scrolls sideways ({width}px wide in a {inner}px window)"
    code = page.locator(".runbook-body pre").first
    assert code.evaluate("e => e.scrollWidth > e.clientWidth"), "the long command should scroll in its block"
    table = page.locator(".runbook-body .table-scroll").first
    assert table.evaluate("e => e.scrollWidth > e.clientWidth"), "the wide table should scroll in its wrapper"
    page.screenshot(path=str(tmp_path / "runbook-phone.png"), full_page=True)


def test_the_index_lists_every_runbook_and_leads_to_it(
    bridge: Bridge, library: Path, new_page: Callable[..., Any]
) -> None:
    from playwright.sync_api import expect

    books, problems = load_library(library)
    assert problems == []
    page = phone(new_page)
    response = page.goto(f"{bridge.url}/runbooks")
    assert response is not None and response.status == 200

    expect(page.locator("h1")).to_have_text("Runbooks")
    links = page.locator(".runbook-list a")
    hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
    assert hrefs == {f"/runbooks/{id_}" for id_ in books}
    width, inner = sideways(page)
    assert width <= inner, f"the index scrolls sideways ({width}px wide)"

    page.locator(".runbook-list a", has_text=TITLE).first.click()
    page.wait_for_url(f"{bridge.url}/runbooks/zz-hostile")
    expect(page.locator("h1")).to_have_text(TITLE)
    page.get_by_role("link", name="All runbooks").click()
    page.wait_for_url(f"{bridge.url}/runbooks")


def test_no_shipped_runbook_scrolls_sideways_on_a_phone(bridge: Bridge, new_page: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    books, _ = load_library(RUNBOOKS_DIR)
    assert books
    page = phone(new_page)
    for book in books.values():
        response = page.goto(f"{bridge.url}/runbooks/{book.id}")
        assert response is not None and response.status == 200, book.id
        expect(page.locator("h1")).to_have_count(1)
        expect(page.locator("h1")).to_have_text(book.title)
        assert containment_steps(page) == len(book.containment), book.id
        width, inner = sideways(page)
        assert width <= inner, f"{book.id} scrolls sideways ({width}px wide in a {inner}px window)"
