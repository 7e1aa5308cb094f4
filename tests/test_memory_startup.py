"""What `incident-bridge serve` keeps resident: the schema is migrated in a child process (the
serving process never loads Alembic), and the worker is forked before the web's modules load and
runs only once the web process is built (broken rules stop both).

Each case runs in a fresh interpreter: they fork, and what a process has imported is the point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect

from tests.support import ROOT


def python(code: str, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "BRIDGE_DATABASE_URL": database_url, "BRIDGE_LOG_FORMAT": "json", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


MIGRATE_APART = """
import sys
from app.config import get_settings
from app.logs import configure
from app.startup import Migration
configure("info", "json")
ok = Migration(get_settings().database_url).succeeded()
print(ok, "alembic" in sys.modules, "mako" in sys.modules)
"""


def test_the_schema_is_migrated_in_a_child_that_alone_loads_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    done = python(MIGRATE_APART, url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "False"]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert [ln["message"] for ln in lines if ln["message"].startswith("database schema")]
    engine = create_engine(url)
    try:
        assert "alembic_version" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_failed_migration_is_logged_and_reported() -> None:
    done = python(MIGRATE_APART, "postgresql://postgres@127.0.0.1:1/none")  # nothing listens there
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "False"
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert any(ln["level"] == "CRITICAL" and "exception" in ln for ln in lines), done.stderr


GATED_WORKER = """
import os
from app.config import get_settings
from app.worker import WorkerProcess
worker = WorkerProcess(get_settings())
worker.fork()
pid = worker.pid
worker.stop(timeout=5)  # never released
try:
    os.kill(pid, 0)
    print("running")
except ProcessLookupError:
    print("gone")
"""


def test_a_forked_worker_never_released_ends_without_running(tmp_path: Path) -> None:
    done = python(GATED_WORKER, f"sqlite:///{tmp_path / 'bridge.db'}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["gone"]
    assert "started" not in done.stderr  # the worker never said it started


def test_serve_with_its_worker_refusing_broken_rules_leaves_no_process(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "10.yaml").write_text("rules:\n  - name: broken\n    matchers: ['model=~\"(\"']\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", "0"],
        env={
            **os.environ,
            "BRIDGE_LOG_FORMAT": "json",
            "BRIDGE_RULES_DIR": str(rules),
            "BRIDGE_RUNBOOKS_DIR": str(ROOT / "runbooks"),
            "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        },
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    lines = [json.loads(line) for line in (out + err).splitlines() if line.strip()]
    errors = [ln["message"] for ln in lines if ln["level"] == "ERROR"]
    # Said once, by the web process: the worker never ran to say it again.
    assert sum("bad regex" in m for m in errors) == 1, errors
    assert errors[-1] == "refusing to start: fix the rules (incident-bridge check-rules)"
    assert not any("incident-bridge worker" in ln["message"] for ln in lines)  # it never started


NO_CLI = """
import sys
import app.main
import app.worker
import httpx
print(sorted(m for m in ("rich", "pygments", "httpx._main") if sys.modules.get(m) is not None))
print(httpx.Client().build_request("GET", "http://127.0.0.1:1/x").url.path)
"""


def test_no_process_loads_httpx_command_line_client(tmp_path: Path) -> None:
    """rich and pygments are installed here (test tools bring them); httpx would load them."""
    done = python(NO_CLI, f"sqlite:///{tmp_path / 'bridge.db'}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "/x"]


LAZY_CLIENT = """
import gc
import httpx
from fastapi.testclient import TestClient
from app.config import Settings
from app.main import create_app
from app.startup import Migration

def clients():
    return sum(isinstance(o, httpx.Client) for o in gc.get_objects())

settings = Settings(delivery="worker", rules_dir="rules", runbooks_dir="runbooks")
assert Migration(settings.database_url).succeeded()
app = create_app(settings)
with TestClient(app) as web:
    assert web.get("/readyz").status_code == 200
    before = clients() - 1  # the test client is one
    channels = sorted(app.state.runtime.channels())
    print(before, clients() - 1, ",".join(channels))
"""


def test_a_web_process_whose_worker_sends_makes_its_http_client_only_when_needed(tmp_path: Path) -> None:
    done = python(LAZY_CLIENT, f"sqlite:///{tmp_path / 'bridge.db'}")
    assert done.returncode == 0, done.stderr
    before, after, channels = done.stdout.split()
    assert (before, after) == ("0", "1")
    assert "webhook" in channels.split(",")
