"""HTTP API of the runbook library."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.api.deps import CatalogDep, SettingsDep
from app.api.errors import described
from app.errors import NotFound
from app.runbooks.schemas import RunbookDetail, RunbookList, RunbookSummary

router = APIRouter(prefix="/api/v1/runbooks", tags=["runbooks"])
RunbookId = Annotated[str, Path(max_length=200, description="The runbook's id")]


@router.get("", response_model=RunbookList)
def list_runbooks(catalog: CatalogDep, config: SettingsDep) -> RunbookList:
    """Every runbook in the library, by title: types, models, owner, review date, revision,
    containment steps and page."""
    books = sorted(catalog.runbooks.values(), key=lambda b: (b.title.casefold(), b.id))
    items = [RunbookSummary.of(book, config.public_url) for book in books]
    return RunbookList(items=items, total=len(items))


@router.get("/{runbook_id}", response_model=RunbookDetail, responses=described(404))
def get_runbook(runbook_id: RunbookId, catalog: CatalogDep, config: SettingsDep) -> RunbookDetail:
    """One runbook, with its Markdown body."""
    book = catalog.runbooks.get(runbook_id)
    if book is None:
        raise NotFound(f"runbook {runbook_id!r} not found")
    return RunbookDetail.of(book, config.public_url)
