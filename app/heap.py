"""Keep what start-up builds out of the garbage collector's full passes.

A process of incident-bridge holds some 180,000 objects once started (the app, SQLAlchemy's
and pydantic's machinery, the rules and runbooks). A full collection walks all of them, about
100 ms during which no webhook is answered: the answer time's p99 under load was those pauses.
Frozen after start-up, they are left out (`gc.freeze`); what requests make is collected as
before. A rule reload thaws them first, so the rules it replaces can be collected.

What is left still made full collections of 15 to 50 ms under load (some 40,000 objects made
since: caches, requests in flight, scattered over a large heap, so each is a cache miss), every
0.6 to 1 s, because requests in flight outlive two young collections by the thousand. Settled,
a full collection waits for 100 collections of the middle generation instead of Python's 10
(and, as always, for the survivors to have grown by a quarter): under a paced load of one-alert
webhooks, nine full collections in a run became one. Young collections keep Python's
thresholds: larger ones each paused longer.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

FULL_COLLECTION_AFTER = 100  # collections of the middle generation (Python's default: 10)


def settle() -> None:
    """Collect what start-up left behind, then freeze the rest (the objects that stay); full
    collections from now on come after `FULL_COLLECTION_AFTER` middle ones."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)


def resettle() -> None:
    """After a reload: let the replaced objects be collected, then freeze what stays."""
    gc.unfreeze()
    settle()


def keep_settled(on_reload: list[Callable[[], None]]) -> None:
    """Settle now, and again after every reload (`on_reload`: a catalog holder's hooks)."""
    settle()
    on_reload.append(resettle)
