"""Multiprocess metrics keep the process id instead of asking for it, and still notice a fork."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import ROOT

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from app.metrics.pids import current_pid, keep_pid
    keep_pid()
    from prometheus_client import Counter, values
    check = values.ValueClass._MmapedValue__check_for_pid_change
    assert any(c.cell_contents is current_pid for c in check.__closure__), "the kernel is asked"
    from prometheus_client.multiprocess import MultiProcessCollector
    from prometheus_client import CollectorRegistry, generate_latest

    counted = Counter("bridge_test_counted", "counted by two processes")
    counted.inc()
    child = os.fork()
    if child == 0:
        assert current_pid() == os.getpid()
        counted.inc(2)
        os._exit(0)
    os.waitpid(child, 0)
    counted.inc(4)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    print(os.getpid(), child)
    print(generate_latest(registry).decode())
    """
)


def test_a_forked_process_counts_into_its_own_file_and_the_sum_is_right(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first, _, exposition = done.stdout.partition("\n")
    parent, child = first.split()
    assert {p.name for p in tmp_path.glob("counter_*.db")} == {f"counter_{parent}.db", f"counter_{child}.db"}
    assert "bridge_test_counted_total 7.0" in exposition
