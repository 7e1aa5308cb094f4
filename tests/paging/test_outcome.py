"""The delivery outcome as a decision table: every failure, kind, handled flag and attempt count.

Pure: no database, no clock, no randomness.
"""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest

from app.paging.outcome import (
    BACKOFF,
    JITTER,
    PERMANENT,
    RETRYABLE,
    Cancelled,
    Decision,
    Delivered,
    Failure,
    GiveUp,
    Retry,
    backoff,
    decide,
    jitter,
)
from app.vocabulary import (
    ACKNOWLEDGE,
    COMMUNICATION,
    FALLBACK,
    NOTIFICATION_KINDS,
    PAGE,
    REMINDER,
    RESOLVE,
    REVIEW_NOTICE,
    SEVERITY_RAISED,
)

MAX = 3
FAILURES: tuple[Failure | None, ...] = (None, RETRYABLE, PERMANENT)
ATTEMPTS = (1, 2, 3)  # below, just below and at the limit of MAX

# The oracle, spelled out: who is woken, and who falls back when a send is given up.
# Notices, reminders, review messages and sign-in links wake nobody and have no fallback: a
# failure of one is on the incident's timeline, not a page to the team channel.
QUIET = {COMMUNICATION: False, REMINDER: False, REVIEW_NOTICE: False, "sign_in": False}
WAKES = {PAGE: True, SEVERITY_RAISED: True, FALLBACK: True, ACKNOWLEDGE: False, RESOLVE: False, **QUIET}
FALLS_BACK = {PAGE: True, SEVERITY_RAISED: True, FALLBACK: False, ACKNOWLEDGE: False, RESOLVE: False, **QUIET}


def expected(failure: Failure | None, kind: str, handled: bool, attempts: int) -> Decision:
    if failure is None:
        return Delivered()  # even if handled meanwhile: it did go out
    if WAKES[kind] and handled:
        return Cancelled()
    if failure == RETRYABLE and attempts < MAX:
        return Retry(timedelta(seconds=(5, 15)[attempts - 1]))
    return GiveUp(fall_back=FALLS_BACK[kind])


CASES = list(itertools.product(FAILURES, NOTIFICATION_KINDS, (False, True), ATTEMPTS))


def test_the_oracle_covers_every_kind() -> None:
    assert set(WAKES) == set(FALLS_BACK) == set(NOTIFICATION_KINDS)
    assert len(CASES) == 3 * 9 * 2 * 3


@pytest.mark.parametrize(("failure", "kind", "handled", "attempts"), CASES)
def test_decision_table(failure: Failure | None, kind: str, handled: bool, attempts: int) -> None:
    decision = decide(failure, kind=kind, handled=handled, attempts=attempts, max_attempts=MAX)

    assert decision == expected(failure, kind, handled, attempts)


@pytest.mark.parametrize(
    ("failure", "kind", "handled", "attempts", "decision"),
    [
        (None, PAGE, True, 3, Delivered()),
        (RETRYABLE, PAGE, True, 1, Cancelled()),
        (PERMANENT, FALLBACK, True, 1, Cancelled()),
        (RETRYABLE, RESOLVE, True, 1, Retry(timedelta(seconds=5))),
        (RETRYABLE, PAGE, False, 2, Retry(timedelta(seconds=15))),
        (RETRYABLE, PAGE, False, 3, GiveUp(fall_back=True)),
        (PERMANENT, PAGE, False, 1, GiveUp(fall_back=True)),
        (PERMANENT, SEVERITY_RAISED, False, 1, GiveUp(fall_back=True)),
        (PERMANENT, FALLBACK, False, 1, GiveUp(fall_back=False)),
        (RETRYABLE, ACKNOWLEDGE, True, 3, GiveUp(fall_back=False)),
        (PERMANENT, RESOLVE, False, 1, GiveUp(fall_back=False)),
    ],
)
def test_named_rows(
    failure: Failure | None, kind: str, handled: bool, attempts: int, decision: Decision
) -> None:
    assert decide(failure, kind=kind, handled=handled, attempts=attempts, max_attempts=MAX) == decision


@pytest.mark.parametrize("max_attempts", [1, 8, 50])
def test_the_last_allowed_attempt_gives_up(max_attempts: int) -> None:
    last = decide(RETRYABLE, kind=PAGE, handled=False, attempts=max_attempts, max_attempts=max_attempts)
    past = decide(RETRYABLE, kind=PAGE, handled=False, attempts=max_attempts + 1, max_attempts=max_attempts)

    assert last == past == GiveUp(fall_back=True)


@pytest.mark.parametrize("attempts", range(1, 13))
def test_retry_follows_the_schedule_then_repeats_its_last_step(attempts: int) -> None:
    schedule = [5, 15, 30, 60, 120, 300, 600, 900, 900, 900, 900, 900]

    decision = decide(RETRYABLE, kind=PAGE, handled=False, attempts=attempts, max_attempts=50)

    assert decision == Retry(timedelta(seconds=schedule[attempts - 1]))
    assert backoff(attempts) == timedelta(seconds=schedule[attempts - 1])


def test_the_schedule() -> None:
    assert BACKOFF == (5, 15, 30, 60, 120, 300, 600, 900)
    assert JITTER == 0.1


@pytest.mark.parametrize(("factor", "seconds"), [(0.9, 4.5), (1.0, 5.0), (1.1, 5.5)])
def test_retry_delay_is_scaled_by_the_jitter_factor(factor: float, seconds: float) -> None:
    decision = decide(RETRYABLE, kind=PAGE, handled=False, attempts=1, max_attempts=MAX, factor=factor)

    assert decision == Retry(timedelta(seconds=seconds))


@pytest.mark.parametrize("attempts", [0, -1])
def test_backoff_needs_an_attempt(attempts: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        backoff(attempts)


class Extreme:
    """A random source that always picks one end of the range."""

    def __init__(self, end: int) -> None:
        self.end = end
        self.asked: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.asked.append((a, b))
        return (a, b)[self.end]


def test_jitter_is_ten_percent_either_way() -> None:
    low, high = Extreme(0), Extreme(1)

    assert (jitter(low), jitter(high)) == (0.9, 1.1)
    assert low.asked == high.asked == [(0.9, 1.1)]


def test_jitter_from_a_seeded_source_is_reproducible() -> None:
    first = [jitter(random.Random(7)) for _ in range(3)]
    second = [jitter(random.Random(7)) for _ in range(3)]

    assert first == second
    assert all(0.9 <= f <= 1.1 for f in first)
