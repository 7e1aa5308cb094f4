"""The cycle collector's full passes and deep passes on /metrics, from both processes of `serve`."""

from __future__ import annotations

import gc
import signal
from pathlib import Path

from prometheus_client import REGISTRY

from app.config import Settings
from app.metrics import heap as heap_metrics
from tests.support import BridgeProcess, metric_value, wait_until
from tests.test_reload import NEW_RULE

DEEP = "bridge_gc_deep_passes_total"
FULL = "bridge_gc_full_collections_total"


def counted(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_publish_adds_each_full_collection_once() -> None:
    heap_metrics.publish()
    before = counted(FULL)
    heap_metrics.publish()  # nothing collected since: nothing added
    assert counted(FULL) == before
    gc.collect()
    gc.collect()
    heap_metrics.publish()
    heap_metrics.publish()
    assert counted(FULL) == before + 2


def test_start_up_and_each_reload_make_one_deep_pass_per_process(
    tmp_path: Path, settings: Settings, rules_dir: Path
) -> None:
    """Start-up settles the web process and the worker once each; a reload (SIGHUP, passed on to
    the worker) settles both again."""
    bridge = BridgeProcess(tmp_path).start(
        {
            "BRIDGE_DATABASE_URL": settings.database_url,
            "BRIDGE_RULES_DIR": str(rules_dir),
            "BRIDGE_RUNBOOKS_DIR": str(settings.runbooks_dir),
            "BRIDGE_LOG_LEVEL": "warning",
            "BRIDGE_SWEEP_INTERVAL_SECONDS": "0.5",
        }
    )
    try:
        assert bridge.proc is not None

        def deep(count: int) -> str | None:
            text = bridge.metrics()
            return text if metric_value(text, DEEP) == count else None

        text = wait_until(lambda: deep(2), what="a deep pass from each process's start-up")
        assert metric_value(text, FULL) >= 2
        (rules_dir / "90-infra.yaml").write_text(NEW_RULE)
        bridge.proc.send_signal(signal.SIGHUP)
        text = wait_until(lambda: deep(4), what="a deep pass from each process's reload")
        assert metric_value(text, FULL) >= 4
    finally:
        bridge.stop()
