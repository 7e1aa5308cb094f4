"""Group commit: webhook handlers queue their alerts, one writer thread commits them together.

Each request is answered only after the transaction holding its alerts committed, so a 2xx
always means durable; throughput rises because one commit carries many requests. The writer
knows nothing of what a batch does: `apply` does the work inside the transaction and returns
the incident ids of each request; `after_commit` gets that result once it is durable.

Every committed batch's time is counted by phase (write lock, work, commit), and one slower
than `slow_seconds` is logged with that breakdown and how long its first request had queued:
when webhooks answer late, the log says whether the intake waited, worked or committed.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from app.alerts import metrics
from app.alerts.schemas import AlertIn
from app.db import Database, is_conflict, is_lost_connection, is_unavailable
from app.errors import DomainError, InternalError, Unavailable

log = logging.getLogger(__name__)
RETRIES = 3  # for conflicts with another replica (unique violations, deadlocks), lost connections


class BatchResult(Protocol):
    """What `apply` returns: the incident ids each request touched, one list per request."""

    incident_ids: list[list[int]]


R = TypeVar("R", bound=BatchResult)


@dataclass
class _Job:
    alerts: Sequence[AlertIn]
    future: asyncio.Future[list[int]]
    loop: asyncio.AbstractEventLoop
    queued: float = field(default_factory=time.perf_counter)


@dataclass
class Timing:
    """Where one batch's time went, in seconds, over all its attempts (see `metrics.INTAKE_PHASES`)."""

    lock: float = 0.0
    work: float = 0.0
    commit: float = 0.0
    attempts: int = 0

    @property
    def total(self) -> float:
        return self.lock + self.work + self.commit

    def add(self, phase: str, since: float) -> float:
        """Count the time from `since` to now to `phase`; returns now."""
        now = time.perf_counter()
        setattr(self, phase, getattr(self, phase) + now - since)
        return now


def _set(future: asyncio.Future[list[int]], result: list[int] | BaseException) -> None:
    if future.done():  # the client went away (the work is committed all the same), or settled
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _settle(job: _Job, result: list[int] | BaseException) -> None:
    try:
        job.loop.call_soon_threadsafe(_set, job.future, result)
    except RuntimeError:  # its event loop is closed: nobody is waiting any more
        log.debug("intake answer dropped: the event loop of the request is closed")


def _retryable(exc: DBAPIError) -> bool:
    return isinstance(exc, IntegrityError) or is_conflict(exc) or is_lost_connection(exc)


def failure_reason(exc: BaseException) -> str:
    """The bounded `reason` label of an intake failure."""
    if is_unavailable(exc):  # a read-only or full database, a lost connection
        return metrics.DATABASE_UNAVAILABLE
    if isinstance(exc, DBAPIError):
        return metrics.DATABASE_ERROR
    return metrics.BUG


def _answer(reason: str) -> DomainError:
    """A fresh error for one waiter (an exception object is raised in one place only)."""
    if reason == metrics.DATABASE_UNAVAILABLE:
        return Unavailable("the database could not take the write; retry later")
    if reason == metrics.DATABASE_ERROR:
        return Unavailable("could not store the alerts; retry later")
    return InternalError("the alerts could not be processed; the failure is logged")


