"""Job health: every scheduled job counts its runs by outcome and the time of its last success,
from before its first run ends; a job that raises counts as a failure and keeps its schedule."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.paging.jobs import start_scheduler
from tests.metrics.conftest import find, one
from tests.paging.conftest import oncall_yaml
from tests.support import wait_until

TICK = 0.05  # seconds between runs: many runs in a short test


def runs(text: str, job: str, outcome: str) -> float:
    """Runs so far (0 when the series is not there: counters belong to the test process)."""
    return sum(find(text, "bridge_job_runs_total", job_name=job, outcome=outcome))


def last_success(text: str, job: str) -> float:
    return one(text, "bridge_job_last_success_timestamp_seconds", job_name=job)


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def test_runs_and_failures_are_counted_per_job(settings: Settings, rules_dir: Path) -> None:
    (rules_dir / "oncall.yaml").write_text(oncall_yaml("http://127.0.0.1:9"))  # two steps; nobody is paged
    failing, fine = unique("failing"), unique("fine")

    def explode() -> int:
        raise RuntimeError("this job always fails")

    with TestClient(create_app(settings)) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        before = client.get("/metrics").text
        started = time.time()
        scheduler = start_scheduler(
            runtime.db,
            lambda: runtime.catalog.current,
            runtime.dispatcher,
            TICK,
            TICK,
            more={failing: explode, fine: lambda: 0},
        )
        try:
            wait_until(
                lambda: (
                    runs(text := client.get("/metrics").text, failing, "failure") >= 3
                    and runs(text, fine, "success") >= 3
                    and runs(text, "escalation", "success") > runs(before, "escalation", "success")
                    and runs(text, "sweep", "success") > runs(before, "sweep", "success")
                ),
                what="every job to run, the failing one three times",
            )
        finally:
            scheduler.shutdown(wait=True)
        ended = time.time()
        text = client.get("/metrics").text

    assert one(text, "bridge_job_runs_total", job_name=failing, outcome="success") == 0
    assert last_success(text, failing) == 0  # never succeeded: an alert on its age fires
    assert one(text, "bridge_job_runs_total", job_name=fine, outcome="failure") == 0
    assert started <= last_success(text, fine) <= ended
    for job in ("escalation", "sweep"):
        assert runs(text, job, "failure") == runs(before, job, "failure")
        assert started <= last_success(text, job) <= ended
    # The escalation job made a series for each step of the policies in force (two at most here).
    assert find(text, "bridge_escalations_total", step="1") and find(
        text, "bridge_escalations_total", step="2"
    )
    assert not find(text, "bridge_escalations_total", step="3")


def test_a_job_has_its_series_before_its_first_run_ends(client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    job = unique("slow")
    assert not find(client.get("/metrics").text, "bridge_job_runs_total", job_name=job)
    running, finish = threading.Event(), threading.Event()

    def slow() -> int:
        running.set()
        finish.wait(10)
        return 0

    scheduler = start_scheduler(
        runtime.db, lambda: runtime.catalog.current, runtime.dispatcher, 3600, 3600, more={job: slow}
    )
    try:
        assert running.wait(10)
        text = client.get("/metrics").text
        assert one(text, "bridge_job_runs_total", job_name=job, outcome="success") == 0
        assert one(text, "bridge_job_runs_total", job_name=job, outcome="failure") == 0
        assert last_success(text, job) == 0
        finish.set()
        wait_until(lambda: runs(client.get("/metrics").text, job, "success") == 1, what="the run to end")
        assert last_success(client.get("/metrics").text, job) > 0
    finally:
        finish.set()
        scheduler.shutdown(wait=True)
