"""Waking the worker: a process that commits pages tells the workers to send them now.

On SQLite (one machine, one worker) the pages are born claimed and their ids are handed to the
worker in a datagram on an abstract Unix socket named after the database file: it sends them
without a write first, so a page never waits for the database's one write lock. On PostgreSQL a
NOTIFY on a channel every worker LISTENs to, wherever it runs, wakes them to claim what is due.
Both are hints, never the record: the pages are rows already. A worker that missed a wake-up
claims them at its next sweep (BRIDGE_SWEEP_INTERVAL_SECONDS), or once their claim ran out.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import threading
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import text

from app.db import Database

log = logging.getLogger(__name__)
CHANNEL = "incident_bridge_outbox"  # the PostgreSQL NOTIFY channel
PER_DATAGRAM = 1000  # ids in one datagram
PAGES, QUIET = b"p", b"q"  # a datagram's first byte: pages first, or notices behind them


def socket_name(db: Database) -> bytes:
    """The abstract socket of the workers of this SQLite file (no file, no length limit)."""
    path = str(Path(db.engine.url.database or ":memory:").resolve())
    return b"\0incident-bridge-" + hashlib.sha256(path.encode()).hexdigest()[:24].encode()


def _libpq_url(db: Database) -> str:
    """The database URL as libpq reads it (no SQLAlchemy driver suffix)."""
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class Waker:
    """What the web process hands committed notification ids to when a worker sends them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._wanted = threading.Event()
        self._closed = False
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        if db.is_sqlite:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
            self._name = socket_name(db)
        else:
            # NOTIFY costs a round trip: one thread sends it, and wake-ups that arrive while it
            # is on its way are folded into the next one.
            self._thread = threading.Thread(target=self._notify_loop, name="wake-workers", daemon=True)
            self._thread.start()

    def submit(self, ids: Iterable[int], quiet: bool = False) -> None:
        """Committed notifications are waiting: hand them to the worker, or wake the workers
        (nothing when there are none)."""
        wanted = list(ids)
        if not wanted:
            return
        if self._socket is None:
            self._wanted.set()
            return
        kind = QUIET if quiet else PAGES
        for start in range(0, len(wanted), PER_DATAGRAM):
            text = ",".join(str(i) for i in wanted[start : start + PER_DATAGRAM])
            with contextlib.suppress(OSError):  # no worker listening: the sweep sends them
                self._socket.sendto(kind + text.encode(), self._name)

    def wake(self) -> None:
        """Wake the workers to look at the outbox (hands nothing over)."""
        if self._socket is None:
            self._wanted.set()
            return
        with contextlib.suppress(OSError):
            self._socket.sendto(PAGES, self._name)

    def _notify_loop(self) -> None:
        while True:
            self._wanted.wait()
            if self._closed:
                return
            self._wanted.clear()
            try:
                with self.db.engine.connect() as conn:
                    conn.execute(text(f"NOTIFY {CHANNEL}"))
                    conn.commit()
            except Exception as exc:  # the worker's sweep sends the pages all the same
                log.warning("could not wake the workers (NOTIFY): %s", exc)

    def close(self) -> None:
        self._closed = True
        self._wanted.set()
        if self._socket is not None:
            self._socket.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class Alarm:
    """The worker's side: `wait` returns when woken, or after `timeout` seconds."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._event = threading.Event()
        self._stopped = threading.Event()
        self._handed: list[tuple[bool, list[int]]] = []  # (quiet, ids) not yet taken
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        target = self._listen_socket if db.is_sqlite else self._listen_postgres
        if db.is_sqlite:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.settimeout(1.0)
            try:
                self._socket.bind(socket_name(db))
            except OSError:
                log.warning(
                    "another worker already listens for pages on this database; this one "
                    "claims them at every sweep instead"
                )
                self._socket.close()
                self._socket = None
        if self._socket is not None or not db.is_sqlite:
            threading.Thread(target=target, name="worker-alarm", daemon=True).start()

    @property
    def listening(self) -> bool:
        """Whether pages are handed to this alarm (SQLite: it holds the socket)."""
        return self._socket is not None

    def wait(self, timeout: float) -> bool:
        """Wait for a wake-up; True when woken, False on timeout."""
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken

    def take(self) -> list[tuple[bool, list[int]]]:
        """The notifications handed over since the last call: (quiet, ids), in order."""
        with self._lock:
            handed, self._handed = self._handed, []
        return handed

    def ring(self) -> None:
        """Wake the waiting loop from this process (stop, reload)."""
        self._event.set()

    def _listen_socket(self) -> None:
        assert self._socket is not None
        while not self._stopped.is_set():
            try:
                message = self._socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            try:
                ids = [int(i) for i in message[1:].split(b",")] if len(message) > 1 else []
            except ValueError:  # not ours: a sweep looks at the outbox all the same
                ids = []
            if ids:
                with self._lock:
                    self._handed.append((message[:1] == QUIET, ids))
            self._event.set()

    def _listen_postgres(self) -> None:
        import psycopg  # only PostgreSQL deployments load the driver

        while not self._stopped.is_set():
            try:
                with psycopg.connect(_libpq_url(self.db), autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._event.set()  # anything committed while we were not listening
                    while not self._stopped.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._event.set()
            except Exception as exc:  # the database went away: listen again once it is back
                if self._stopped.is_set():
                    return
                log.warning("lost the page wake-ups (LISTEN), listening again in 1 s: %s", exc)
                self._stopped.wait(1.0)

    def close(self) -> None:
        self._stopped.set()
        self._event.set()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
            self._socket.close()
