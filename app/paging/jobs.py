"""Scheduled paging work. The due times live in the database; APScheduler only ticks."""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from app.catalog.loader import Catalog as Config
from app.db import Database, utcnow
from app.paging import service
from app.paging.delivery import Dispatcher

log = logging.getLogger(__name__)


def escalate(db: Database, config: Callable[[], Config], dispatcher: Dispatcher) -> int:
    """Fire due escalation steps and end due snoozes, then send their pages. Returns how many."""
    with db.session(write=True) as session:
        oncall, now = config().oncall, dispatcher.clock()
        pages = service.run_escalations(session, oncall, now) + service.wake_snoozed(session, oncall, now)
        session.flush()
        ids = [p.id for p in pages]
    dispatcher.submit(ids)
    return len(ids)


def _guard(name: str, job: Callable[[], int]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception:  # logged; the next tick tries again, nothing is lost
            log.exception("%s failed", name)

    return run


def start_scheduler(
    db: Database,
    config: Callable[[], Config],
    dispatcher: Dispatcher,
    escalation_seconds: float,
    sweep_seconds: float,
    more: dict[str, Callable[[], int]] | None = None,
    sweep: bool = True,
) -> BackgroundScheduler:
    """Escalations and the outbox sweep (unless the caller sweeps on its own), and `more` jobs
    (by id) on the escalation interval."""
    scheduler = BackgroundScheduler(timezone="UTC")
    common = {"max_instances": 1, "coalesce": True, "next_run_time": utcnow()}
    scheduler.add_job(
        _guard("escalation", lambda: escalate(db, config, dispatcher)),
        "interval",
        seconds=escalation_seconds,
        id="escalate",
        **common,
    )
    if sweep:
        scheduler.add_job(
            _guard("sweep", dispatcher.sweep), "interval", seconds=sweep_seconds, id="sweep", **common
        )
    for job_id, job in (more or {}).items():
        scheduler.add_job(_guard(job_id, job), "interval", seconds=escalation_seconds, id=job_id, **common)
    scheduler.start()
    return scheduler
