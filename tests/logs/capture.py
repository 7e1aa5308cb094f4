"""Log lines as the real handler writes them, captured from every logger of this process."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from app import logs


class Captured:
    """What a handler of `fmt` (`logs.handler`) writes."""

    def __init__(self, fmt: logs.LogFormat) -> None:
        self.stream = io.StringIO()
        self.handler = logs.handler(fmt, self.stream)

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Every line, each parsed as one JSON object (a line that is not fails the test)."""
        parsed = [json.loads(line) for line in self.text().splitlines()]
        assert all(isinstance(line, dict) for line in parsed)
        return parsed

    def events(self, incident_id: int, event: str | None = None) -> list[dict[str, Any]]:
        """The lifecycle lines of one incident (of one event), in order."""
        return [
            ln
            for ln in self.lines()
            if ln.get("incident_id") == incident_id and "event" in ln and event in (None, ln["event"])
        ]


@contextlib.contextmanager
def capturing(level: int = logging.INFO, fmt: logs.LogFormat = "json") -> Iterator[Captured]:
    """Capture the lines of every logger at `level` and above while the block runs."""
    captured = Captured(fmt)
    root = logging.getLogger()
    before = root.level
    root.addHandler(captured.handler)
    root.setLevel(level)
    try:
        yield captured
    finally:
        root.removeHandler(captured.handler)
        root.setLevel(before)
