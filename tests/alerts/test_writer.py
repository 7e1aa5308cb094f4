"""The group-commit writer on its own: a real database, a stand-in for the batch work.

The writer is held inside its first transaction with threading.Events, so what queues behind
it is known exactly; no test depends on sleeps or on how fast anything runs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from app.alerts.schemas import AlertIn
from app.alerts.writer import RETRIES, IntakeWriter
from app.db import Database
from app.errors import InternalError, Unavailable
from app.models import Alert

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
WAIT = 10.0  # a safety net against a hung test, never a timing assertion
REASONS = ("database_unavailable", "database_error", "bug")
T = TypeVar("T")


@dataclass
class Stored:
    incident_ids: list[list[int]] = field(default_factory=list)


def alert(fingerprint: str) -> AlertIn:
    return AlertIn(
        fingerprint=fingerprint,
        status="firing",
        labels={"alertname": "WriterTest", "fp": fingerprint},
        annotations={},
        starts_at=T0,
        ends_at=None,
    )


class FakeApply:
    """Stores one alert row per alert, then raises if the batch holds a marked fingerprint.

    With `hold_first`, the first call waits for `release` once it is inside its transaction.
    """

    def __init__(
        self, fail: dict[str, Callable[[], Exception]] | None = None, hold_first: bool = False
    ) -> None:
        self.fail = fail or {}
        self.hold_first = hold_first
        self.calls: list[list[list[str]]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, session: Session, requests: Sequence[Sequence[AlertIn]]) -> Stored:
        self.calls.append([[a.fingerprint for a in alerts] for alerts in requests])
        if self.hold_first and len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(WAIT)
        out = Stored()
        for alerts in requests:
            ids = []
            for a in alerts:
                row = Alert(
                    incident_id=None,
                    fingerprint=a.fingerprint,
                    status=a.status,
                    labels=a.labels,
                    annotations=a.annotations,
                    starts_at=a.starts_at,
                    ends_at=None,
                    generator_url="",
                    source="test",
                    first_seen_at=T0,
                    last_seen_at=T0,
                    receive_count=1,
                )
                session.add(row)
                session.flush()
                ids.append(row.id)
            out.incident_ids.append(ids)
        for alerts in requests:  # after the rows went in: a failure must roll them back
            for a in alerts:
                if a.fingerprint in self.fail:
                    raise self.fail[a.fingerprint]()
        return out


def operational() -> Exception:
    return OperationalError("INSERT", {}, Exception("the server closed the connection"))


def programming() -> Exception:
    return ProgrammingError("INSERT", {}, Exception("relation does not exist"))


def bug() -> Exception:
    return KeyError("model")


def failures() -> dict[str, float]:
    sample = REGISTRY.get_sample_value
    return {r: sample("bridge_intake_failures_total", {"reason": r}) or 0.0 for r in REASONS}


def increase(before: dict[str, float]) -> dict[str, float]:
    after = failures()
    return {r: after[r] - before[r] for r in REASONS}


def stored(db: Database) -> list[str]:
    with db.session() as session:
        return sorted(session.scalars(select(Alert.fingerprint)))


def run(scenario: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(scenario)


def started(writer: IntakeWriter[Stored]) -> IntakeWriter[Stored]:
    writer.start()
    return writer


async def held_batch(writer: IntakeWriter[Stored], fake: FakeApply, fingerprints: Sequence[str]) -> list[Any]:
    """Answers of request "a" (held in its transaction) and of `fingerprints`, one request each,
    queued behind it so that they form the writer's next batch."""
    first = asyncio.ensure_future(writer.submit([alert("a")]))
    assert await asyncio.to_thread(fake.entered.wait, WAIT)
    rest = [asyncio.ensure_future(writer.submit([alert(fp)])) for fp in fingerprints]
    await asyncio.sleep(0)  # each task queues its request before it waits for the answer
    fake.release.set()
    return await asyncio.wait_for(asyncio.gather(first, *rest, return_exceptions=True), WAIT)


def test_requests_queued_while_the_writer_is_busy_commit_in_one_batch(db: Database) -> None:
    fake = FakeApply(hold_first=True)
    writer = started(IntakeWriter(db, fake))
    try:
        answers = run(held_batch(writer, fake, ["b", "c", "d"]))
    finally:
        writer.stop()
    assert fake.calls == [[["a"]], [["b"], ["c"], ["d"]]]
    assert all(isinstance(a, list) and len(a) == 1 for a in answers)
    assert len({a[0] for a in answers}) == 4
    assert stored(db) == ["a", "b", "c", "d"]


