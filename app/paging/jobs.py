"""Scheduled paging work. The due times live in the database; APScheduler only ticks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from apscheduler.schedulers.background import BackgroundScheduler

from app.catalog.loader import Catalog as Config
from app.db import Database, utcnow
from app.metrics import jobs as job_metrics
from app.paging import metrics, service
from app.paging.delivery import Dispatcher

log = logging.getLogger(__name__)
# The ids of the paging jobs, which name them in bridge_job_* (a worker's own sweep loop too).
ESCALATION: Final = "escalation"
SWEEP: Final = "sweep"


def escalate(db: Database, config: Callable[[], Config], dispatcher: Dispatcher) -> int:
    """Fire due escalation steps and end due snoozes, then send their pages. Returns how many."""
    oncall = config().oncall
    metrics.steps_known(oncall)  # the policies in force, reloaded or not: every step has its series
    with db.session(write=True) as session:
        now = dispatcher.clock()
        pages = service.run_escalations(session, oncall, now) + service.wake_snoozed(session, oncall, now)
        session.flush()
        ids = [p.id for p in pages]
    dispatcher.submit(ids)
    return len(ids)


def _guard(name: str, job: Callable[[], int]) -> Callable[[], None]:
    """`job`, counted under `name` in the job series, its errors logged instead of raised."""
    job_metrics.known(name)

    def run() -> None:
        try:
            job()
        except Exception:  # logged; the next tick tries again, nothing is lost
            job_metrics.ran(name, ok=False)
            log.exception("%s failed", name)
        else:
            job_metrics.ran(name, ok=True)

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
    (by id) on the escalation interval. Each job's runs are counted under its id."""
    scheduler = BackgroundScheduler(timezone="UTC")
    common = {"max_instances": 1, "coalesce": True, "next_run_time": utcnow()}
    scheduler.add_job(
        _guard(ESCALATION, lambda: escalate(db, config, dispatcher)),
        "interval",
        seconds=escalation_seconds,
        id=ESCALATION,
        **common,
    )
    if sweep:
        scheduler.add_job(
            _guard(SWEEP, dispatcher.sweep), "interval", seconds=sweep_seconds, id=SWEEP, **common
        )
    for job_id, job in (more or {}).items():
        scheduler.add_job(_guard(job_id, job), "interval", seconds=escalation_seconds, id=job_id, **common)
    scheduler.start()
    return scheduler
