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
HAND_OVER_WAIT = 5.0  # seconds a datagram may wait for room in a busy worker's queue
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
        self._handing: list[tuple[bool, list[int]]] = []  # (quiet, ids) not yet handed over
        self._lock = threading.Lock()
        if db.is_sqlite:
            # A datagram waits for room in the worker's queue (a blocking send, on a thread of
            # its own), and ids committed meanwhile are merged into the next one.
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.settimeout(HAND_OVER_WAIT)
            self._name = socket_name(db)
            loop = self._hand_over_loop
        else:
            # NOTIFY costs a round trip: one thread sends it, and wake-ups that arrive while it
            # is on its way are folded into the next one.
            loop = self._notify_loop
        self._thread = threading.Thread(target=loop, name="wake-workers", daemon=True)
        self._thread.start()

    def submit(self, ids: Iterable[int], quiet: bool = False) -> None:
        """Committed notifications are waiting: hand them to the worker, or wake the workers
        (nothing when there are none)."""
        wanted = list(ids)
        if not wanted:
            return
        if self._socket is not None:
            with self._lock:
                self._handing.append((quiet, wanted))
        self._wanted.set()

    def _hand_over_loop(self) -> None:
        assert self._socket is not None
        while True:
            self._wanted.wait()
            if self._closed:
                return
            self._wanted.clear()
            with self._lock:
                handing, self._handing = self._handing, []
            for quiet in (False, True):  # pages first
                ids = [i for q, batch in handing if q == quiet for i in batch]
                for start in range(0, len(ids), PER_DATAGRAM):
                    text = ",".join(str(i) for i in ids[start : start + PER_DATAGRAM])
                    try:
                        self._socket.sendto((QUIET if quiet else PAGES) + text.encode(), self._name)
                    except OSError as exc:  # no worker listens: it adopts them when it starts
                        log.debug("could not hand %d notification(s) to the worker: %s", len(ids), exc)

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
        self._adopt = False  # it has just started to listen: what was handed before is its own
        if not db.is_sqlite:
            threading.Thread(target=self._listen_postgres, name="worker-alarm", daemon=True).start()
        elif not self._bind():
            log.warning(
                "another worker listens for pages on this database; this one claims them at "
                "every sweep, and listens once the other is gone"
            )
            threading.Thread(target=self._bind_later, name="worker-alarm", daemon=True).start()

    def _bind(self) -> bool:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.settimeout(1.0)
        try:
            sock.bind(socket_name(self.db))
        except OSError:
            sock.close()
            return False
        self._socket, self._adopt = sock, True
        threading.Thread(target=self._listen_socket, name="worker-alarm", daemon=True).start()
        self._event.set()  # adopt at once
        return True

    def _bind_later(self) -> None:
        while not self._stopped.wait(1.0):
            if self._bind():
                log.info("this worker now listens for the pages of this database")
                self._event.set()
                return

    def adopting(self) -> bool:
        """True once after this alarm started to listen (SQLite): the caller adopts the pages
        handed over before."""
        with self._lock:
            adopt, self._adopt = self._adopt, False
        return adopt

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