def test_database_unavailable_answers_every_waiter_of_the_batch(db: Database) -> None:
    fake = FakeApply(fail={"d": operational}, hold_first=True)
    before = failures()
    writer = started(IntakeWriter(db, fake))
    try:
        answers = run(held_batch(writer, fake, ["b", "c", "d", "e"]))
    finally:
        writer.stop()
    assert isinstance(answers[0], list)
    assert all(isinstance(a, Unavailable) for a in answers[1:]), answers
    assert fake.calls == [[["a"]], [["b"], ["c"], ["d"], ["e"]]]  # no request-by-request retry
    assert stored(db) == ["a"]
    assert increase(before) == {"database_unavailable": 1, "database_error": 0, "bug": 0}


def test_a_bug_in_one_request_fails_it_alone(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeApply(fail={"c": bug}, hold_first=True)
    before = failures()
    writer = started(IntakeWriter(db, fake))
    try:
        _, b, c, d = run(held_batch(writer, fake, ["b", "c", "d"]))
    finally:
        writer.stop()
    assert fake.calls == [[["a"]], [["b"], ["c"], ["d"]], [["b"]], [["c"]], [["d"]]]
    assert isinstance(b, list) and isinstance(d, list) and len(b) == len(d) == 1
    assert isinstance(c, InternalError)
    assert c.status_code == 500
    assert "model" not in c.detail  # the exception text stays in the log
    assert stored(db) == ["a", "b", "d"]
    # The failed batch and the request that failed alone: two transactions, both a bug.
    assert increase(before) == {"database_unavailable": 0, "database_error": 0, "bug": 2}
    logged = [r for r in caplog.records if r.name == "app.alerts.writer" and r.exc_info]
    assert len(logged) == 2
    assert all(r.exc_info and isinstance(r.exc_info[1], KeyError) for r in logged)


def test_a_database_error_in_one_request_fails_it_alone_with_503(db: Database) -> None:
    fake = FakeApply(fail={"b": programming}, hold_first=True)
    before = failures()
    writer = started(IntakeWriter(db, fake))
    try:
        _, b, c = run(held_batch(writer, fake, ["b", "c"]))
    finally:
        writer.stop()
    assert isinstance(b, Unavailable)
    assert isinstance(c, list)
    assert stored(db) == ["a", "c"]
    assert increase(before) == {"database_unavailable": 0, "database_error": 2, "bug": 0}


@pytest.mark.parametrize(
    ("make", "reason", "answer"),
    [
        (operational, "database_unavailable", Unavailable),
        (programming, "database_error", Unavailable),
        (bug, "bug", InternalError),
    ],
)
def test_each_failure_is_logged_with_its_traceback_and_counted_by_reason(
    db: Database,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[], Exception],
    reason: str,
    answer: type[Exception],
) -> None:
    before = failures()
    writer = started(IntakeWriter(db, FakeApply(fail={"x": make})))
    try:
        with pytest.raises(answer):
            run(asyncio.wait_for(writer.submit([alert("x")]), WAIT))
    finally:
        writer.stop()
    expected = dict.fromkeys(REASONS, 0.0)
    expected[reason] = 1.0
    assert increase(before) == expected
    (record,) = [r for r in caplog.records if r.name == "app.alerts.writer" and r.levelno >= logging.ERROR]
    assert record.exc_info is not None
    assert reason in record.getMessage()
    assert stored(db) == []


def test_conflicts_with_another_writer_are_retried_then_counted(db: Database) -> None:
    conflicts = 0

    def conflicting(session: Session, requests: Sequence[Sequence[AlertIn]]) -> Stored:
        nonlocal conflicts
        result = FakeApply()(session, requests)
        if conflicts < RETRIES - 1:
            conflicts += 1
            raise IntegrityError("INSERT", {}, Exception("duplicate key"))
        return result

    before = failures()
    writer = started(IntakeWriter(db, conflicting))
    try:
        answer = run(asyncio.wait_for(writer.submit([alert("x")]), WAIT))
        assert len(answer) == 1
        assert increase(before) == dict.fromkeys(REASONS, 0.0)

        always = FakeApply(fail={"y": lambda: IntegrityError("INSERT", {}, Exception("duplicate key"))})
        writer.apply = always
        with pytest.raises(Unavailable):
            run(asyncio.wait_for(writer.submit([alert("y")]), WAIT))
    finally:
        writer.stop()
    assert len(always.calls) == RETRIES
    assert increase(before) == {"database_unavailable": 0, "database_error": 1, "bug": 0}
    assert stored(db) == ["x"]


