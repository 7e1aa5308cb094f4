"""The worker process: `incident-bridge serve` runs one next to the web process, and any number of
`incident-bridge worker` processes may send the pages of `serve --no-worker` replicas.

Everything here runs as real processes on a fresh database. The web process writes its pages to
the outbox and wakes the workers; the workers claim each page before they send it, so every page
reaches the receiver once, whichever process took the alert and however many workers there are.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.db import normalize_url
from app.models import Notification
from tests.e2e.conftest import RUNBOOKS_DIR, WEBHOOK_TOKEN, Bridge
from tests.paging.conftest import HttpReceiver, Received, alert_body
from tests.support import ROOT, ServerProcess, metric_value, tripwire, wait_until

pytestmark = pytest.mark.e2e

# A sweep interval longer than any wait of these tests: a page that arrives was sent because
# the web process woke the worker, not because the worker happened to sweep.
SLOW_SWEEP = {"BRIDGE_SWEEP_INTERVAL_SECONDS": "600", "BRIDGE_ESCALATION_INTERVAL_SECONDS": "600"}
PAGE_TIMEOUT = 30.0  # seconds for a page to arrive: generous for a loaded machine
GONE_TIMEOUT = 30.0  # seconds for a process to exit once it was told to (or its parent died)
QUIET_FOR = 2.0  # seconds a page that must not be sent is given to (wrongly) arrive
DELIVERED = {"channel": "webhook", "outcome": "delivered"}
INCIDENTS = 20
WORKER_STARTED = re.compile(r"incident-bridge worker \S+ started")  # logged once it listens


# --- processes, as /proc shows them ---------------------------------------------------------------


def stat(pid: int) -> tuple[str, int] | None:
    """The state letter and the parent pid of a process; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and ")"
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """Whether the process runs (an exited process nobody reaped yet does not)."""
    current = stat(pid)
    return current is not None and current[0] != "Z"


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def worker_command(parent: int) -> list[str]:
    """The arguments after the interpreter of a worker `serve` (pid `parent`) started anew."""
    return ["-m", "app.cli", "worker", "--parent", str(parent)]


def worker_children(parent: int) -> list[int]:
    """The running child processes of `parent`: a serve process has one, its worker (the
    first one forked from it, a replacement started as `python -m app.cli worker`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            current = stat(int(entry.name))
            if current is not None and current[1] == parent and current[0] != "Z":
                found.append(int(entry.name))
    return found


def is_worker_of(pid: int, parent: int) -> bool:
    """Whether `pid` runs as a worker of serve `parent` does: forked from it, or started anew."""
    command = cmdline(pid)
    return command == cmdline(parent) or command[1:] == worker_command(parent)


# --- incident-bridge serve with options, and incident-bridge worker -------------------------------


def entry_point(*arguments: str) -> list[str]:
    """The `incident-bridge` command of this virtualenv, as tests/support.py starts it."""
    script = Path(sys.executable).with_name("incident-bridge")
    return [str(script), *arguments] if script.exists() else [sys.executable, "-m", "app.cli", *arguments]


def environment(settings: Mapping[str, str]) -> dict[str, str]:
    """The environment BridgeProcess.start gives `serve`: none of ours, this checkout, no egress."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update(tripwire().environment())
    env["BRIDGE_WEBHOOK_TOKEN"] = WEBHOOK_TOKEN
    env.update(settings)
    return env


class Serve(Bridge):
    """`incident-bridge serve` with extra command-line options (`--no-worker`, `--inline`)."""

    def __init__(self, workdir: Path, name: str, options: list[str]) -> None:
        super().__init__(workdir, name, token=WEBHOOK_TOKEN)
        self.options = options

    def launch(self, command: list[str], env: Mapping[str, str] | None = None) -> None:
        super().launch([*command, *self.options], env)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def fire(self, body: dict[str, Any]) -> int:
        """POST one webhook; the id of the one incident it touched."""
        response = self.post_webhook(body)
        assert response.status_code == 200, response.text
        (incident_id,) = response.json()["incidents"]
        assert isinstance(incident_id, int)
        return incident_id


