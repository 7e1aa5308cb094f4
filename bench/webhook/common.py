"""Paths, addresses and small functions shared by the modules of the benchmark."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent.parent
_VENV_BIN = ROOT / ".venv" / "bin"
BIN = _VENV_BIN if (_VENV_BIN / "incident-bridge").exists() else Path(sys.executable).parent
HOST = "127.0.0.1"
WEBHOOK_PATH = "/webhooks/alertmanager"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
MIB = 1024 * 1024

# uvloop's loop.time() advances in whole milliseconds: time requests with perf_counter instead.
clock = time.perf_counter


def progress(text: str) -> None:
    """A progress line on stderr (the report goes to stdout)."""
    print(text, file=sys.stderr, flush=True)


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values sorted ascending; NaN when there are none."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, round(q / 100 * (len(sorted_values) - 1)))]


def ratio(value: float, reference: float | None) -> float | None:
    """value / reference, or None when there is no usable reference."""
    if reference is None or not reference or math.isnan(reference) or math.isnan(value):
        return None
    return value / reference


def machine_line() -> str:
    try:
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        load = "?"
    return f"{os.cpu_count()} cpus, load average {load}, Python {sys.version.split()[0]}"
