"""What happens to a notification after one attempt to send it: a pure decision, no I/O.

The dispatcher sends, then asks `decide` and applies the answer to the row.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Literal, Protocol

from app.vocabulary import FALLBACK, WAKING_KINDS

BACKOFF: Final = (5, 15, 30, 60, 120, 300, 600, 900)  # seconds, then the last one again
JITTER: Final = 0.1  # +-10%, so replicas retrying one receiver do not stampede

Failure = Literal["retryable", "permanent"]
RETRYABLE: Final = "retryable"
PERMANENT: Final = "permanent"


@dataclass(frozen=True)
class Delivered:
    """The contact has the message."""


@dataclass(frozen=True)
class Cancelled:
    """A page that failed after its incident was handled: nobody needs it any more."""


@dataclass(frozen=True)
class Retry:
    """Try again after `delay`."""

    delay: timedelta


@dataclass(frozen=True)
class GiveUp:
    """No more attempts; `fall_back` says whether the team's fallback contacts take over."""

    fall_back: bool


Decision = Delivered | Cancelled | Retry | GiveUp


class RandomSource(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


_RANDOM = random.Random()


def jitter(source: RandomSource = _RANDOM) -> float:
    """A backoff factor in [1 - JITTER, 1 + JITTER], drawn from `source`."""
    return source.uniform(1 - JITTER, 1 + JITTER)


def backoff(attempts: int, factor: float = 1.0) -> timedelta:
    """Delay after `attempts` failed attempts (1 or more), scaled by the jitter `factor`."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    return timedelta(seconds=BACKOFF[min(attempts, len(BACKOFF)) - 1] * factor)


def falls_back(kind: str) -> bool:
    """Only a page or a severity raise goes to the team's fallback when it cannot be delivered."""
    return kind in WAKING_KINDS and kind != FALLBACK


def decide(
    failure: Failure | None,
    *,
    kind: str,
    handled: bool,
    attempts: int,
    max_attempts: int,
    factor: float = 1.0,
) -> Decision:
    """The outcome of the attempt that just ended.

    `failure` is None when the send succeeded; `handled` says the incident was acknowledged or
    resolved since the notification was written; `attempts` counts this one; `factor` is the
    backoff jitter (see `jitter`).
    """
    if failure is None:
        return Delivered()
    if handled and kind in WAKING_KINDS:
        return Cancelled()
    if failure == RETRYABLE and attempts < max_attempts:
        return Retry(backoff(attempts, factor))
    return GiveUp(fall_back=falls_back(kind))
