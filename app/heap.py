"""Keep what start-up builds, and what outlives each full collection, out of the next one.

A process of incident-bridge holds some 180,000 objects once started (the app, SQLAlchemy's
and pydantic's machinery, the rules and runbooks). A full collection walks all of them, about
100 ms during which no webhook is answered: the answer time's p99 under load was those pauses.
Frozen after start-up, they are left out (`gc.freeze`); what requests make is collected as
before. A rule reload thaws them first, so the rules it replaces can be collected.

What was left still made full collections of 20 to 85 ms under load (some 40,000 objects made
since: caches, requests in flight, scattered over a large heap, so each is a cache miss). Two
measures keep them short and rare:

- A full collection waits for 100 collections of the middle generation instead of Python's 10
  (and, as always, for the survivors to have grown by a quarter): requests in flight outlive
  two young collections by the thousand.
- What a full collection leaves alive is frozen with the rest when it ends: the next one walks
  only what was made since. Objects frozen so are still freed as usual when their last
  reference goes; only cycles among them wait. So that those cannot pile up, a full collection
  that starts with the frozen objects grown by `DEEP_AFTER_GROWTH` (a half) since the last deep
  pass thaws them first and walks everything, once (a deep pass, as a reload's): what the
  collector tracks stays within 1.5 times what is alive after a deep pass. A deep pass also
  writes to the objects the worker shares with the web process since its fork (frozen before
  it), so that their pages stop being shared: it is rare for that reason too.

Young collections keep Python's thresholds: larger ones each paused longer.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

FULL_COLLECTION_AFTER = 100  # collections of the middle generation (Python's default: 10)
# Frozen objects grown by this share since the last deep pass. The caches that fill as the
# first requests come (compiled statements, rule lookups) add about a quarter to start-up's
# objects: at a quarter, that warm-up alone cost a deep pass of some 185 ms under load.
DEEP_AFTER_GROWTH = 0.5


class _State:
    deep = False  # the collection under way walks every object
    deep_base = 0  # frozen objects after the last deep pass
    since_deep = 0  # survivors frozen since the last deep pass (some died since: an upper bound)
    deep_passes = 0  # since start: how many full collections were deep

    @property
    def deep_limit(self) -> int:
        """Growth past which a deep pass is due (and, counted by `since_deep`, a count first)."""
        return int(self.deep_base * DEEP_AFTER_GROWTH)


_state = _State()


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    """gc's callback: around each full collection, thaw first when due, freeze the survivors after.

    Counting the frozen objects walks them all (`gc.get_freeze_count`, some 12 ms for 150,000):
    it is done only when the survivors frozen since the last deep pass could have grown them by
    `DEEP_AFTER_GROWTH`, and again after a deep pass, which walked them all anyway."""
    if info["generation"] != 2:
        return
    if phase == "start":
        if _state.since_deep > _state.deep_limit:
            # Most frozen survivors died since (their last reference went): count what is left.
            grown = gc.get_freeze_count() - _state.deep_base
            if grown > _state.deep_limit:
                gc.unfreeze()  # into the oldest generation: this collection walks them too
                _state.deep = True
            else:
                _state.since_deep = max(grown, 0)
        if _state.deep:
            _state.deep_passes += 1
        return
    if _state.deep:
        gc.freeze()
        _state.deep = False
        _state.since_deep = 0
        _state.deep_base = gc.get_freeze_count()
        return
    _state.since_deep += len(gc.get_objects(2))  # the survivors, about to be frozen
    gc.freeze()


def settle(thaw: bool = True) -> None:
    """Collect what is left behind, then freeze the rest (the objects that stay); full
    collections from now on come after `FULL_COLLECTION_AFTER` middle ones, and freeze what
    they leave alive. `thaw`: objects frozen before are collected too (after a reload: the rules
    it replaced). Start-up keeps them frozen: the worker was forked with them frozen, so that
    neither process's collector writes to the pages they share."""
    if _on_collection not in gc.callbacks:
        gc.callbacks.append(_on_collection)
    if thaw:
        gc.unfreeze()
    _state.deep = True
    gc.collect()  # the callback freezes what is left and sets the next deep pass's mark
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)


def deep_passes() -> int:
    """Full collections that walked every object (reloads' included), and start-up's, which
    walked all but what was frozen before the worker's fork."""
    return _state.deep_passes


def keep_settled(on_reload: list[Callable[[], None]]) -> None:
    """Settle now, and again after every reload (`on_reload`: a catalog holder's hooks), thawing
    first so that the replaced rules can be collected."""
    settle(thaw=False)
    on_reload.append(settle)