class WorkerProcess(ServerProcess):
    """`incident-bridge worker --metrics-port N`: ready once its /metrics answers."""

    ready_path = "/metrics"

    def __init__(self, workdir: Path, name: str) -> None:
        super().__init__(workdir, name, f"incident-bridge {name}")

    def start(self, settings: Mapping[str, str], wait: bool = True) -> WorkerProcess:
        self.launch(entry_point("worker", "--metrics-port", str(self.port)), environment(settings))
        if wait:
            self.wait_ready()
        return self

    def metric(self, sample: str, **labels: str) -> float:
        response = self.http.get("/metrics")
        assert response.status_code == 200, response.text
        return metric_value(response.text, sample, **labels)


class Launcher:
    """Starts the processes of one test and stops them all after it (workers serve left behind too)."""

    def __init__(self, workdir: Path, rules_dir: Path, receiver: HttpReceiver) -> None:
        self.workdir = workdir
        self.rules_dir = rules_dir
        self.receiver = receiver
        self.started: list[ServerProcess] = []
        self.children: dict[int, list[str]] = {}  # workers serve processes started: their command

    def settings(self, database_url: str, public_url: str, extra: Mapping[str, str]) -> dict[str, str]:
        return {
            "BRIDGE_DATABASE_URL": database_url,
            "BRIDGE_RULES_DIR": str(self.rules_dir),
            "BRIDGE_PAGERDUTY_EVENTS_URL": f"{self.receiver.url}/pagerduty",
            "BRIDGE_RUNBOOKS_DIR": str(RUNBOOKS_DIR),
            "BRIDGE_LOG_LEVEL": "info",  # the worker says when it started
            "BRIDGE_PUBLIC_URL": public_url,
            **extra,
        }

    def serve(
        self, database_url: str, *options: str, env: Mapping[str, str] | None = None, wait: bool = True
    ) -> Serve:
        process = Serve(self.workdir, f"serve-{len(self.started) + 1}", list(options))
        self.started.append(process)
        process.start(self.settings(database_url, process.url, env or {}), wait)
        return process

    def worker(
        self, database_url: str, env: Mapping[str, str] | None = None, wait: bool = True
    ) -> WorkerProcess:
        process = WorkerProcess(self.workdir, f"worker-{len(self.started) + 1}")
        self.started.append(process)
        return process.start(self.settings(database_url, "http://bridge.test", env or {}), wait)

    def worker_of(self, serve: Serve, other_than: int | None = None) -> int:
        """The pid of the worker `serve` runs (a new one, when `other_than` is the old one's), once
        it listens for wake-ups.

        A worker sweeps when woken and every sweep interval; on SQLite, a page committed while it
        was still starting woke nobody, so the tests that rely on wake-ups wait for it to listen.
        """

        def found() -> int | None:
            pids = [pid for pid in worker_children(serve.pid) if pid != other_than]
            assert len(pids) <= 1, f"serve runs several child processes: {[cmdline(p) for p in pids]}"
            return pids[0] if pids else None

        pid = wait_until(found, timeout=PAGE_TIMEOUT, what=f"a worker process of serve (pid {serve.pid})")
        assert pid is not None
        self.children[pid] = cmdline(pid)
        assert is_worker_of(pid, serve.pid), cmdline(pid)
        starts = 1 if other_than is None else 2
        wait_until(
            lambda: len(WORKER_STARTED.findall(serve.output(limit=10**7))) >= starts,
            timeout=PAGE_TIMEOUT,
            what=f"worker {pid} listening (its 'started' line in the log)",
        )
        return pid

    def close(self) -> None:
        for process in reversed(self.started):
            output = process.stop()
            sys.stderr.write(f"--- {process.name} output ---\n{output}\n")  # shown when the test failed
        for pid, command in self.children.items():  # a worker its serve left behind: ours to end
            if alive(pid) and cmdline(pid) == command:
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def launcher(
    tmp_path: Path, fresh_database: Callable[[str], str], e2e_rules_dir: Path, receiver: HttpReceiver
) -> Iterator[Launcher]:
    """Depends on `fresh_database` so that the processes stop before their databases are dropped."""
    started = Launcher(tmp_path, e2e_rules_dir, receiver)
    yield started
    started.close()


