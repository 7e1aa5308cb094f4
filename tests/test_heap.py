"""Start-up's objects are frozen out of the collector's full passes; a reload thaws them so the
replaced ones can be collected. Run in a child process: freezing is for the whole process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support import ROOT

SCRIPT = textwrap.dedent(
    """
    import gc, time, weakref
    from app import heap

    class Rules:  # a catalog: objects in a reference cycle, as loaded rules often are
        def __init__(self):
            self.me = self
            self.items = [[i] for i in range(200_000)]

    old = Rules()
    gone = weakref.ref(old)
    heap.settle()
    assert gc.get_freeze_count() > 200_000, gc.get_freeze_count()
    started = time.perf_counter()
    gc.collect()
    full_pass = time.perf_counter() - started

    del old  # replaced by a reload: still frozen, so never collected until thawed
    gc.collect()
    assert gone() is not None
    heap.resettle()
    assert gone() is None
    assert gc.get_freeze_count() > 0
    print(f"{full_pass:.6f}")
    """
)


def _run(script: str) -> str:
    """What the script printed, in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_start_up_objects_leave_full_collections_and_a_reload_lets_them_go() -> None:
    assert float(_run(SCRIPT)) < 0.02  # a full pass skips the 200,000 frozen objects


FULL_COLLECTIONS = textwrap.dedent(
    """
    import gc
    from app import heap

    def full_collections_while_caches_grow():
        seen = []

        def count(phase, info):
            if phase == "start" and info["generation"] == 2:
                seen.append(info)

        gc.callbacks.append(count)
        kept = [[i] for i in range(600_000)]  # survivors of young collections, as requests in flight
        gc.callbacks.remove(count)
        del kept
        return len(seen)

    before = full_collections_while_caches_grow()
    heap.settle()
    assert gc.get_threshold()[2] == heap.FULL_COLLECTION_AFTER
    print(before, full_collections_while_caches_grow())
    """
)


def test_once_settled_full_collections_come_ten_times_less_often() -> None:
    before, settled = map(int, _run(FULL_COLLECTIONS).split())
    assert before >= 3  # Python's own thresholds: a full pass every 70,000 survivors or so
    assert settled <= before // 5, (before, settled)
