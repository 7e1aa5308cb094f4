"""API schemas of the runbook library."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from app.runbooks.library import Runbook


class RunbookSummary(BaseModel):
    id: str = Field(examples=["model-performance-degradation"])
    title: str
    types: list[str] = Field(description="the incident types it is written for")
    models: list[str] = Field(description="the model ids it is written for; empty: any model")
    owner: str | None = Field(description="the team or person who keeps it true")
    last_reviewed: date | None
    revision: str = Field(description="the first 12 hex digits of the SHA-256 of its file")
    containment: list[str] = Field(description="the steps under `## Containment`, in order")
    url: str = Field(description="its page")

    @classmethod
    def of(cls, book: Runbook, public_url: str) -> RunbookSummary:
        return cls(**_fields(book, public_url))


class RunbookDetail(RunbookSummary):
    markdown: str = Field(description="the body, without the front matter")

    @classmethod
    def of(cls, book: Runbook, public_url: str) -> RunbookDetail:
        return cls(**_fields(book, public_url), markdown=book.body)


class RunbookList(BaseModel):
    items: list[RunbookSummary]
    total: int


def _fields(book: Runbook, public_url: str) -> dict[str, object]:
    return {
        "id": book.id,
        "title": book.title,
        "types": list(book.types),
        "models": list(book.models),
        "owner": book.owner,
        "last_reviewed": book.last_reviewed,
        "revision": book.revision,
        "containment": list(book.containment),
        "url": f"{public_url}/runbooks/{book.id}",
    }