# --- reading the outbox and the receiver ----------------------------------------------------------
#
# Besides alice's pages, the shipped communication protocol sends notices (to bob, by webhook and
# Slack), and alice's email page, with no SMTP server here, fails over to the team's webhook:
# every one of them goes through the outbox and the workers too.


def outbox(database_url: str) -> list[Notification]:
    engine = create_engine(normalize_url(database_url))
    try:
        with Session(engine) as session:
            return list(session.scalars(select(Notification).order_by(Notification.id)))
    finally:
        engine.dispose()


def settled(database_url: str, incidents: int) -> list[Notification] | None:
    """The outbox once the pages of `incidents` incidents are in and nothing waits to be sent."""
    rows = outbox(database_url)
    if len({r.incident_id for r in rows}) < incidents or any(
        r.status in ("pending", "sending") for r in rows
    ):
        return None
    return rows


def wait_settled(database_url: str, incidents: int, timeout: float = PAGE_TIMEOUT) -> list[Notification]:
    try:
        rows = wait_until(
            lambda: settled(database_url, incidents),
            timeout=timeout,
            what="every notification sent or given up",
        )
    except pytest.fail.Exception:
        waiting = [
            (r.id, r.incident_id, r.recipient, r.channel, r.kind, r.status, r.attempts, r.last_error)
            for r in outbox(database_url)
            if r.status in ("pending", "sending")
        ]
        pytest.fail(f"the outbox did not settle in {timeout:.0f}s; still waiting: {waiting}")
    assert rows is not None
    return rows


def alice_pages(rows: list[Notification]) -> list[Notification]:
    return [r for r in rows if (r.recipient, r.channel, r.kind) == ("alice", "webhook", "page")]


def pages_at(receiver: HttpReceiver, path: str = "/alice") -> list[Received]:
    return [r for r in receiver.at(path) if r.json.get("event") == "page"]


def delivered_webhooks(rows: list[Notification]) -> int:
    return sum(1 for r in rows if r.channel == "webhook" and r.status == "delivered")


def assert_sent_once(rows: list[Notification], receiver: HttpReceiver) -> None:
    """Every notification recorded delivered reached the receiver once; nothing else did."""
    requests = receiver.at()
    by_delivery = Counter(r.delivery_id for r in requests if r.delivery_id is not None)
    webhooks = [r for r in rows if r.channel == "webhook" and r.status == "delivered"]
    assert by_delivery == Counter(r.delivery_id for r in webhooks), (by_delivery, webhooks)
    slack = [r for r in requests if r.path.startswith("/slack/")]
    assert len(slack) == sum(1 for r in rows if r.channel == "slack" and r.status == "delivered")
    pagerduty = [r for r in requests if r.path == "/pagerduty"]
    assert len(pagerduty) == sum(1 for r in rows if r.channel == "pagerduty" and r.status == "delivered")
    assert len(requests) == len(by_delivery) + len(slack) + len(pagerduty), [r.path for r in requests]


def assert_waiting_for_a_worker(rows: list[Notification], database_url: str) -> None:
    """Written, not sent: pending for any worker to claim (PostgreSQL), or born claimed for the
    one worker their ids were handed to (SQLite)."""
    assert rows
    if normalize_url(database_url).get_backend_name() == "sqlite":
        assert {(r.status, r.attempts) for r in rows} == {("sending", 1)}
    else:
        assert {(r.status, r.attempts, r.claimed_until) for r in rows} == {("pending", 0, None)}
    assert all(r.delivered_at is None for r in rows)


def fraud_alert(alertname: str = "ModelAccuracyDrop") -> dict[str, Any]:
    """An alert for fraud-scorer, a model its owner alice (on call, too) is paged for."""
    return alert_body(alertname=alertname, model="fraud-scorer", severity="critical")


def delivered_count(process: Bridge | WorkerProcess) -> float:
    return process.metric("bridge_notifications_total", **DELIVERED)


