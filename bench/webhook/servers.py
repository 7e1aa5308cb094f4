"""The processes under test: the parse-only app, `incident-bridge serve` and the notification sink.

Every server runs in its own process group (so it and the processes it starts are stopped
together), logs to a file in the run's temporary directory and is stopped at the end, also on
error or Ctrl-C. Both HTTP servers run uvicorn with one worker, uvloop and httptools, log level
warning, no access log.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from .common import BIN, HOST, MIB, PACKAGE_DIR, ROOT, progress
from .loopback import loopback_settings, prepare_rules

# The big-body scenario posts bodies far above the service's default limit (4 MiB).
MAX_BODY_BYTES = 64 * MIB
_serial = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A server under test, in its own process group, logging to a file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.name, self.cmd, self.env, self.port, self.log = name, cmd, env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 120.0) -> float:
        """Start and wait until /readyz answers 200; returns the seconds that took."""
        started = time.monotonic()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                cwd=self.log.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = started + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                self.check_alive()
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.base_url}/readyz").status_code == 200:
                        return time.monotonic() - started
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s\n{self.log_tail()}")

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def server_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(
        {
            "BRIDGE_RULES_DIR": str(ROOT / "rules"),  # start_bridge passes its loopback copy
            "BRIDGE_RUNBOOKS_DIR": str(ROOT / "runbooks"),
            "BRIDGE_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


UVICORN_FLAGS = ["--log-level", "warning", "--no-access-log", "--loop", "auto", "--http", "auto"]


def start_parse_only(tmp: Path, servers: list[Server]) -> Server:
    port = free_port()
    cmd = [str(BIN / "python"), "-m", "uvicorn", "parse_only_app:app", "--app-dir", str(PACKAGE_DIR)]
    cmd += ["--host", HOST, "--port", str(port), *UVICORN_FLAGS]
    server = Server("parse-only", cmd, server_env({}), port, tmp / f"parse-only-{next(_serial)}.log")
    servers.append(server)
    progress(f"starting parse-only on port {port}")
    server.start()
    return server


@dataclass
class Bridge:
    """`incident-bridge serve` on one database, with the sink its pages go to (None: no paging)."""

    db: str  # sqlite or postgresql
    server: Server
    sink: Server | None
    startup_seconds: float = 0.0

    @property
    def sink_url(self) -> str | None:
        return self.sink.base_url if self.sink else None

    def stop(self) -> None:
        self.server.stop()
        if self.sink:
            self.sink.stop()


def start_sink(tmp: Path, servers: list[Server]) -> tuple[Server, int]:
    http_port, smtp_port = free_port(), free_port()
    cmd = [str(BIN / "python"), str(PACKAGE_DIR / "notification_sink.py")]
    cmd += ["--http-port", str(http_port), "--smtp-port", str(smtp_port)]
    log = tmp / f"notification-sink-{next(_serial)}.log"
    sink = Server("notification-sink", cmd, {**os.environ}, http_port, log)
    servers.append(sink)
    sink.start()
    return sink, smtp_port


def start_bridge(
    db: str,
    database_url: str,
    tmp: Path,
    servers: list[Server],
    paging: bool,
    purpose: str,
    serve_args: Sequence[str] = (),
) -> Bridge:
    """Start the service on `database_url` (migrated at start-up by `serve` itself); `serve_args`:
    more options of `incident-bridge serve` (`--inline`)."""
    serial = next(_serial)
    sink, smtp_port = start_sink(tmp, servers) if paging else (None, None)
    sink_url = sink.base_url if sink else None
    rules = tmp / f"rules-{serial}"
    redirected = prepare_rules(rules, sink_url)
    env = {
        "BRIDGE_DATABASE_URL": database_url,
        "BRIDGE_RULES_DIR": str(rules),
        "BRIDGE_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    }
    env.update(loopback_settings(sink_url, smtp_port))
    port = free_port()
    name = f"bridge-{db}"
    cmd = [str(BIN / "incident-bridge"), "serve", "--host", HOST, "--port", str(port), *serve_args]
    server = Server(name, cmd, server_env(env), port, tmp / f"{name}-{purpose}-{serial}.log")
    servers.append(server)
    where = f"pages go to a local sink, {redirected} URL(s) redirected" if sink else "no paging"
    progress(f"starting {name} for {purpose} on port {port} ({where})")
    bridge = Bridge(db, server, sink)
    try:
        bridge.startup_seconds = server.start()
    except BaseException:
        bridge.stop()
        raise
    return bridge


def scrape(base_url: str) -> dict[str, float]:
    """The intake series of the service's /metrics, summed over labels where noted."""
    text = httpx.get(f"{base_url}/metrics", timeout=60).text
    out: defaultdict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        if name.startswith("bridge_alerts_received_total"):
            out["alerts"] += float(value)
        elif name == "bridge_intake_batch_requests_sum":
            out["batch_sum"] = float(value)
        elif name == "bridge_intake_batch_requests_count":
            out["batch_count"] = float(value)
        elif name.startswith("bridge_webhook_requests_total{"):
            code = re.search(r'code="(\d+)"', name)
            if code:
                out[f"code_{code.group(1)}"] += float(value)
    return dict(out)
