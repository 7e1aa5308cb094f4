"""Labelled series exist at 0 before their first event, and gauges computed from the database
read 0 when it holds nothing: rate() and increase() see the first event, an alert on a count
that fell to nothing resolves, a dashboard shows 0 instead of "no data"."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from fastapi.testclient import TestClient

from app.config import Settings
from tests.metrics.conftest import (
    CHANNELS,
    KINDS,
    expected_database_zeros,
    expected_zero_series,
    find,
    key,
    one,
    samples,
    series,
)
from tests.support import BridgeProcess, wait_until

JOBS = ("escalation", "sweep", "communications", "reviews")  # a serve worker runs at least these
BUILD = {
    "version": metadata.version("incident-bridge"),
    "python_version": platform.python_version(),
    "python_implementation": platform.python_implementation(),
}


def test_every_labelled_series_exists_on_a_fresh_app(client: TestClient) -> None:
    text = client.get("/metrics").text
    exported = series(text)
    # Counters are the test process's own: they exist; their values depend on earlier tests.
    assert [
        (name, labels) for name, labels in expected_zero_series() if key(name, labels) not in exported
    ] == []
    # A histogram has every bucket of every (type, severity), not only its count.
    for kind in KINDS:
        assert len(find(text, "bridge_time_to_acknowledge_seconds_bucket", **kind)) == 13


def test_database_gauges_read_zero_on_an_empty_database(client: TestClient) -> None:
    text = client.get("/metrics").text
    exported = series(text)
    wrong = {
        key(name, labels): exported.get(key(name, labels))
        for name, labels in expected_database_zeros()
        if exported.get(key(name, labels)) != [0.0]
    }
    assert wrong == {}
    for kind in KINDS:
        assert find(text, "bridge_time_to_resolve_seconds_bucket", **kind) == [0.0] * 13


def test_every_channel_has_its_series(client: TestClient) -> None:
    """Each channel the bridge sends by (its notifiers), and no other."""
    exported = {
        labels["channel"]
        for name, labels, _ in samples(client.get("/metrics").text)
        if name == "bridge_notifications_pending"
    }
    assert exported == set(client.app.state.runtime.channels()) == set(CHANNELS)  # type: ignore[attr-defined]


def test_build_info_names_the_installed_version(client: TestClient) -> None:
    text = client.get("/metrics").text
    assert one(text, "bridge_build_info", **BUILD) == 1
    assert len(find(text, "bridge_build_info")) == 1


def test_a_fresh_process_starts_every_series_at_zero(tmp_path: Path, settings: Settings) -> None:
    """`serve` with its worker: the web process's /metrics adds up both processes' files."""
    bridge = BridgeProcess(tmp_path).start(
        {
            "BRIDGE_DATABASE_URL": settings.database_url,
            "BRIDGE_RULES_DIR": str(settings.rules_dir),
            "BRIDGE_RUNBOOKS_DIR": str(settings.runbooks_dir),
            "BRIDGE_LOG_LEVEL": "warning",
        }
    )
    try:

        def every_job_succeeded() -> str | None:
            """Both series of each job in one scrape: a scrape reads the worker's counter and gauge
            files one after the other, and a job may finish its first run in between."""
            text = bridge.metrics()
            ran = [find(text, "bridge_job_last_success_timestamp_seconds", job_name=job) for job in JOBS]
            counted = [find(text, "bridge_job_runs_total", job_name=job, outcome="success") for job in JOBS]
            done = all(found and found[0] > 0 for found in ran + counted)
            return text if done else None

        text = wait_until(every_job_succeeded, what="every job of the worker to run once")
    finally:
        bridge.stop()

    exported = series(text)
    expected = [*expected_zero_series(), *expected_database_zeros()]
    wrong = {
        key(name, labels): exported.get(key(name, labels))
        for name, labels in expected
        if exported.get(key(name, labels)) != [0.0]
    }
    assert wrong == {}
    assert one(text, "bridge_rules_reloads_total", outcome="success") == 1
    assert one(text, "bridge_build_info", **BUILD) == 1
    for job in JOBS:
        assert one(text, "bridge_job_runs_total", job_name=job, outcome="failure") == 0
        assert one(text, "bridge_job_runs_total", job_name=job, outcome="success") >= 1
    # Merged once each: no series twice, and no per-process (pid) copies.
    bridge_series = {k: v for k, v in exported.items() if k[0].startswith("bridge_")}
    assert {k: v for k, v in bridge_series.items() if len(v) > 1} == {}
    assert [k for k in bridge_series if "pid" in dict(k[1])] == []
