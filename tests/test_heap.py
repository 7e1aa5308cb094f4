"""Start-up's objects, and what each full collection leaves alive, are frozen out of the next
full collection; a deep pass (and a reload) thaws them so that garbage among them is collected.
Each test runs in a child process: freezing is for the whole process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support import ROOT

PRELUDE = textwrap.dedent(
    """
    import gc, weakref
    from app import heap

    class Node:  # objects in a reference cycle, as loaded rules and requests in flight often are
        def __init__(self):
            self.me = self
    """
)


def _run(body: str) -> str:
    """What the script printed, in a process of its own."""
    script = PRELUDE + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_start_up_objects_leave_full_collections_and_a_reload_lets_them_go() -> None:
    out = _run(
        """
        class Rules:
            def __init__(self):
                self.me = self
                self.items = [[i] for i in range(200_000)]

        old = Rules()
        gone = weakref.ref(old)
        heap.settle()
        assert gc.get_freeze_count() > 200_000, gc.get_freeze_count()
        gc.collect()
        assert len(gc.get_objects(2)) < 1_000  # a full collection walks none of them

        del old  # replaced by a reload: still frozen, so never collected until thawed
        gc.collect()
        assert gone() is not None
        heap.settle()  # what a reload runs
        assert gone() is None
        print(gc.get_freeze_count())
        """
    )
    assert 0 < int(out) < 200_000


def test_start_up_leaves_what_was_frozen_before_the_fork_frozen_and_a_reload_thaws_it() -> None:
    out = _run(
        """
        shared = [Node() for _ in range(1_000)]  # built before the worker was forked
        first = weakref.ref(shared[0])
        gc.freeze()  # as the fork does: neither process's collector writes to their pages
        del shared  # garbage now, in cycles
        reloads = []
        heap.keep_settled(reloads)
        print(first() is not None)  # start-up walked none of them
        reloads[0]()  # a reload thaws them: collected
        print(first() is None)
        """
    )
    assert out.split() == ["True", "True"]


def test_what_a_full_collection_leaves_alive_is_frozen_out_of_the_next_one() -> None:
    out = _run(
        """
        heap.settle()
        frozen, deep = gc.get_freeze_count(), heap.deep_passes()
        kept = [[i] for i in range(20_000)]  # made after start-up: caches, requests in flight
        gc.collect()
        assert len(gc.get_objects(2)) < 1_000, len(gc.get_objects(2))  # the next walks none of them
        grown = gc.get_freeze_count() - frozen
        del kept  # frozen objects still go when their last reference goes
        after = gc.get_freeze_count() - frozen
        print(grown, after, heap.deep_passes() - deep)
        """
    )
    grown, after, deep = map(int, out.split())
    assert grown >= 20_001  # the list and its 20,000 lists
    assert after < 100
    assert deep == 0


def test_cycles_frozen_alive_and_dropped_are_collected_once_the_frozen_objects_grow_by_a_half() -> None:
    out = _run(
        """
        heap.settle()
        base, deep = gc.get_freeze_count(), heap.deep_passes()
        nodes = [Node() for _ in range(base)]  # alive at a full collection: frozen with it
        first = weakref.ref(nodes[0])
        gc.collect()
        del nodes  # garbage now, but a cycle: nothing frees it while it is frozen
        assert first() is not None and gc.get_freeze_count() > base * (1 + heap.DEEP_AFTER_GROWTH)
        assert heap.deep_passes() == deep
        gc.collect()  # the frozen objects grew past a half: this full collection is deep
        print(first() is None, heap.deep_passes() - deep, gc.get_freeze_count() / base)
        """
    )
    collected, deep, ratio = out.split()
    assert collected == "True"
    assert int(deep) == 1
    assert 0.9 < float(ratio) < 1.1


def test_frozen_survivors_that_died_by_their_references_cost_no_deep_pass() -> None:
    out = _run(
        """
        heap.settle()
        base, deep = gc.get_freeze_count(), heap.deep_passes()
        survivors = [[i] for i in range(base)]  # no cycles: freed as their last reference goes
        gc.collect()
        del survivors
        gc.collect()  # past the half counted by survivors, but the frozen objects did not grow
        gc.collect()
        print(heap.deep_passes() - deep)
        """
    )
    assert int(out) == 0


def test_frozen_garbage_stays_bounded_under_churn() -> None:
    out = _run(
        """
        heap.settle()
        base, deep = gc.get_freeze_count(), heap.deep_passes()
        highest = 0
        for _ in range(100):  # requests in flight at each full collection, each leaving a cycle
            in_flight = [Node() for _ in range(base // 20)]
            gc.collect()
            del in_flight
            highest = max(highest, gc.get_freeze_count())
        print(highest / base, heap.deep_passes() - deep, heap.DEEP_AFTER_GROWTH)
        """
    )
    ratio, deep, growth = map(float, out.split())
    assert ratio < 1 + growth + 3 * 0.05  # the growth allowed, and the rounds until the next deep pass
    assert deep >= 6  # about one in eleven rounds


FULL_COLLECTIONS = textwrap.dedent(
    """
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
