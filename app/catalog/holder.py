"""The catalog in force: loaded at start, swapped atomically on reload, kept on a failed reload."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from app.catalog import metrics
from app.catalog.loader import Catalog, ConfigError, load_catalog

log = logging.getLogger(__name__)


class CatalogHolder:
    """Holds the last good catalog; readers take `current` without locking."""

    def __init__(self, rules_dir: Path, runbooks_dir: Path) -> None:
        self.rules_dir, self.runbooks_dir = rules_dir, runbooks_dir
        self._lock = threading.Lock()
        self.last_error: list[str] = []
        self.current: Catalog = self._load()  # raises ConfigError: refuse to start

    def _load(self) -> Catalog:
        try:
            config = load_catalog(self.rules_dir, self.runbooks_dir)
        except ConfigError as exc:
            metrics.RELOADS.labels("failure").inc()
            metrics.RELOAD_SUCCESS.set(0)
            self.last_error = exc.problems
            raise
        metrics.RELOADS.labels("success").inc()
        metrics.RELOAD_SUCCESS.set(1)
        metrics.RELOAD_TIMESTAMP.set(time.time())
        metrics.RULES_LOADED.set(len(config.ruleset.rules))
        metrics.RUNBOOKS_LOADED.set(len(config.runbooks))
        self.last_error = []
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
            return self.current
