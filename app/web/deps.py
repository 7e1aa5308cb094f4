"""Request dependencies shared by routers."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session

from app.db import Database
from app.security import check_secret


def read_session(request: Request) -> Iterator[Session]:
    """A read-only unit of work for one request."""
    db: Database = request.app.state.db
    with db.session() as session:
        yield session


def require_api_token(request: Request) -> None:
    """Every /api/ call needs `Authorization: Bearer <BRIDGE_API_TOKEN>` when it is set."""
    check_secret(request, request.app.state.settings.api_token, allow_basic=False)
