"""The group-commit writer on its own: a real database, a stand-in for the batch work.

The writer is held inside its first transaction with threading.Events, so what queues behind
it is known exactly; no test depends on sleeps or on how fast anything runs.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from app.alerts.schemas import AlertIn
from app.alerts.writer import RETRIES, IntakeWriter
from app.db import Database
from app.errors import InternalError, Unavailable
from app.models import Alert
from tests.support import histogram_in_process

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


def phase_seconds() -> dict[str, float]:
    sample = REGISTRY.get_sample_value
    return {p: sample("bridge_intake_phase_seconds_total", {"phase": p}) or 0.0 for p in PHASES}


def batch_seconds() -> tuple[float, float]:
    return histogram_in_process("bridge_intake_batch_duration_seconds")


def slow_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "app.alerts.writer"
        and r.levelno == logging.WARNING
        and "slow intake batch" in r.getMessage()
    ]


PHASES = ("lock", "work", "commit")
HELD = 0.3  # seconds a test holds the transaction or the write lock: a lower bound, never an upper one


def test_a_slow_batch_is_logged_with_where_its_time_went(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeApply(hold_first=True)
    writer = started(IntakeWriter(db, fake, slow_seconds=HELD / 2))
    phases, (count, total) = phase_seconds(), batch_seconds()

    async def scenario() -> list[int]:
        answer = asyncio.ensure_future(writer.submit([alert("a"), alert("b")]))
        assert await asyncio.to_thread(fake.entered.wait, WAIT)
        await asyncio.sleep(HELD)  # inside the transaction: work
        fake.release.set()
        return await asyncio.wait_for(answer, WAIT)

    try:
        assert len(run(scenario())) == 2
    finally:
        writer.stop()
    spent = {p: v - phases[p] for p, v in phase_seconds().items()}
    assert spent["work"] >= HELD
    assert spent["work"] > spent["lock"] and spent["work"] > spent["commit"]
    after_count, after_total = batch_seconds()
    assert after_count == count + 1
    assert after_total - total == pytest.approx(sum(spent.values()))
    (line,) = slow_lines(caplog)
    assert line.startswith("slow intake batch: 1 request(s), 2 alert(s) took ")
    work_ms = float(line.split("work ")[1].split(" ms")[0])
    assert work_ms >= HELD * 1000
    assert "1 attempt(s)" in line


def test_a_batch_under_the_threshold_is_counted_not_logged(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    writer = started(IntakeWriter(db, FakeApply(), slow_seconds=60.0))
    count, _ = batch_seconds()
    try:
        run(asyncio.wait_for(writer.submit([alert("a")]), WAIT))
    finally:
        writer.stop()
    assert batch_seconds()[0] == count + 1
    assert slow_lines(caplog) == []


def test_waiting_for_the_sqlite_write_lock_counts_as_lock(
    database_url: str, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holds SQLite's write lock (a worker recording its sends, say): the
    batch's time goes to `lock`, and its log line says so."""
    if not db.is_sqlite:
        pytest.skip("SQLite's one write lock")
    other = sqlite3.connect(
        make_url(database_url).database or "", isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")
    writer = started(IntakeWriter(db, FakeApply(), slow_seconds=HELD / 2))
    phases = phase_seconds()

    async def scenario() -> list[int]:
        answer = asyncio.ensure_future(writer.submit([alert("a")]))
        await asyncio.sleep(HELD)
        assert not answer.done()  # it waits for the lock
        await asyncio.to_thread(other.execute, "COMMIT")
        return await asyncio.wait_for(answer, WAIT)

    try:
        assert len(run(scenario())) == 1
    finally:
        writer.stop()
        other.close()
    spent = {p: v - phases[p] for p, v in phase_seconds().items()}
    assert spent["lock"] >= HELD
    assert spent["lock"] > spent["work"] + spent["commit"]
    (line,) = slow_lines(caplog)
    assert float(line.split("write lock ")[1].split(" ms")[0]) >= HELD * 1000
