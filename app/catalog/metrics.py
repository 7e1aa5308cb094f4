"""Prometheus series of the rules configuration."""

from typing import Final

from prometheus_client import Counter, Gauge

# Set by the web process only; with a worker process, /metrics shows the web process's value.
MODE: Final = "livemostrecent"
RULES_LOADED = Gauge("bridge_rules_loaded", "Classification rules currently in force", multiprocess_mode=MODE)
RUNBOOKS_LOADED = Gauge("bridge_runbooks_loaded", "Runbooks currently in the library", multiprocess_mode=MODE)
RELOAD_SUCCESS = Gauge(
    "bridge_rules_last_reload_success",
    "1 when the last (re)load of the rules succeeded",
    multiprocess_mode=MODE,
)
RELOAD_TIMESTAMP = Gauge(
    "bridge_rules_last_reload_success_timestamp_seconds",
    "When the rules last loaded successfully",
    multiprocess_mode=MODE,
)
RELOADS = Counter("bridge_rules_reloads", "Rule (re)loads attempted", ["outcome"])
