"""The catalog in force: loaded at start, swapped atomically on reload, kept on a failed reload."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from app.catalog import metrics
from app.catalog.loader import Catalog, ConfigError, load_catalog

log = logging.getLogger(__name__)


class CatalogHolder:
    """Holds the last good catalog; readers take `current` without locking."""

    def __init__(self, rules_dir: Path, runbooks_dir: Path, counted: bool = True) -> None:
        """`counted`: this process reports the rules in its metrics (not a worker's copy)."""
        self.rules_dir, self.runbooks_dir, self.counted = rules_dir, runbooks_dir, counted
        self.on_reload: list[Callable[[], None]] = []  # told after each successful reload
        self._lock = threading.Lock()
        self.last_error: list[str] = []
        self.current: Catalog = self._load()  # raises ConfigError: refuse to start

    def _load(self) -> Catalog:
        try:
            config = load_catalog(self.rules_dir, self.runbooks_dir)
        except ConfigError as exc:
            if self.counted:
                metrics.RELOADS.labels(metrics.FAILURE).inc()
                metrics.RELOAD_SUCCESS.set(0)
            self.last_error = exc.problems
            raise
        self.last_error = []
        if not self.counted:
            return config
        metrics.RELOADS.labels(metrics.SUCCESS).inc()
        metrics.RELOAD_SUCCESS.set(1)
        metrics.RELOAD_TIMESTAMP.set_to_current_time()
        metrics.RULES_LOADED.set(len(config.ruleset.rules))
        metrics.RUNBOOKS_LOADED.set(len(config.runbooks))
        return config

    def reload(self) -> Catalog:
        """Re-read the directory; on error keep the last good rules and raise ConfigError."""
        with self._lock:
            try:
                self.current = self._load()
            except ConfigError as exc:
                log.error("rule reload failed, keeping the last good rules: %s", exc.problems)
                raise
            log.info(
                "rules reloaded: %d rules, %d runbooks",
                len(self.current.ruleset.rules),
                len(self.current.runbooks),
            )
            for listener in self.on_reload:
                listener()
            return self.current
