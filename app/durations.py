"""Durations exactly as Prometheus reads them (model.ParseDuration): 30s, 10m, 1h30m, 6h, 1d, 2w, 1y, 0."""

from __future__ import annotations

import re
from datetime import timedelta

# Units y, w, d, h, m, s, ms: each at most once, in this order, whole numbers only.
# [0-9], not \d: Python's \d also matches other scripts' digits, Go's [0-9] does not.
_DURATION = re.compile(
    "(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?"
)
_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1_000, 1)
# Prometheus keeps a duration in a Go time.Duration: int64 nanoseconds, about 292 years.
_MAX_NS = 2**63 - 1
_UNITS = re.compile("(?:[0-9]+(?:ms|[ywdhms]))+")
_SYNTAX = "use forms such as 30s, 10m, 1h30m, 6h, 1d"


def parse_duration(text: str | int) -> timedelta:
    """Parse a Prometheus duration such as `1h30m`; raises ValueError naming the offending text."""
    if isinstance(text, int) and not isinstance(text, bool) and text == 0:
        return timedelta(0)
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string such as '10m', got {text!r}")
    if text == "0":  # the one unitless duration Prometheus allows
        return timedelta(0)
    if text == "":
        raise ValueError(f"empty duration {text!r}: {_SYNTAX}")
    found = _DURATION.fullmatch(text)
    if found is None:
        if _UNITS.fullmatch(text):  # such as 30m1h or 1m1m
            order = "units come in the order y, w, d, h, m, s, ms, each at most once"
            raise ValueError(f"invalid duration {text!r}: {order} ({_SYNTAX})")
        raise ValueError(f"invalid duration {text!r}: {_SYNTAX}")
    total_ms = sum(int(n) * unit for n, unit in zip(found.groups(), _UNIT_MS, strict=True) if n)
    if total_ms * 1_000_000 > _MAX_NS:
        raise ValueError(f"duration {text!r} is too long")  # Prometheus: "duration out of range"
    return timedelta(milliseconds=total_ms)
