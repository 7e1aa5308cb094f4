"""SQLite: the connections' setup, and a thread that copies the write-ahead log back into the
database file.

Left to SQLite, the connection whose commit finds the log past 1,000 pages copies it back (a
checkpoint, with an fsync of the database file) before that commit returns. Under a steady flow
of webhooks that was one intake batch in a few hundred waiting 5 to 60 ms more, and every
request queued behind it: the p99 of webhook answers. The intake writer's connections leave
checkpoints to this thread instead, which runs one shortly after commits. It checkpoints
PASSIVE: it neither waits for nor blocks readers and the writer, and SQLite releases the
interpreter's lock meanwhile, so the copy and its fsync run beside the intake, not inside it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)
WRITE_LOCK_WAIT = 10.0  # seconds a SQLite writer waits for another process to commit


def setup(engine: Engine, *, immediate: bool, own_checkpoints: bool = False) -> None:
    """WAL for concurrent readers; BEGIN IMMEDIATE on the writer so read-then-write never races.
    `own_checkpoints`: its commits never checkpoint; a `Checkpointer` does."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit reaches the disk before the webhook answers, so power loss loses nothing
        # acknowledged. Group commit pays this fsync once per batch, not once per request.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # A writer waits for the write lock in `_on_begin`, not in SQLite's busy handler, whose
        # naps grow to 100 ms: with a worker process writing too, they were most of a webhook's
        # answer time.
        cursor.execute(f"PRAGMA busy_timeout={1 if immediate else 10000}")
        if own_checkpoints:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    if not immediate:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

        return

    @event.listens_for(engine, "begin")
    def _on_begin_immediate(conn: Any) -> None:
        deadline = time.monotonic() + WRITE_LOCK_WAIT
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                if "locked" not in str(exc.orig) or time.monotonic() > deadline:
                    raise
            time.sleep(0.0005)  # another process writes: look again very soon


INTERVAL = 0.25  # seconds between two checkpoints while commits keep coming


class Checkpointer:
    """One thread that checkpoints a SQLite file after commits (`wake`), at most once per
    `interval`."""

    def __init__(self, path: str, interval: float = INTERVAL) -> None:
        self.path, self.interval = path, interval
        self.checkpoints = 0  # checkpoints run, for tests and curiosity
        self._due = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Something was committed: checkpoint soon."""
        self._due.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Run a last checkpoint of what is committed, then end the thread."""
        self._stopping.set()
        self._due.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stopping.is_set():
                self._due.wait()
                self._due.clear()
                connection = self._checkpoint(connection)
                self._stopping.wait(self.interval)
            connection = self._checkpoint(connection)
        finally:
            if connection is not None:
                connection.close()

    def _checkpoint(self, connection: sqlite3.Connection | None) -> sqlite3.Connection | None:
        """One PASSIVE checkpoint; the connection to use for the next (None after a failure)."""
        try:
            if connection is None:
                # timeout=0: a checkpoint that would wait for another one (the worker's) is skipped.
                connection = sqlite3.connect(
                    self.path, isolation_level=None, timeout=0, check_same_thread=False
                )
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # a full disk, say: the log grows until a checkpoint succeeds
            log.warning("checkpoint of the SQLite write-ahead log failed: %s", exc)
            if connection is not None:
                connection.close()
            return None
        self.checkpoints += 1
        return connection
