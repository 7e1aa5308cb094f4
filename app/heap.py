"""Keep what start-up builds out of the garbage collector's full passes.

A process of incident-bridge holds some 180,000 objects once started (the app, SQLAlchemy's
and pydantic's machinery, the rules and runbooks). A full collection walks all of them, about
100 ms during which no webhook is answered: the answer time's p99 under load was those pauses.
Frozen after start-up, they are left out (`gc.freeze`); what requests make is collected as
before. A rule reload thaws them first, so the rules it replaces can be collected.
"""

from __future__ import annotations

import gc
from collections.abc import Callable


def settle() -> None:
    """Collect what start-up left behind, then freeze the rest (the objects that stay)."""
    gc.collect()
    gc.freeze()


def resettle() -> None:
    """After a reload: let the replaced objects be collected, then freeze what stays."""
    gc.unfreeze()
    settle()


def keep_settled(on_reload: list[Callable[[], None]]) -> None:
    """Settle now, and again after every reload (`on_reload`: a catalog holder's hooks)."""
    settle()
    on_reload.append(resettle)
