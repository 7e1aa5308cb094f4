"""What a section parser is handed: values read from the rules directory, with where they came
from (file:line), and a way to turn pydantic errors into readable problems.

Each domain parses its own sections of the rules directory (rules, on-call, ...); the catalog
reads the files and hands every domain the sections it declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

# `list` sections are concatenated across files in file-name order; `single` ones may be set once.
SectionKind = Literal["list", "single"]


@dataclass
class Located:
    value: Any
    where: str


Merged = dict[str, list[Located]]


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
