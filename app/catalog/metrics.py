"""Prometheus series of the rules configuration."""

from prometheus_client import Counter, Gauge

RULES_LOADED = Gauge("bridge_rules_loaded", "Classification rules currently in force")
RUNBOOKS_LOADED = Gauge("bridge_runbooks_loaded", "Runbooks currently in the library")
RELOAD_SUCCESS = Gauge("bridge_rules_last_reload_success", "1 when the last (re)load of the rules succeeded")
RELOAD_TIMESTAMP = Gauge(
    "bridge_rules_last_reload_success_timestamp_seconds", "When the rules last loaded successfully"
)
RELOADS = Counter("bridge_rules_reloads", "Rule (re)loads attempted", ["outcome"])
