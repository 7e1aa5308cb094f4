"""Values read from the rules directory, with where they came from (file:line)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass
class Located:
    value: Any
    where: str


def format_error(where: str, label: str, exc: ValidationError) -> list[str]:
    """One readable line per pydantic error, prefixed with file:line and what was checked."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        out.append(f"{where}: {label}: {loc + ': ' if loc else ''}{message}")
    return out
