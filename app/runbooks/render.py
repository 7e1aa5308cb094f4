"""Runbook Markdown: one parser configuration (CommonMark with tables, raw HTML off, only safe
links) used to read a runbook's structure and to render it as HTML for its page."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

_SLUG_DROP = re.compile(r"[^a-z0-9]+")


def link_allowed(url: str) -> bool:
    """An http(s) URL with a host, a mailto address, or a relative URL (path, query, fragment)."""
    # Spaces and control characters can hide a scheme from a browser; a backslash turns
    # `/\host` into `//host` in browsers. markdown-it hands over the URL percent-encoded.
    if not url or "\\" in url or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return bool(parts.hostname)
    if scheme == "mailto":
        return bool(parts.path)
    if scheme or url.startswith("//"):
        return False  # javascript:, data:, file: ..., or a host with whatever scheme the page has
    # A first path segment with a colon is read as a scheme by some parsers: not relative.
    return ":" not in parts.path.split("/", 1)[0]


class _Renderer(RendererHTML):
    """HTML of a runbook: tables scroll inside a wrapper; links that leave the site get `rel`."""

    def table_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return '<div class="table-scroll">\n' + self.renderToken(tokens, idx, options, env)

    def table_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self.renderToken(tokens, idx, options, env) + "</div>\n"

    def link_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        if urlsplit(str(token.attrGet("href") or "")).scheme:
            token.attrSet("rel", "noopener noreferrer")
        return self.renderToken(tokens, idx, options, env)


class RunbookMarkdown(MarkdownIt):
    """CommonMark plus tables; raw HTML is shown as text and only safe URLs become links."""

    def __init__(self) -> None:
        super().__init__("commonmark", {"html": False}, renderer_cls=_Renderer)
        self.enable("table")

    def validateLink(self, url: str) -> bool:  # markdown-it's name for the hook
        return link_allowed(url)


MARKDOWN = RunbookMarkdown()


def plain_text(inline: Token) -> str:
    """The words of an inline token (emphasis, code and link markup dropped), spaces collapsed."""
    parts: list[str] = []
    for child in inline.children or []:
        if child.type in ("text", "code_inline", "image"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def _same_title(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _add_anchors(tokens: list[Token]) -> None:
    """Give h2 and h3 headings ids (`#containment`), so a section can be linked to."""
    seen: set[str] = set()
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or token.tag not in ("h2", "h3"):
            continue
        base = _SLUG_DROP.sub("-", plain_text(tokens[index + 1]).lower()).strip("-") or "section"
        slug, n = base, 1
        while slug in seen:
            n += 1
            slug = f"{base}-{n}"
        seen.add(slug)
        token.attrSet("id", slug)


@lru_cache(maxsize=64)
def body_html(body: str, title: str) -> str:
    """The runbook's body as HTML; a leading H1 that repeats the title is left out (the page
    shows the title from the front matter once)."""
    env: EnvType = {}
    tokens = MARKDOWN.parse(body, env)
    if (
        len(tokens) >= 3
        and tokens[0].type == "heading_open"
        and tokens[0].tag == "h1"
        and _same_title(plain_text(tokens[1]), title)
    ):
        tokens = tokens[3:]
    _add_anchors(tokens)
    html: str = MARKDOWN.renderer.render(tokens, MARKDOWN.options, env)
    return html
