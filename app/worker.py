"""The worker process: sends pages and notices, escalates, and runs the sweeps.

`incident-bridge serve` starts one next to the web process (the second core does the sending);
`incident-bridge worker` runs one alone, for deployments that scale the two apart. Workers claim
every row before they send it, so any number of them (and replicas) send each page once.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import signal
import sys
import threading
import time

import httpx
from prometheus_client.multiprocess import mark_process_dead

from app import __version__, heap
from app.catalog.holder import CatalogHolder
from app.catalog.loader import ConfigError
from app.config import Settings
from app.db import Database
from app.flows.jobs import flow_jobs
from app.instance import service as instance
from app.metrics import heap as heap_metrics
from app.metrics import jobs as job_metrics
from app.paging.delivery import Dispatcher
from app.paging.jobs import SWEEP, start_scheduler
from app.paging.wake import Alarm

log = logging.getLogger("incident_bridge.worker")
ADOPT_MAX = 2000  # pages a starting worker adopts at once (more: they wait for their claim to end)


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
            functools.cache(lambda: instance.master_keys(secret, self.db)),  # read once, when first needed
        )
        self.dispatcher.record_later()  # sends never wait for the write lock to record the last one
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
            more=flow_jobs(db, lambda: catalog.current, settings.public_url, self.dispatcher),
            sweep=False,  # this loop sweeps
        )
        log.info("incident-bridge worker %s started", __version__)
        swept = 0.0  # when this loop last looked at the outbox
        job_metrics.known(SWEEP)
        self._sweep()
        try:
            while not self.stop.is_set():
                self.alarm.wait(settings.sweep_interval_seconds)
                if parent is not None and os.getppid() != parent:
                    log.warning("the web process is gone; the worker stops")
                    break
                if self.alarm.adopting():
                    # The one worker of this file: pages handed over before it listened are its own.
                    self._sweep(adopt=True)
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

    def _sweep(self, adopt: bool = False) -> None:
        """Sweep until nothing more is due (adopting: once, before anything is in flight)."""
        try:
            if adopt:
                self.dispatcher.sweep(limit=ADOPT_MAX, adopt=True)
            else:
                while not self.stop.is_set() and self.dispatcher.sweep() > 0:
                    pass
        except Exception:  # logged; the next wake-up or tick tries again, nothing is lost
            job_metrics.ran(SWEEP, ok=False)
            log.exception("the outbox sweep failed")
        else:
            job_metrics.ran(SWEEP, ok=True)  # this loop is the worker's sweep job
        heap_metrics.publish()  # gc's passes: counted here, never inside the collector's callback

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
    heap.keep_settled(worker.catalog.on_reload)
    worker.run(parent)
    return 0


class WorkerProcess:
    """The worker `incident-bridge serve` runs next to itself, restarted should it die.

    The first one is forked early, once the modules a worker needs are loaded and before the web
    process loads its own (FastAPI, the pages, uvicorn) or starts a thread: it shares what it
    needs (copy on write) and holds nothing it does not, and starts at once. It waits until the
    web process is built (`release`), so broken rules stop both before anything runs. One that
    replaces it is a fresh interpreter (a process with threads must not fork without exec).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid: int | None = None
        self._gate: int | None = None  # the forked worker runs once a byte arrives on this pipe
        self._watching = False
        self._stopping = threading.Event()
        self._gone = threading.Event()  # the watcher saw the last worker exit
        self._lock = threading.Lock()

    def fork(self) -> None:
        """Fork the worker now (no thread may have started); it runs once `release`d."""
        gate, self._gate = os.pipe()
        gc.freeze()  # objects made so far stay shared: the collector never writes to them
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.close(self._gate)
                # Nothing to read: the web process stopped before it served; so does this one.
                code = run_worker(self.settings, parent=os.getppid()) if os.read(gate, 1) else 0
            finally:
                os._exit(code)
        os.close(gate)
        self.pid = pid

    def release(self) -> None:
        """Let the forked worker run, and start a new one whenever it exits."""
        assert self._gate is not None
        os.write(self._gate, b"1")
        os.close(self._gate)
        self._gate = None
        self._watching = True
        threading.Thread(target=self._watch, name="worker-watch", daemon=True).start()

    def _spawn(self) -> int:
        command = [sys.executable, "-m", "app.cli", "worker", "--parent", str(os.getpid())]
        return os.posix_spawn(sys.executable, command, os.environ)

    def start(self) -> None:
        """Fork the worker and let it run; call before any thread starts."""
        self.fork()
        self.release()

    def _watch(self) -> None:
        while True:
            assert self.pid is not None
            _, status = os.waitpid(self.pid, 0)
            if self._stopping.wait(1.0):  # stopping, or wait a second before starting anew
                self._gone.set()
                return
            log.error("the worker process exited (%s); starting a new one", os.waitstatus_to_exitcode(status))
            with self._lock:
                if self._stopping.is_set():
                    self._gone.set()
                    return
                mark_process_dead(self.pid)  # type: ignore[no-untyped-call]
                self.pid = self._spawn()

    def signal(self, signum: int) -> None:
        with self._lock, contextlib.suppress(ProcessLookupError):
            if self.pid is not None:
                os.kill(self.pid, signum)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM: it finishes the sends under way; SIGKILL after `timeout` seconds."""
        self._stopping.set()
        if not self._watching:  # never released: closing the gate ends it
            if self._gate is not None:
                os.close(self._gate)
                self._gate = None
            if self.pid is not None:
                os.waitpid(self.pid, 0)
                self.pid = None
            return
        self.signal(signal.SIGTERM)
        if not self._gone.wait(timeout):
            self.signal(signal.SIGKILL)
            self._gone.wait(5.0)
