"""Prometheus series of the intake path."""

from typing import get_args

from prometheus_client import Counter, Histogram

from app.vocabulary import AlertStatus

# Every labelled series exists at 0 from the start: rate() and increase() then see the first event.
SOURCES = ("alertmanager",)
ALERT_STATUSES: tuple[AlertStatus, ...] = get_args(AlertStatus)
DEDUP_REASONS = ("duplicate", "grouped")

ALERTS_RECEIVED = Counter(
    "bridge_alerts_received", "Alerts received, committed to the database", ["source", "status"]
)
for _source in SOURCES:
    for _status in ALERT_STATUSES:
        ALERTS_RECEIVED.labels(_source, _status)
ALERTS_DEDUPLICATED = Counter(
    "bridge_alerts_deduplicated",
    "Alerts that opened nothing new: duplicate (retry, HA peer, repeat) or grouped (joined an open incident)",
    ["reason"],
)
for _reason in DEDUP_REASONS:
    ALERTS_DEDUPLICATED.labels(_reason)
FINGERPRINT_MISMATCHES = Counter(
    "bridge_alerts_fingerprint_mismatch",
    "Alerts whose sent fingerprint is not the one of their labels (the labels' one is used)",
)
WEBHOOK_REQUESTS = Counter(
    "bridge_webhook_requests", "Webhook requests answered, by status code", ["source", "code"]
)
# 499: the sender closed the connection before its body arrived (its error, counted apart from 5xx).
WEBHOOK_CODES = ("200", "400", "401", "408", "413", "415", "422", "499", "500", "503")
WEBHOOK_SECONDS = Histogram(
    "bridge_webhook_duration_seconds",
    "Time from request to answer on the webhook endpoints",
    ["source"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
for _source in SOURCES:
    WEBHOOK_SECONDS.labels(_source)
    for _code in WEBHOOK_CODES:
        WEBHOOK_REQUESTS.labels(_source, _code)
INTAKE_BATCH_REQUESTS = Histogram(
    "bridge_intake_batch_requests",
    "Webhook requests committed together in one transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
# Where a committed batch's time went: waiting to begin its write transaction (on SQLite, for the
# one write lock, which a worker or another process may hold), the work inside it, its commit
# (the deferred writes and COMMIT, with the fsync that makes the answers durable). Retried
# attempts count too.
INTAKE_PHASES = ("lock", "work", "commit")
INTAKE_BATCH_SECONDS = Histogram(
    "bridge_intake_batch_duration_seconds",
    "Time an intake transaction took, from waiting for the write lock to its commit (committed batches)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
INTAKE_PHASE_SECONDS = Counter(
    "bridge_intake_phase_seconds",
    "Seconds intake transactions spent waiting for the write lock, working, and committing",
    ["phase"],
)
for _phase in INTAKE_PHASES:
    INTAKE_PHASE_SECONDS.labels(_phase)
# Why an intake transaction failed. database_unavailable: the database could not take the write
# (answered 503); database_error: any other database error after retries (503); bug: anything
# else (500). Each failed transaction counts once, including a batch that is then retried one
# request at a time.
DATABASE_UNAVAILABLE = "database_unavailable"
DATABASE_ERROR = "database_error"
BUG = "bug"
INTAKE_FAILURE_REASONS = (DATABASE_UNAVAILABLE, DATABASE_ERROR, BUG)
INTAKE_FAILURES = Counter("bridge_intake_failures", "Intake transactions that failed, by reason", ["reason"])
for _reason in INTAKE_FAILURE_REASONS:
    INTAKE_FAILURES.labels(_reason)
