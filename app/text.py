"""Text that can be stored: no NUL characters (PostgreSQL refuses them in text and JSON)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

MAX_DB_INT = 2**63 - 1  # the largest integer both databases accept in a query (OFFSET)
MAX_DB_ID = 2**31 - 1  # the largest id an Integer primary key holds on PostgreSQL


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


StorableText = Annotated[str, AfterValidator(no_nul)]
