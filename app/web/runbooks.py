"""Runbook pages, readable on a phone: the library's index and each runbook rendered."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from app.api.deps import CatalogDep, RuntimeDep
from app.durations import parse_duration
from app.incidents import service as incidents
from app.models import Incident
from app.runbooks.library import KNOWN_TYPES, Runbook
from app.runbooks.render import body_html
from app.web.auth import render, signed_in

router = APIRouter(tags=["runbooks"])


def _general_first(type_: str, books: list[Runbook]) -> list[Runbook]:
    """The runbooks written for `type_`, its general runbook (`default_for`) first."""
    return sorted((b for b in books if type_ in b.types), key=lambda b: type_ not in b.default_for)


def _groups(books: list[Runbook]) -> list[tuple[str, str, list[Runbook]]]:
    """The runbooks under each incident type they are written for (a runbook for two types is
    under both), types in the vocabulary's order, each type's general runbook first; runbooks
    for no type last. Each group: its name, its type, its runbooks."""
    groups = [
        (
            t.replace("_", " "),
            t,
            sorted((b for b in books if t in b.types), key=lambda b: t not in b.default_for),
        )
        for t in KNOWN_TYPES
    ]
    groups.append(("any type (named by rules)", "", [b for b in books if not b.types]))
    return [group for group in groups if group[2]]


@router.get("/runbooks", response_class=HTMLResponse)
def runbook_index(request: Request, catalog: CatalogDep, rt: RuntimeDep) -> HTMLResponse:
    """The runbook library by incident type: title, models, owner and when each was last reviewed."""
    # Within a type, runbooks for any model first: they are the ones most incidents get.
    books = sorted(catalog.runbooks.values(), key=lambda b: (bool(b.models), b.title.casefold(), b.id))
    max_age = parse_duration(rt.settings.runbook_max_age)
    today = datetime.now(UTC).date()
    due = {b.id for b in books if b.review_due(max_age, today)}
    return render(
        request, "runbooks.html", title="Runbooks", groups=_groups(books), due=due, total=len(books)
    )


@router.get(
    "/runbooks/{runbook_id}",
    response_class=HTMLResponse,
    responses={404: {"description": "No such runbook (a page saying so)"}},
)
def runbook_page(runbook_id: str, request: Request, catalog: CatalogDep, rt: RuntimeDep) -> Response:
    """A runbook, readable on a phone (the raw Markdown with ?format=md); signed-in people also
    see the incidents that used it (those they may see)."""
    book = catalog.runbooks.get(runbook_id)
    if book is None:
        return render(
            request, "runbook.html", 404, book=None, runbook_id=runbook_id, title="Runbook not found"
        )
    if request.query_params.get("format") == "md":
        return Response(book.body, media_type="text/markdown; charset=utf-8")
    person = signed_in(request)
    used: list[Incident] = []
    if person is not None and person.incident_id is None and rt.db is not None:
        with rt.db.session() as session:
            used = incidents.with_runbook(session, runbook_id, person.id)
    max_age = parse_duration(rt.settings.runbook_max_age)
    return render(
        request,
        "runbook.html",
        book=book,
        # Escaped by markdown-it (raw HTML is off, links are checked): safe to insert as is.
        content=Markup(body_html(book.body, book.title)),
        used=used,
        signed_in=person is not None,
        review_due=book.review_due(max_age, datetime.now(UTC).date()),
        title=book.title,
    )
