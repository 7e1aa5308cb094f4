"""Jinja2 environments for HTML (autoescaped), one per package that owns templates."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape


def environment(directory: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        # The templates ship with the package and change only with it: no stat() of the file at
        # every render (4% of a worker's time when it sends pages by email).
        auto_reload=False,
    )