class IntakeWriter(Generic[R]):
    """The single writer thread of this process."""

    def __init__(
        self,
        db: Database,
        apply: Callable[[Session, Sequence[Sequence[AlertIn]]], R],
        batch_max: int = 256,
        after_commit: Callable[[R], None] | None = None,
        chunk_alerts: int = 500,
        slow_seconds: float = 0.5,
    ) -> None:
        self.db, self.apply, self.batch_max, self.after_commit = db, apply, batch_max, after_commit
        self.slow_seconds = slow_seconds  # a committed batch slower than this is logged
        # A body of more alerts is committed in chunks of this many, one transaction each, so
        # webhooks that arrive meanwhile are committed between them instead of behind it all.
        self.chunk_alerts = chunk_alerts
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        # Guards `_stopped` and the queue together: nothing is queued behind the stop marker.
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop."""
        with self._lock:
            if not self._stopped:
                self._stopped = True
                self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    async def submit(self, alerts: Sequence[AlertIn]) -> list[int]:
        """Queue one request's alerts; returns the ids of the incidents they touched.

        A big body goes in chunks, each committed before the next is queued. Should one fail,
        the chunks before it stay stored and the request fails: the sender's retry of the whole
        body is deduplicated alert by alert.
        """
        if len(alerts) <= self.chunk_alerts:
            return await self._submit(alerts)
        touched: dict[int, None] = {}  # in order of first touch
        for start in range(0, len(alerts), self.chunk_alerts):
            for incident_id in await self._submit(alerts[start : start + self.chunk_alerts]):
                touched[incident_id] = None
        return list(touched)

    async def _submit(self, alerts: Sequence[AlertIn]) -> list[int]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        with self._lock:
            if self._stopped:
                raise Unavailable("shutting down")
            self._queue.put(_Job(alerts, future, loop))
        return await future

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            size = len(job.alerts)
            stop = False
            while len(batch) < self.batch_max and size < self.chunk_alerts:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
                size += len(more.alerts)
            try:
                self._process(batch)
            except Exception:  # never lose the thread, never leave a waiter hanging
                log.exception("intake writer failed to answer a batch of %d requests", len(batch))
                for waiting in batch:
                    _settle(waiting, _answer(metrics.BUG))
            if stop:
                return

    def _process(self, batch: list[_Job]) -> None:
        began = time.perf_counter()
        timing = Timing()
        try:
            result = self._commit(batch, timing)
        except Exception as exc:
            reason = failure_reason(exc)
            metrics.INTAKE_FAILURES.labels(reason).inc()
            if len(batch) > 1 and reason != metrics.DATABASE_UNAVAILABLE:
                # One bad request must not fail its neighbours: retry them one by one.
                log.exception(
                    "intake batch of %d requests failed (%s); retrying them one by one", len(batch), reason
                )
                for job in batch:
                    self._process([job])
                return
            log.exception("intake of %d requests failed (%s)", len(batch), reason)
            for job in batch:
                _settle(job, _answer(reason))
            return
        metrics.INTAKE_BATCH_REQUESTS.observe(len(batch))
        self._timed(batch, timing, began)
        if self.after_commit is not None:
            try:
                self.after_commit(result)
            except Exception:  # committed all the same: the answers stand
                log.exception("after-commit hook failed for a batch of %d requests", len(batch))
        for job, incident_ids in zip(batch, result.incident_ids, strict=True):
            _settle(job, incident_ids)

    def _timed(self, batch: list[_Job], timing: Timing, began: float) -> None:
        """Count a committed batch's time; log it when slow."""
        metrics.INTAKE_BATCH_SECONDS.observe(timing.total)
        for phase in metrics.INTAKE_PHASES:
            metrics.INTAKE_PHASE_SECONDS.labels(phase).inc(getattr(timing, phase))
        if timing.total >= self.slow_seconds:
            log.warning(
                "slow intake batch: %d request(s), %d alert(s) took %.0f ms (write lock %.0f ms, "
                "work %.0f ms, commit %.0f ms; %d attempt(s)); its first request had queued %.0f ms",
                len(batch),
                sum(len(job.alerts) for job in batch),
                timing.total * 1000,
                timing.lock * 1000,
                timing.work * 1000,
                timing.commit * 1000,
                timing.attempts,
                (began - min(job.queued for job in batch)) * 1000,
            )

    def _commit(self, batch: list[_Job], timing: Timing) -> R:
        requests = [job.alerts for job in batch]
        for attempt in range(1, RETRIES + 1):
            timing.attempts = attempt
            mark, phase = time.perf_counter(), "lock"
            try:
                with self.db.session(write=True, intake=True) as session:
                    session.connection()  # begins: on SQLite, once this process holds the write lock
                    mark, phase = timing.add("lock", mark), "work"
                    result = self.apply(session, requests)
                    if len(result.incident_ids) != len(requests):  # checked before the commit
                        raise RuntimeError(
                            f"apply answered {len(result.incident_ids)} requests of {len(requests)}"
                        )
                    mark, phase = timing.add("work", mark), "commit"
                timing.add("commit", mark)
            except DBAPIError as exc:
                timing.add(phase, mark)
                if _retryable(exc) and attempt < RETRIES:
                    why = (
                        "lost its database connection"
                        if is_lost_connection(exc)
                        else "conflicted with another writer"
                    )
                    log.info("intake %s, retrying: %s", why, exc.orig)
                    continue
                raise
            log.debug("committed %d requests", len(batch))
            return result
        raise AssertionError("unreachable")
