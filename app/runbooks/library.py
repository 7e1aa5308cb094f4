"""The runbook library: Markdown files with YAML front matter, containment steps first.

The body is read with markdown-it (the same parser the pages render with), so what counts as a
section or a step is what a reader sees: a `## ` inside a code fence is not a section, a list
item wrapped over two lines is one step.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from markdown_it.token import Token

from app.runbooks.render import MARKDOWN, plain_text
from app.vocabulary import INCIDENT_TYPES, UNCLASSIFIED

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
KNOWN_TYPES: tuple[str, ...] = (*INCIDENT_TYPES, UNCLASSIFIED)
KEYS = ("id", "title", "types", "default_for", "models", "owner", "last_reviewed")


class RunbookError(ValueError):
    """A runbook file that cannot be used."""


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    body: str
    path: Path
    types: tuple[str, ...] = ()
    sections: dict[str, str] = field(default_factory=dict)
    # The top-level list items of `## Containment`: what a paged engineer does first.
    containment: list[str] = field(default_factory=list)
    models: tuple[str, ...] = ()  # the model ids it is written for; empty: any model
    owner: str | None = None  # the team or person who keeps it true
    last_reviewed: date | None = None
    revision: str = ""  # the first 12 hex digits of the SHA-256 of the file
    # The types this runbook is the library's general runbook for (a subset of `types`).
    default_for: tuple[str, ...] = ()

    def review_due(self, max_age: timedelta, today: date) -> bool:
        """Never reviewed, or last reviewed longer than `max_age` ago."""
        return self.last_reviewed is None or today - self.last_reviewed > max_age


class _FrontMatterLoader(yaml.SafeLoader):
    """Dates stay text, so a bad `last_reviewed` is reported with the file's name, not raised."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None


_FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _names(path: Path, meta: dict[Any, Any], key: str) -> tuple[str, ...]:
    """A list of names (a single name may be written as a scalar), without repeats."""
    value = meta.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RunbookError(f"{path}: `{key}` must be a list of names")
    return tuple(dict.fromkeys(v.strip() for v in value))


def _types(path: Path, meta: dict[Any, Any]) -> tuple[str, ...]:
    value = meta.get("types") or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise RunbookError(f"{path}: `types` must be a list of incident types")
    for name in value:
        if name not in KNOWN_TYPES:
            raise RunbookError(
                f"{path}: unknown incident type {name!r} in `types` (known: {', '.join(KNOWN_TYPES)})"
            )
    return tuple(dict.fromkeys(value))


def _owner(path: Path, meta: dict[Any, Any]) -> str | None:
    value = meta.get("owner")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RunbookError(f"{path}: `owner` must be the name of a team or a person")
    return value.strip()


def _last_reviewed(path: Path, meta: dict[Any, Any]) -> date | None:
    value = meta.get("last_reviewed")
    if value is None:
        return None
    text = str(value).strip()
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise RunbookError(f"{path}: `last_reviewed` {text!r} is not a date (YYYY-MM-DD)") from None


def _joined(text: str) -> str:
    """An item's lines as one line: a step wrapped in the file is one step on a page."""
    return " ".join(line.strip() for line in text.split("\n") if line.strip())


def _steps(tokens: list[Token]) -> list[str]:
    """The text of each top-level list item (its own paragraphs, not its sub-lists)."""
    steps: list[str] = []
    current: list[str] | None = None
    for index, token in enumerate(tokens):
        # Levels: list 0, item 1, paragraph 2, the paragraph's inline text 3.
        if token.type == "list_item_open" and token.level == 1:
            current = []
        elif token.type == "list_item_close" and token.level == 1 and current is not None:
            if text := " ".join(part for part in current if part):
                steps.append(text)
            current = None
        elif current is not None and token.type == "paragraph_open" and token.level == 2:
            current.append(_joined(tokens[index + 1].content))
    return steps


def _line(token: Token, which: int, default: int) -> int:
    """The first (0) or past-the-last (1) source line of a block token."""
    return token.map[which] if token.map else default


def _structure(body: str) -> tuple[dict[str, str], list[str]]:
    """Sections (`## ` heading, lowercased -> its Markdown) and the containment steps."""
    tokens = MARKDOWN.parse(body)
    lines = body.split("\n")
    starts = [i for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2" and t.level == 0]
    sections: dict[str, str] = {}
    containment: list[str] = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(tokens)
        name = plain_text(tokens[start + 1]).lower()
        if name in sections:
            continue  # a repeated heading: the first one is the section
        first = _line(tokens[start], 1, 0)
        last = _line(tokens[end], 0, len(lines)) if end < len(tokens) else len(lines)
        sections[name] = "\n".join(lines[first:last]).strip()
        if name == "containment":
            containment = _steps(tokens[start + 3 : end])
    return sections, containment


def parse_runbook(path: Path) -> Runbook:
    """Read one runbook; RunbookError names the file and what is wrong."""
    raw = path.read_bytes()
    text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    found = _FRONT_MATTER.match(text)
    if not found:
        raise RunbookError(f"{path}: missing front matter (--- id, title ---)")
    try:
        meta = yaml.load(found.group(1), Loader=_FrontMatterLoader) or {}
    except yaml.YAMLError as exc:
        raise RunbookError(f"{path}: front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise RunbookError(f"{path}: front matter must be a mapping")
    unknown = [str(k) for k in meta if k not in KEYS]
    if unknown:
        raise RunbookError(f"{path}: unknown front matter key {unknown[0]!r} (known: {', '.join(KEYS)})")
    runbook_id = str(meta.get("id") or path.stem)
    if not _ID.match(runbook_id):
        raise RunbookError(f"{path}: invalid id {runbook_id!r}")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise RunbookError(f"{path}: front matter needs a title")
    types = _types(path, meta)
    default_for = _names(path, meta, "default_for")
    if stray := [t for t in default_for if t not in types]:
        raise RunbookError(f"{path}: `default_for` type {stray[0]!r} is not among its `types`")
    body = text[found.end() :]
    sections, containment = _structure(body)
    return Runbook(
        id=runbook_id,
        title=title.strip(),
        body=body,
        path=path,
        types=types,
        default_for=default_for,
        sections=sections,
        containment=containment,
        models=_names(path, meta, "models"),
        owner=_owner(path, meta),
        last_reviewed=_last_reviewed(path, meta),
        revision=hashlib.sha256(raw).hexdigest()[:12],
    )


def load_library(directory: Path) -> tuple[dict[str, Runbook], list[str]]:
    """Every runbook in the directory, and a list of problems (one per broken file)."""
    runbooks: dict[str, Runbook] = {}
    problems: list[str] = []
    if not directory.is_dir():
        return runbooks, [f"{directory}: runbooks directory not found"]
    for path in sorted(directory.glob("*.md")):
        try:
            runbook = parse_runbook(path)
        except RunbookError as exc:
            problems.append(str(exc))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read: {exc}")
            continue
        if runbook.id in runbooks:
            problems.append(f"{path}: duplicate runbook id {runbook.id!r}")
            continue
        runbooks[runbook.id] = runbook
    problems.extend(_default_clashes(runbooks.values()))
    return runbooks, problems


def _default_clashes(books: Iterable[Runbook]) -> list[str]:
    """One runbook at most may be the general runbook of a type."""
    first: dict[str, Runbook] = {}
    problems = []
    for book in books:
        for type_ in book.default_for:
            if type_ in first:
                problems.append(
                    f"{book.path}: `default_for` {type_!r} is already claimed by runbook {first[type_].id!r}"
                )
            else:
                first[type_] = book
    return problems
