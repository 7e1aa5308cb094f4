"""Jinja2 templates of the pages (autoescaped)."""

from __future__ import annotations

from pathlib import Path

from app.templating import environment

TEMPLATES = environment(Path(__file__).parent / "templates")
