"""Group commit: webhook handlers queue their alerts, one writer thread commits them together.

Each request is answered only after the transaction holding its alerts committed, so a 2xx
always means durable; throughput rises because one commit carries many requests.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app.alerts import metrics
from app.alerts.schemas import AlertIn
from app.catalog.loader import Catalog as Config
from app.db import Database, utcnow
from app.errors import Unavailable
from app.flows.intake import IngestOutcome, ingest
from app.incidents import metrics as incident_metrics

log = logging.getLogger(__name__)
RETRIES = 3  # for conflicts with another replica: unique violations, deadlocks


@dataclass
class _Job:
    alerts: Sequence[AlertIn]
    future: asyncio.Future[list[int]]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[list[int]], result: list[int] | BaseException) -> None:
    if future.done():  # the client went away; the work is committed all the same
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01")  # serialization failure, deadlock


def publish(outcome: IngestOutcome) -> None:
    """Count what a committed batch did."""
    for (source, status), n in outcome.received.items():
        metrics.ALERTS_RECEIVED.labels(source, status).inc(n)
    for reason, n in outcome.deduplicated.items():
        metrics.ALERTS_DEDUPLICATED.labels(reason).inc(n)
    for (type_, severity), n in outcome.opened.items():
        incident_metrics.INCIDENTS_OPENED.labels(type_, severity).inc(n)
    for (type_, severity), n in outcome.reopened.items():
        incident_metrics.INCIDENTS_REOPENED.labels(type_, severity).inc(n)
    for (type_, severity), n in outcome.resolved.items():
        incident_metrics.INCIDENTS_RESOLVED.labels(type_, severity, "alerts").inc(n)
    for (type_, severity), n in outcome.unowned.items():
        incident_metrics.UNOWNED_OPENED.labels(type_, severity).inc(n)


class IntakeWriter:
    """The single writer thread of this process."""

    def __init__(
        self,
        db: Database,
        config: Callable[[], Config],
        public_url: str,
        batch_max: int = 256,
        clock: Callable[[], datetime] = utcnow,
        after_commit: Callable[[IngestOutcome], None] | None = None,
    ) -> None:
        self.db, self.config, self.public_url = db, config, public_url
        self.batch_max, self.clock, self.after_commit = batch_max, clock, after_commit
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop."""
        self._stopped = True
        self._queue.put(None)
        self._thread.join(timeout)

    async def submit(self, alerts: Sequence[AlertIn]) -> list[int]:
        """Queue one request's alerts; returns the ids of the incidents they touched."""
        if self._stopped:
            raise Unavailable("shutting down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        self._queue.put(_Job(alerts, future, loop))
        return await future

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            stop = False
            while len(batch) < self.batch_max:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._process(batch)
            if stop:
                return

    def _process(self, batch: list[_Job]) -> None:
        try:
            results: list[list[int]] | BaseException = self._commit(batch)
        except Exception as exc:  # settle every waiter, whatever happened
            results = exc
        if (
            isinstance(results, BaseException)
            and len(batch) > 1
            and not isinstance(results, (OperationalError, Unavailable))
        ):
            # One bad request must not fail its neighbours: retry them one by one.
            for job in batch:
                self._process([job])
            return
        metrics.INTAKE_BATCH_REQUESTS.observe(len(batch))
        for index, job in enumerate(batch):
            outcome: list[int] | BaseException
            if isinstance(results, BaseException):
                outcome = (
                    results
                    if isinstance(results, Unavailable)
                    else Unavailable("could not store the alerts; retry later")
                )
            else:
                outcome = results[index]
            job.loop.call_soon_threadsafe(_settle, job.future, outcome)

    def _commit(self, batch: list[_Job]) -> list[list[int]]:
        requests = [job.alerts for job in batch]
        for attempt in range(1, RETRIES + 1):
            started = time.perf_counter()
            try:
                with self.db.session(write=True) as session:
                    outcome = ingest(session, self.config(), requests, self.clock(), self.public_url)
            except DBAPIError as exc:
                if _retryable(exc) and attempt < RETRIES:
                    log.info("intake conflict with another writer, retrying: %s", exc.orig)
                    continue
                metrics.INTAKE_FAILURES.labels(type(exc).__name__).inc()
                log.error("intake batch failed: %s", exc)
                raise
            log.debug(
                "committed %d requests in %.1f ms",
                len(batch),
                (time.perf_counter() - started) * 1e3,
            )
            if self.after_commit is not None:
                try:
                    self.after_commit(outcome)
                except Exception:
                    log.exception("after-commit hook failed")
            return outcome.incident_ids
        raise AssertionError("unreachable")