def wait_counted(process: Bridge | WorkerProcess, expected: int) -> None:
    """Its /metrics counts `expected` webhook deliveries (counted just after they are recorded)."""
    wait_until(
        lambda: delivered_count(process) >= expected,
        timeout=PAGE_TIMEOUT,
        what=f"{expected} webhook deliveries counted at /metrics of {process.name}",
    )
    assert delivered_count(process) == expected


def page_once(bridge: Serve, receiver: HttpReceiver, database_url: str, body: dict[str, Any]) -> int:
    """Fire `body` at `bridge`; wait until alice's page for it arrived and everything is sent.
    Returns the incident id."""
    incident_id = bridge.fire(body)

    def arrived() -> list[Received]:
        return [h for h in pages_at(receiver) if h.json["incident"]["id"] == incident_id]

    (hook,) = wait_until(arrived, timeout=PAGE_TIMEOUT, what=f"alice's page for incident {incident_id}")
    rows = wait_settled(database_url, len({r.incident_id for r in outbox(database_url)}))
    (page,) = alice_pages([r for r in rows if r.incident_id == incident_id])
    assert (page.status, page.delivery_id) == ("delivered", hook.delivery_id)
    assert_sent_once(rows, receiver)
    return incident_id


# --- serve and the worker it runs -----------------------------------------------------------------


def test_serve_runs_a_worker_that_sends_the_pages(
    launcher: Launcher, receiver: HttpReceiver, e2e_database_url: str
) -> None:
    bridge = launcher.serve(e2e_database_url, env=SLOW_SWEEP)
    worker = launcher.worker_of(bridge)  # forked from serve

    incident_id = page_once(bridge, receiver, e2e_database_url, fraud_alert())
    assert bridge.incident(incident_id)["owner"] == "alice"

    # The web process's /metrics counts what its worker sent.
    wait_counted(bridge, delivered_webhooks(outbox(e2e_database_url)))

    # The worker sends, not the web process: while it is stopped, a new page waits in the outbox.
    before = len(receiver.at())
    os.kill(worker, signal.SIGSTOP)
    try:
        second = bridge.fire(fraud_alert("ModelServingErrors"))
        with pytest.raises(AssertionError):
            receiver.wait_for(before + 1, timeout=QUIET_FOR)
        rows = [r for r in outbox(e2e_database_url) if r.incident_id == second]
        assert len(alice_pages(rows)) == 1
        assert_waiting_for_a_worker(rows, e2e_database_url)
    finally:
        os.kill(worker, signal.SIGCONT)
    wait_until(lambda: [h for h in pages_at(receiver) if h.json["incident"]["id"] == second], what="page 2")
    rows = wait_settled(e2e_database_url, 2)
    assert_sent_once(rows, receiver)
    assert len(pages_at(receiver)) == 2
    wait_counted(bridge, delivered_webhooks(rows))


