"""Which runbook an incident gets, and why: one pure choice for alert-born and reported incidents.

In order: the runbook the rule names; a library runbook written for the incident's model and
type; the general runbook of its type (`default_for`), else one written for its type and no model
in particular; the alert's own `runbook_url` annotation (http(s) only); else none. Ties go to
the smallest id.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.runbooks.library import Runbook
from app.urls import safe_link

ANNOTATION_REASON = "from the alert's runbook_url annotation"


@dataclass(frozen=True)
class Index:
    """The lookups a choice needs, built once per library (the first runbook by id wins)."""

    by_model_type: dict[tuple[str, str], Runbook]
    by_type: dict[str, Runbook]  # runbooks that name no model

    @classmethod
    def build(cls, library: Mapping[str, Runbook]) -> Index:
        by_model_type: dict[tuple[str, str], Runbook] = {}
        by_type: dict[str, Runbook] = {}
        books = sorted(library.values(), key=lambda b: b.id)
        for book in books:  # a type's general runbook (`default_for`) comes before the rest
            for type_ in book.default_for:
                if not book.models:
                    by_type.setdefault(type_, book)
        for book in books:
            for type_ in book.types:
                for model in book.models:
                    by_model_type.setdefault((model, type_), book)
                if not book.models:
                    by_type.setdefault(type_, book)
        return cls(by_model_type, by_type)


_lock = threading.Lock()
_last: tuple[Mapping[str, Runbook], Index] | None = None


def index_of(library: Mapping[str, Runbook]) -> Index:
    """The index of this library, kept while the same library object is in force.

    A catalog's runbooks are never changed once loaded (a reload makes a new dict), so the
    object's identity names its contents; holding the object keeps its id from being reused.
    """
    global _last
    cached = _last
    if cached is not None and cached[0] is library:
        return cached[1]
    with _lock:
        built = Index.build(library)
        _last = (library, built)
    return built


@dataclass(frozen=True)
class Choice:
    """The runbook chosen (None for an annotation's URL), its URL, and the reason, for people."""

    runbook: Runbook | None
    url: str | None
    reason: str


def choose(
    library: Mapping[str, Runbook],
    *,
    rule: str,
    rule_runbook: str | None,
    model: str | None,
    type_: str,
    runbook_url: str | None = None,
) -> Choice | None:
    """The runbook for an incident of this rule, model and type, and why; None when none fits."""
    if rule_runbook and (book := library.get(rule_runbook)) is not None:
        return Choice(book, None, f"named by rule {rule}")
    index = index_of(library)
    if model and (book := index.by_model_type.get((model, type_))) is not None:
        return Choice(book, None, f"written for model {model} and type {type_}")
    if (book := index.by_type.get(type_)) is not None:
        return Choice(book, None, f"written for {type_} incidents")
    link = safe_link(runbook_url)  # only http(s) URLs ever become links
    if link:
        return Choice(None, link, ANNOTATION_REASON)
    return None


def reference(choice: Choice | None, public_url: str) -> dict[str, Any] | None:
    """What an incident stores about its runbook: id, title, url, reason, revision."""
    if choice is None:
        return None
    book = choice.runbook
    if book is None:
        return {"id": None, "title": None, "url": choice.url, "reason": choice.reason, "revision": None}
    return {
        "id": book.id,
        "title": book.title,
        "url": f"{public_url}/runbooks/{book.id}",
        "reason": choice.reason,
        "revision": book.revision,
    }
