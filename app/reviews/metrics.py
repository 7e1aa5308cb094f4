"""Prometheus series of reviews and actions, computed from the database at scrape time."""

from __future__ import annotations

from app.db import Database, utcnow
from app.metrics.db_gauge import DbGauge
from app.reviews import repository

REVIEWS_OPEN = DbGauge("bridge_reviews_open", "Post-incident reviews not yet approved", [])
REVIEWS_OVERDUE = DbGauge("bridge_reviews_overdue", "Post-incident reviews past due and not approved", [])
ACTIONS_OPEN = DbGauge("bridge_actions_open", "Improvement actions open or in progress", [])
ACTIONS_OVERDUE = DbGauge("bridge_actions_overdue", "Improvement actions past due and not done", [])


def watch(db: Database) -> None:
    def reviews(index: int) -> DbGauge.Query:
        return lambda s: [((), float(repository.count_reviews(s, utcnow())[index]))]

    def actions(index: int) -> DbGauge.Query:
        return lambda s: [((), float(repository.count_actions(s, utcnow())[index]))]

    REVIEWS_OPEN.read_from(db, reviews(0))
    REVIEWS_OVERDUE.read_from(db, reviews(1))
    ACTIONS_OPEN.read_from(db, actions(0))
    ACTIONS_OVERDUE.read_from(db, actions(1))