def test_a_worker_that_dies_is_replaced_and_reloads_with_serve(
    launcher: Launcher, receiver: HttpReceiver, e2e_rules_dir: Path, fresh_database: Callable[[str], str]
) -> None:
    """A new worker takes over; SIGHUP to serve reaches it too.

    Pages store a digest of the contact, resolved from the worker's own copy of the on-call file:
    a page to a contact changed by the reload reaches it only if the worker reloaded too.
    """
    database_url = fresh_database("sqlite")
    bridge = launcher.serve(database_url, env=SLOW_SWEEP)
    first = launcher.worker_of(bridge)
    page_once(bridge, receiver, database_url, fraud_alert())
    counted = delivered_webhooks(outbox(database_url))
    wait_counted(bridge, counted)

    os.kill(first, signal.SIGKILL)
    second = launcher.worker_of(bridge, other_than=first)  # started: it read the rules
    assert second != first
    wait_until(lambda: not alive(first), timeout=GONE_TIMEOUT, what="the killed worker gone")
    assert cmdline(second)[1:] == worker_command(bridge.pid)  # a fresh interpreter, not a fork

    page_once(bridge, receiver, database_url, fraud_alert("ModelServingErrors"))
    assert bridge.running()
    assert len(pages_at(receiver)) == 2
    # What the dead worker counted still counts: the total does not go back.
    total = delivered_webhooks(outbox(database_url))
    assert total > counted
    wait_counted(bridge, total)

    # alice's webhook moves; serve reloads on SIGHUP and has its (new) worker reload too.
    oncall = e2e_rules_dir / "oncall.yaml"
    before = oncall.read_text()
    assert before.count(f"{receiver.url}/alice}}") == 1
    oncall.write_text(before.replace(f"{receiver.url}/alice}}", f"{receiver.url}/alice-moved}}"))
    reloads = re.compile(r"rules reloaded")
    assert not reloads.search(bridge.output(limit=10**7))
    os.kill(bridge.pid, signal.SIGHUP)
    wait_until(
        lambda: len(reloads.findall(bridge.output(limit=10**7))) >= 2,
        timeout=PAGE_TIMEOUT,
        what="the web process and its worker both logging their reload",
    )

    incident_id = bridge.fire(fraud_alert("PredictionDrift"))
    wait_until(
        lambda: pages_at(receiver, "/alice-moved"), timeout=PAGE_TIMEOUT, what="the page at the new URL"
    )
    rows = wait_settled(database_url, 3)
    (page,) = alice_pages([r for r in rows if r.incident_id == incident_id])
    assert page.status == "delivered"
    assert [h.delivery_id for h in pages_at(receiver, "/alice-moved")] == [page.delivery_id]
    assert len(pages_at(receiver)) == 2  # none to the old URL
    assert_sent_once(rows, receiver)


# --- replicas and workers scaled apart --------------------------------------------------------------


def test_two_replicas_and_two_workers_send_every_page_once(
    launcher: Launcher, receiver: HttpReceiver, pg_database_url: str
) -> None:
    replicas = [launcher.serve(pg_database_url, "--no-worker", env=SLOW_SWEEP)]  # migrates the database
    replicas.append(launcher.serve(pg_database_url, "--no-worker", env=SLOW_SWEEP, wait=False))
    workers = [launcher.worker(pg_database_url, SLOW_SWEEP, wait=False) for _ in range(2)]
    for process in [replicas[1], *workers]:
        process.wait_ready()
    assert all(worker_children(r.pid) == [] for r in replicas)  # --no-worker: they start none

    barrier = threading.Barrier(INCIDENTS)

    def open_incident(i: int) -> int:
        body = alert_body(model=f"worker-model-{i:02d}", severity="critical")
        replica = replicas[i % 2]
        with httpx.Client(base_url=replica.url, timeout=60) as client:
            barrier.wait(30)
            response = client.post(
                "/webhooks/alertmanager",
                content=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {WEBHOOK_TOKEN}"},
            )
        assert response.status_code == 200, response.text
        (incident_id,) = response.json()["incidents"]
        assert isinstance(incident_id, int)
        return incident_id

    with ThreadPoolExecutor(INCIDENTS) as pool:
        opened = list(pool.map(open_incident, range(INCIDENTS)))
    assert len(set(opened)) == INCIDENTS

    rows = wait_settled(pg_database_url, INCIDENTS, timeout=60)
    pages = alice_pages(rows)
    assert sorted(r.incident_id for r in pages) == sorted(opened)
    assert all((r.status, r.attempts) == ("delivered", 1) for r in pages), pages
    # Every page and notice arrived once (one request per delivery id), none twice.
    assert_sent_once(rows, receiver)
    assert sorted(h.json["incident"]["id"] for h in pages_at(receiver)) == sorted(opened)

    # The workers counted them (each at its own /metrics); the replicas sent nothing themselves.
    per_worker = [delivered_count(worker) for worker in workers]
    print(f"webhook notifications delivered per worker: {per_worker}")
    assert sum(per_worker) == delivered_webhooks(rows)
    assert [delivered_count(replica) for replica in replicas] == [0, 0]


