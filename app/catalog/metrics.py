"""Prometheus series of the rules configuration.

The reload gauges are named as Prometheus and Alertmanager name theirs
(`prometheus_config_last_reload_successful`...), so alerting rules written for those apply.
"""

from typing import Final

from prometheus_client import Counter, Gauge

# Set by the web process only; with a worker process, /metrics shows the web process's value.
MODE: Final = "livemostrecent"
SUCCESS: Final = "success"
FAILURE: Final = "failure"

RULES_LOADED = Gauge("bridge_rules_loaded", "Classification rules currently in force", multiprocess_mode=MODE)
RUNBOOKS_LOADED = Gauge("bridge_runbooks_loaded", "Runbooks currently in the library", multiprocess_mode=MODE)
RELOAD_SUCCESS = Gauge(
    "bridge_config_last_reload_successful",
    "1 when the last (re)load of the rules directory succeeded; 0: it failed, the last good rules stay",
    multiprocess_mode=MODE,
)
RELOAD_TIMESTAMP = Gauge(
    "bridge_config_last_reload_success_timestamp_seconds",
    "When the rules directory last loaded successfully",
    multiprocess_mode=MODE,
)
RELOADS = Counter("bridge_rules_reloads", "Rule (re)loads attempted, by outcome", ["outcome"])
for _outcome in (SUCCESS, FAILURE):
    RELOADS.labels(_outcome)
