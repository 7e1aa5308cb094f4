"""The runbook library: Markdown files with YAML front matter, containment steps first."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_HEADING = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+(.+?)\s*$")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


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

    @property
    def containment(self) -> list[str]:
        """The numbered steps under `## Containment`: what a paged engineer does first."""
        text = self.sections.get("containment", "")
        return [m.group(1) for line in text.splitlines() if (m := _LIST_ITEM.match(line))]


def parse_runbook(path: Path) -> Runbook:
    text = path.read_text(encoding="utf-8")
    found = _FRONT_MATTER.match(text)
    if not found:
        raise RunbookError(f"{path}: missing front matter (--- id, title ---)")
    try:
        meta = yaml.safe_load(found.group(1)) or {}
    except yaml.YAMLError as exc:
        raise RunbookError(f"{path}: front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise RunbookError(f"{path}: front matter must be a mapping")
    runbook_id = str(meta.get("id") or path.stem)
    if not _ID.match(runbook_id):
        raise RunbookError(f"{path}: invalid id {runbook_id!r}")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise RunbookError(f"{path}: front matter needs a title")
    body = text[found.end() :]
    sections: dict[str, str] = {}
    headings = list(_HEADING.finditer(body))
    for index, heading in enumerate(headings):
        end = headings[index + 1].start() if index + 1 < len(headings) else len(body)
        sections[heading.group(1).strip().lower()] = body[heading.end() : end].strip()
    types = meta.get("types") or []
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise RunbookError(f"{path}: `types` must be a list of incident types")
    return Runbook(
        id=runbook_id,
        title=title.strip(),
        body=body,
        path=path,
        types=tuple(str(t) for t in types),
        sections=sections,
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
    return runbooks, problems
