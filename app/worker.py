"""The worker process: sends pages and notices, escalates, and runs the sweeps.

`incident-bridge serve` starts one next to the web process (the second core does the sending);
`incident-bridge worker` runs one alone, for deployments that scale the two apart. Workers claim
every row before they send it, so any number of them (and replicas) send each page once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
from prometheus_client.multiprocess import mark_process_dead

from app import __version__
from app.catalog.holder import CatalogHolder
from app.catalog.loader import ConfigError
from app.communications.service import Context
from app.config import Settings
from app.db import Database
from app.flows import communications, reviews
from app.instance import service as instance
from app.paging.delivery import Dispatcher
from app.paging.jobs import start_scheduler
from app.paging.wake import Alarm

log = logging.getLogger("incident_bridge.worker")


class Worker:
    """Everything a worker holds; `run` until `stop` is set."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = CatalogHolder(settings.rules_dir, settings.runbooks_dir, counted=False)
        self.db = Database(settings.database_url)  # it sends what it writes (escalations)
        self.client = httpx.Client(
            timeout=settings.outbound_timeout_seconds,
            headers={"User-Agent": f"incident-bridge/{__version__}"},
        )
        secret = settings.secret_key.get_secret_value() if settings.secret_key is not None else None
        self.dispatcher = Dispatcher(
            self.db,
            lambda: self.catalog.current,
            settings,
            self.client,
            lambda: instance.master_keys(secret, self.db),
        )
        self.alarm = Alarm(self.db)
        self.dispatcher.on_room = self.alarm.ring
        self.stop = threading.Event()

    def reload(self) -> None:
        """Re-read the rules (the web process was told to); a failed reload keeps the last good."""
        with contextlib.suppress(ConfigError):  # logged by the holder
            self.catalog.reload()

    def run(self, parent: int | None = None) -> None:
        """Sweep whenever woken (pages committed) and at least every sweep interval."""
        settings, db, catalog = self.settings, self.db, self.catalog
        scheduler = start_scheduler(
            db,
            lambda: catalog.current,
            self.dispatcher,
            settings.escalation_interval_seconds,
            settings.sweep_interval_seconds,
            more={
                "communications": lambda: communications.sweep(
                    db, lambda: Context(catalog.current, settings.public_url), self.dispatcher.submit
                ),
                "reviews": lambda: reviews.sweep(db, lambda: catalog.current, self.dispatcher.submit),
            },
            sweep=False,  # this loop sweeps
        )
        log.info("incident-bridge worker %s started", __version__)
        swept = 0.0  # when this loop last looked at the outbox
        try:
            while not self.stop.is_set():
                self.alarm.wait(settings.sweep_interval_seconds)
                if parent is not None and os.getppid() != parent:
                    log.warning("the web process is gone; the worker stops")
                    break
                handed = self.alarm.take()
                for quiet, ids in handed:  # born claimed for this worker: sent without a write
                    self.dispatcher.submit(ids, quiet=quiet)
                # Handed pages need no sweep; retries and orphans do, at least every interval.
                if (
                    not handed
                    or not db.is_sqlite
                    or time.monotonic() - swept >= settings.sweep_interval_seconds
                ):
                    swept = time.monotonic()
                    self._sweep()
        finally:
            scheduler.shutdown(wait=True)
            self.close()

    def _sweep(self) -> None:
        try:
            while not self.stop.is_set() and self.dispatcher.sweep() > 0:
                pass
        except Exception:  # logged; the next wake-up or tick tries again, nothing is lost
            log.exception("the outbox sweep failed")

    def close(self) -> None:
        self.alarm.close()
        self.dispatcher.shutdown()
        self.client.close()
        self.db.dispose()


def run_worker(settings: Settings, parent: int | None = None, metrics_port: int | None = None) -> int:
    """The `incident-bridge worker` command: runs until SIGTERM or SIGINT (or its parent dies)."""
    try:
        worker = Worker(settings)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("%s", problem)
        return 2
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")

    def on_stop(_signum: int, _frame: object) -> None:
        worker.stop.set()
        worker.alarm.ring()

    def on_sighup(_signum: int, _frame: object) -> None:
        threading.Thread(target=worker.reload, name="rules-reload", daemon=True).start()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_sighup)
    worker.run(parent)
    return 0


class WorkerProcess:
    """The worker `incident-bridge serve` runs next to itself, restarted should it die."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "app.cli", "worker", "--parent", str(os.getpid())]
        return subprocess.Popen(command)  # our own interpreter and module

    def start(self) -> None:
        self.proc = self._spawn()
        threading.Thread(target=self._watch, name="worker-watch", daemon=True).start()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            assert self.proc is not None
            code = self.proc.wait()
            if self._stopping.wait(1.0):  # stopping, or wait a second before starting anew
                return
            log.error("the worker process exited (%s); starting a new one", code)
            with self._lock:
                if self._stopping.is_set():
                    return
                mark_process_dead(self.proc.pid)  # type: ignore[no-untyped-call]
                self.proc = self._spawn()

    def signal(self, signum: int) -> None:
        with self._lock, contextlib.suppress(ProcessLookupError):
            if self.proc is not None:
                self.proc.send_signal(signum)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM: it finishes the sends under way; SIGKILL after `timeout` seconds."""
        self._stopping.set()
        with self._lock:
            proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