def test_pages_wait_in_the_outbox_until_a_worker_runs(
    launcher: Launcher, receiver: HttpReceiver, e2e_database_url: str
) -> None:
    """A worker that starts later finds them: on PostgreSQL they wait unclaimed; on SQLite they
    were born claimed for a worker that was not listening, and the worker adopts them."""
    bridge = launcher.serve(e2e_database_url, "--no-worker")
    assert worker_children(bridge.pid) == []

    incident_id = bridge.fire(fraud_alert())  # answered once stored
    assert bridge.incident(incident_id)["status"] == "triggered"
    with pytest.raises(AssertionError):
        receiver.wait_for(1, timeout=QUIET_FOR)
    rows = outbox(e2e_database_url)
    assert sorted((r.channel, r.kind) for r in rows if r.recipient == "alice") == [
        ("email", "page"),
        ("webhook", "page"),
    ]
    assert_waiting_for_a_worker(rows, e2e_database_url)

    worker = launcher.worker(e2e_database_url)
    # Well within a claim's 60 seconds: on SQLite the worker did not wait for it to run out.
    (hook,) = wait_until(lambda: pages_at(receiver), timeout=PAGE_TIMEOUT, what="alice's page")
    assert hook.json["incident"]["id"] == incident_id
    rows = wait_settled(e2e_database_url, 1)
    (page,) = alice_pages(rows)
    assert (page.status, page.delivery_id) == ("delivered", hook.delivery_id)
    assert_sent_once(rows, receiver)
    wait_counted(worker, delivered_webhooks(rows))
    assert delivered_count(bridge) == 0


# --- stopping ---------------------------------------------------------------------------------------


def test_stopping_serve_stops_its_worker(launcher: Launcher, fresh_database: Callable[[str], str]) -> None:
    bridge = launcher.serve(fresh_database("sqlite"), env={"BRIDGE_SWEEP_INTERVAL_SECONDS": "1"})
    worker = launcher.worker_of(bridge)

    bridge.stop()  # SIGTERM

    assert bridge.returncode in (0, -signal.SIGTERM), bridge.output()
    wait_until(lambda: not alive(worker), timeout=GONE_TIMEOUT, what=f"worker {worker} gone")


def test_serve_stops_its_worker_before_it_exits(
    launcher: Launcher, fresh_database: Callable[[str], str]
) -> None:
    """SIGTERM to serve: the worker finishes its sends and exits, then serve does."""
    bridge = launcher.serve(fresh_database("sqlite"), env=SLOW_SWEEP)
    worker = launcher.worker_of(bridge)

    bridge.stop()  # SIGTERM, and wait for serve to exit

    assert not alive(worker), f"worker {worker} still runs after serve exited: {stat(worker)}"


def test_serve_restarted_on_a_sqlite_file_pages_at_once(
    launcher: Launcher, receiver: HttpReceiver, fresh_database: Callable[[str], str]
) -> None:
    """A restart (a deploy, systemd) stops serve and starts it again on the same file."""
    database_url = fresh_database("sqlite")
    first = launcher.serve(database_url, env=SLOW_SWEEP)
    launcher.worker_of(first)
    first.stop()  # SIGTERM

    second = launcher.serve(database_url, env=SLOW_SWEEP)
    launcher.worker_of(second)
    incident_id = second.fire(fraud_alert())

    # Generous, and well within a claim's 60 seconds.
    (hook,) = receiver.wait_for(1, "/alice", timeout=PAGE_TIMEOUT / 2)
    assert hook.json["incident"]["id"] == incident_id


def test_a_worker_whose_serve_was_killed_exits(
    launcher: Launcher, fresh_database: Callable[[str], str]
) -> None:
    bridge = launcher.serve(fresh_database("sqlite"), env={"BRIDGE_SWEEP_INTERVAL_SECONDS": "1"})
    worker = launcher.worker_of(bridge)
    assert bridge.proc is not None

    bridge.proc.kill()  # SIGKILL: serve cannot stop its worker
    bridge.proc.wait(GONE_TIMEOUT)

    wait_until(lambda: not alive(worker), timeout=GONE_TIMEOUT, what=f"orphaned worker {worker} gone")
