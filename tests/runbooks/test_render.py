"""A runbook rendered as HTML: raw HTML is text, only safe links become links, tables scroll in
a wrapper, headings can be linked to, and the title shows once."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from app.runbooks.render import MARKDOWN, body_html, link_allowed


class _Tags(HTMLParser):
    """The tags of an HTML fragment, with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    @classmethod
    def of(cls, html: str) -> list[tuple[str, dict[str, str | None]]]:
        parser = cls()
        parser.feed(html)
        return parser.tags


def hrefs(html: str) -> list[str | None]:
    return [attrs.get("href") for tag, attrs in _Tags.of(html) if tag == "a"]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://grafana.example/d/abc?var-model=x", True),
        ("http://wiki.example/page", True),
        ("HTTPS://wiki.example/page", True),
        ("mailto:ml-oncall@example.com", True),
        ("/runbooks/feature-drift", True),
        ("feature-drift", True),
        ("../runbooks/feature-drift#containment", True),
        ("#containment", True),
        ("?format=md", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("vbscript:msgbox(1)", False),
        ("data:text/html;base64,PHNjcmlwdD4=", False),
        ("file:///etc/passwd", False),
        ("ftp://files.example/x", False),
        ("//evil.example/x", False),
        ("/\\evil.example/x", False),
        ("https:no-host", False),
        ("http://", False),
        ("mailto:", False),
        ("java%09script:alert(1)", False),
        ("", False),
        ("java\tscript:alert(1)", False),
    ],
)
def test_which_urls_may_become_links(url: str, allowed: bool) -> None:
    assert link_allowed(url) is allowed
    assert MARKDOWN.validateLink(url) is allowed


def test_raw_html_is_shown_as_text() -> None:
    html = body_html(
        'Before\n\n<script>alert("x")</script>\n\n<b onclick="x()">bold</b> <img src=x onerror=y>\n', "T"
    )
    assert "<script" not in html and "<b " not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert [tag for tag, _ in _Tags.of(html)] == ["p", "p", "p"]


@pytest.mark.parametrize(
    "markdown",
    [
        "[click](javascript:alert(1))",
        "[click](JAVASCRIPT:alert(1))",
        "[click](&#106;avascript:alert(1))",
        "[click](<javascript:alert(1)>)",
        "<javascript:alert(1)>",
        "[click][ref]\n\n[ref]: javascript:alert(1)",
        "[click](data:text/html,<script>alert(1)</script>)",
        "[click](vbscript:x)",
        "[click](//evil.example/path)",
    ],
)
def test_unsafe_links_are_not_links(markdown: str) -> None:
    html = body_html(markdown, "T")
    assert hrefs(html) == []
    assert "javascript:" not in " ".join(str(v) for _, a in _Tags.of(html) for v in a.values())


def test_safe_links_are_links_and_those_that_leave_the_site_say_so() -> None:
    html = body_html(
        "[dash](https://grafana.example/d/1) [mail](mailto:a@example.com) "
        "[other](/runbooks/feature-drift) [here](#containment) <https://wiki.example/x>",
        "T",
    )
    links = [attrs for tag, attrs in _Tags.of(html) if tag == "a"]
    assert [a["href"] for a in links] == [
        "https://grafana.example/d/1",
        "mailto:a@example.com",
        "/runbooks/feature-drift",
        "#containment",
        "https://wiki.example/x",
    ]
    assert [a.get("rel") for a in links] == [
        "noopener noreferrer",
        "noopener noreferrer",
        None,
        None,
        "noopener noreferrer",
    ]


def test_tables_are_wrapped_to_scroll_inside_themselves() -> None:
    html = body_html("| signal | query |\n|---|---|\n| errors | `rate(x[5m])` |\n", "T")
    tags = [tag for tag, _ in _Tags.of(html)]
    assert tags[:2] == ["div", "table"]
    assert '<div class="table-scroll">' in html and html.rstrip().endswith("</table>\n</div>".rstrip())


def test_code_blocks_keep_their_text_escaped() -> None:
    html = body_html("```sh\nkubectl logs <pod> | grep 'x' && echo \"<b>\"\n```\n", "T")
    assert '<pre><code class="language-sh">' in html
    assert "kubectl logs &lt;pod&gt; | grep 'x' &amp;&amp; echo &quot;&lt;b&gt;&quot;" in html


def test_headings_get_ids_to_link_to() -> None:
    html = body_html("## Containment\n\n### Check the deploy log\n\n## Containment\n\n## !!!\n", "T")
    ids = [attrs.get("id") for tag, attrs in _Tags.of(html) if tag in ("h2", "h3")]
    assert ids == ["containment", "check-the-deploy-log", "containment-2", "section"]


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        ("# Feature drift\n\nText.\n", False),
        ("#   feature   DRIFT  \n\nText.\n", False),
        ("# *Feature* drift\n\nText.\n", False),
        ("# Feature drift, the long story\n\nText.\n", True),
        ("Intro.\n\n# Feature drift\n", True),
        ("## Feature drift\n\nText.\n", True),
    ],
)
def test_the_title_shows_once(body: str, kept: bool) -> None:
    html = body_html(body, "Feature drift")
    assert ("drift" in html.lower()) is kept  # the heading stayed
    assert "Text." in html or "Intro." in html
