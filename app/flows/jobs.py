"""The scheduled jobs that cross domains, by id: run beside the escalations and the outbox sweep
by whichever process sends the pages (the worker, or `serve --inline`)."""

from __future__ import annotations

from collections.abc import Callable

from app.catalog.loader import Catalog
from app.communications.service import Context
from app.db import Database
from app.flows import communications, heartbeats, reviews
from app.paging.delivery import Dispatcher


def flow_jobs(
    db: Database, catalog: Callable[[], Catalog], public_url: str, dispatcher: Dispatcher
) -> dict[str, Callable[[], int]]:
    """Communications due, review reminders and the heartbeat check, each by its job id."""
    return {
        "communications": lambda: communications.sweep(
            db, lambda: Context(catalog(), public_url), dispatcher.submit
        ),
        "reviews": lambda: reviews.sweep(db, catalog, dispatcher.submit),
        "heartbeats": lambda: heartbeats.check(db, catalog, public_url, dispatcher.submit, dispatcher.clock),
    }
