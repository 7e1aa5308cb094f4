"""Text that can be stored: no NUL characters (PostgreSQL refuses them in text and JSON)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

MAX_DB_INT = 2**63 - 1  # the largest integer both databases store (and accept in a query)


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


StorableText = Annotated[str, AfterValidator(no_nul)]
