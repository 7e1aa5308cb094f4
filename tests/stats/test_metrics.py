"""The response-time histograms on /metrics: computed from the database at scrape, so exact for
data no process observed, the same from a freshly started process, and cached for 30 s."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.incidents.metrics import TIME_TO_ACKNOWLEDGE
from app.stats import metrics as stats_metrics
from tests.stats.history import add_incidents, database, incident
from tests.support import BridgeProcess, metric_value, parse_metrics

PERF = {"type": "performance_degradation", "severity": "SEV2"}
TECH = {"type": "technical_failure", "severity": "SEV3"}
NAMES = ("bridge_time_to_detect_seconds", "bridge_time_to_contain_seconds", "bridge_time_to_resolve_seconds")
LE = ("30.0", "60.0", "120.0", "300.0", "600.0", "900.0", "1800.0", "3600.0", "7200.0", "14400.0", "43200.0")


def day(d: int, year: int = 2026) -> datetime:
    return datetime(year, 6, d, 12, tzinfo=UTC)


def constructed(client: TestClient) -> dict[str, int]:
    """perf/SEV2 resolves in 30, 31, 3600 and 100000 s (one of them opened in 2020), detects in 30
    and 86400 s, contains in 60 s; tech/SEV3 resolves in 120 s, contains at once. A duplicate
    and an open incident add nothing to the resolve histogram."""
    return add_incidents(
        database(client),
        a=incident("a", day(1), severity="SEV2", detect=30, contain=60, ack=10, resolve=30),
        b=incident("b", day(2), severity="SEV2", detect=86400, resolve=31),
        c=incident("c", day(3), severity="SEV2", resolve=3600),
        d=incident("d", day(4, 2020), severity="SEV2", resolve=100000),  # years ago: still counted
        e=incident("e", day(5), "technical_failure", contain=0, resolve=120),
        open=incident("open", day(6), severity="SEV2", detect=5, ack=5),
    )


def bucket(text: str, name: str, le: str, **labels: str) -> float:
    return metric_value(text, f"{name}_bucket", le=le, **labels)


def buckets(text: str, name: str, **labels: str) -> list[float]:
    return [bucket(text, name, le, **labels) for le in (*LE, "86400.0", "+Inf")]


def histogram_samples(text: str) -> dict[str, float]:
    return {k: v for k, v in parse_metrics(text).items() if k.startswith(NAMES)}


def test_the_buckets_are_those_of_time_to_acknowledge() -> None:
    assert [float(b) for b in stats_metrics.BUCKETS] == TIME_TO_ACKNOWLEDGE._upper_bounds[:-1]


def test_histograms_count_what_the_database_holds(client: TestClient) -> None:
    ids = constructed(client)
    add_incidents(
        database(client), dup=incident("dup", day(7), severity="SEV2", resolve=5, duplicate_of=ids["a"])
    )
    text = client.get("/metrics").text

    resolve = "bridge_time_to_resolve_seconds"
    # 30 is in le="30.0" (bounds are inclusive); the duplicate's 5 s is nowhere.
    assert buckets(text, resolve, **PERF) == [1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4]
    assert metric_value(text, f"{resolve}_count", **PERF) == 4  # not the open incident
    assert metric_value(text, f"{resolve}_sum", **PERF) == 30 + 31 + 3600 + 100000
    assert buckets(text, resolve, **TECH) == [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert metric_value(text, f"{resolve}_sum", **TECH) == 120

    detect = "bridge_time_to_detect_seconds"
    assert buckets(text, detect, **PERF) == [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3]  # 5, 30 and 86400
    assert metric_value(text, f"{detect}_count", **PERF) == 3  # a, b and the open one
    assert metric_value(text, f"{detect}_sum", **PERF) == 30 + 86400 + 5
    assert metric_value(text, f"{detect}_count", **TECH) == 0

    contain = "bridge_time_to_contain_seconds"
    assert buckets(text, contain, **PERF) == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert metric_value(text, f"{contain}_sum", **PERF) == 60
    assert buckets(text, contain, **TECH) == [1] * 13
    assert metric_value(text, f"{contain}_sum", **TECH) == 0

    assert (
        "# HELP bridge_time_to_resolve_seconds From incident opened to resolved, over all incidents" in text
    )
    assert "# TYPE bridge_time_to_resolve_seconds histogram" in text


def test_bounds_are_inclusive_to_the_millisecond_and_earlier_ends_count_zero(client: TestClient) -> None:
    """The database rounds each time to the millisecond: 30.0004 s is 30 s (le="30.0"), 30.0006 s
    is 30.001 s (le="60.0"); a resolve before the opening counts 0 s, never a negative time."""
    add_incidents(
        database(client),
        a=incident("a", day(1), resolve=30.0004),
        b=incident("b", day(2), resolve=30.0006),
        c=incident("c", day(3), resolve=30.5),
        d=incident("d", day(4), resolve=60),
        e=incident("e", day(5), resolve=-5),
    )
    text = client.get("/metrics").text
    resolve = "bridge_time_to_resolve_seconds"
    kind = {"type": "performance_degradation", "severity": "SEV3"}
    assert buckets(text, resolve, **kind)[:3] == [2, 5, 5]
    assert metric_value(text, f"{resolve}_count", **kind) == 5
    assert metric_value(text, f"{resolve}_sum", **kind) == pytest.approx(30 + 30.001 + 30.5 + 60, abs=1e-9)


def test_a_freshly_started_process_reports_the_same(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    constructed(client)
    here = histogram_samples(client.get("/metrics").text)
    assert here['bridge_time_to_resolve_seconds_count{severity="SEV2",type="performance_degradation"}'] == 4

    # A process that observed nothing itself (its registry is its own): a restart, or a replica.
    other = BridgeProcess(tmp_path, "restarted").start(
        {
            "BRIDGE_DATABASE_URL": settings.database_url,
            "BRIDGE_RULES_DIR": str(settings.rules_dir),
            "BRIDGE_RUNBOOKS_DIR": str(settings.runbooks_dir),
            "BRIDGE_RUN_JOBS": "false",
            "BRIDGE_LOG_LEVEL": "warning",
        }
    )
    try:
        assert histogram_samples(other.metrics()) == here
    finally:
        other.stop()


def test_samples_are_cached_for_30_seconds(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(stats_metrics.HISTOGRAMS, "clock", lambda: now[0])
    stats_metrics.HISTOGRAMS.forget()
    constructed(client)
    resolve_count = "bridge_time_to_resolve_seconds_count"
    assert metric_value(client.get("/metrics").text, resolve_count, **PERF) == 4

    add_incidents(database(client), late=incident("late", day(8), severity="SEV2", resolve=1))
    now[0] += 29.9
    assert metric_value(client.get("/metrics").text, resolve_count, **PERF) == 4  # still the cached samples
    now[0] += 0.1
    assert metric_value(client.get("/metrics").text, resolve_count, **PERF) == 5