def test_a_result_that_does_not_answer_every_request_is_a_bug(db: Database) -> None:
    def short(session: Session, requests: Sequence[Sequence[AlertIn]]) -> Stored:
        result = FakeApply()(session, requests)
        result.incident_ids.pop()
        return result

    writer = started(IntakeWriter(db, short))
    try:
        with pytest.raises(InternalError):
            run(asyncio.wait_for(writer.submit([alert("x")]), WAIT))
    finally:
        writer.stop()
    assert stored(db) == []


def test_stop_finishes_what_is_queued_then_refuses_more(db: Database) -> None:
    fake = FakeApply(hold_first=True)
    writer = started(IntakeWriter(db, fake))

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(writer.submit([alert("a")]))
        assert await asyncio.to_thread(fake.entered.wait, WAIT)
        rest = [asyncio.ensure_future(writer.submit([alert(fp)])) for fp in ("b", "c")]
        await asyncio.sleep(0)  # both queued behind "a"
        writer.stop(timeout=0)  # asks to stop while three requests are unanswered
        with pytest.raises(Unavailable):
            await writer.submit([alert("late")])
        fake.release.set()
        return await asyncio.wait_for(asyncio.gather(first, *rest), WAIT)

    try:
        answers = run(scenario())
    finally:
        writer.stop()
    assert all(isinstance(a, list) and len(a) == 1 for a in answers)
    assert fake.calls == [[["a"]], [["b"], ["c"]]]
    assert stored(db) == ["a", "b", "c"]


def test_a_failing_after_commit_hook_is_logged_and_the_answers_stand(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Stored] = []

    def hook(result: Stored) -> None:
        seen.append(result)
        raise RuntimeError("the dispatcher is gone")

    before = failures()
    writer = started(IntakeWriter(db, FakeApply(), after_commit=hook))
    try:
        answer = run(asyncio.wait_for(writer.submit([alert("x"), alert("y")]), WAIT))
    finally:
        writer.stop()
    assert len(answer) == 2
    assert [r.incident_ids for r in seen] == [[answer]]
    assert stored(db) == ["x", "y"]
    assert increase(before) == dict.fromkeys(REASONS, 0.0)
    (record,) = [r for r in caplog.records if r.name == "app.alerts.writer" and r.levelno >= logging.ERROR]
    assert "after-commit hook failed" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_a_big_body_commits_in_chunks_and_small_requests_go_between_them(db: Database) -> None:
    fake = FakeApply(hold_first=True)
    writer = started(IntakeWriter(db, fake, chunk_alerts=3))

    async def scenario() -> tuple[list[int], list[int]]:
        big = asyncio.ensure_future(writer.submit([alert(f"big-{i}") for i in range(7)]))
        assert await asyncio.to_thread(fake.entered.wait, WAIT)  # its first chunk is in
        small = asyncio.ensure_future(writer.submit([alert("small")]))
        await asyncio.sleep(0)
        fake.release.set()
        return await asyncio.wait_for(asyncio.gather(big, small), WAIT)

    try:
        big_ids, small_ids = run(scenario())
    finally:
        writer.stop()
    # Chunks of three, each its own request in the queue; the small request goes in the very
    # next transaction after the first chunk (the second chunk may join it), not behind all.
    assert fake.calls[0] == [["big-0", "big-1", "big-2"]]
    assert fake.calls[1][0] == ["small"]
    chunks = [request for call in fake.calls[1:] for request in call if request != ["small"]]
    assert chunks == [["big-3", "big-4", "big-5"], ["big-6"]]
    assert len(big_ids) == 7 and len(set(big_ids)) == 7 and len(small_ids) == 1
    assert stored(db) == sorted([f"big-{i}" for i in range(7)] + ["small"])


def test_a_failed_chunk_fails_the_request_and_keeps_the_chunks_before_it(db: Database) -> None:
    fake = FakeApply(fail={"big-4": operational})
    writer = started(IntakeWriter(db, fake, chunk_alerts=3))
    try:
        with pytest.raises(Unavailable):
            run(writer.submit([alert(f"big-{i}") for i in range(7)]))
    finally:
        writer.stop()
    assert stored(db) == ["big-0", "big-1", "big-2"]  # a retry of the body deduplicates these
    assert len(fake.calls) == 2  # the third chunk was never tried


def test_a_batch_holds_at_most_a_chunk_of_alerts(db: Database) -> None:
    fake = FakeApply(hold_first=True)
    writer = started(IntakeWriter(db, fake, chunk_alerts=4))
    try:
        run(held_batch(writer, fake, ["b", "c", "d", "e", "f", "g"]))
    finally:
        writer.stop()
    assert fake.calls == [[["a"]], [["b"], ["c"], ["d"], ["e"]], [["f"], ["g"]]]
