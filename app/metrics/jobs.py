"""Health of the scheduled jobs (escalation, outbox sweep, communications, reviews...).

A job counts in the process that runs it. With `incident-bridge serve` that is the worker, and
the web process's /metrics adds up both processes' files (app/metrics/exposition.py): runs are
counters, summed; the last success is a gauge merged by `max`, so a worker that died and was
replaced still leaves the newest success, never the sum of two timestamps.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

SUCCESS: Final = "success"
FAILURE: Final = "failure"
OUTCOMES: Final = (SUCCESS, FAILURE)
# Not `job`: Prometheus gives every scraped series a `job` label of its own (the scrape job).
LABEL: Final = "job_name"

JOB_RUNS = Counter(
    "bridge_job_runs",
    "Runs of each scheduled job, by outcome (failure: it raised; logged)",
    [LABEL, "outcome"],
)
JOB_LAST_SUCCESS = Gauge(
    "bridge_job_last_success_timestamp_seconds",
    "When each scheduled job last ran to the end without an error (0: not since the process started)",
    [LABEL],
    multiprocess_mode="max",
)


def known(job: str) -> None:
    """Make the job's series exist (at 0) before its first run, so a job that never succeeds shows."""
    for outcome in OUTCOMES:
        JOB_RUNS.labels(job, outcome)
    JOB_LAST_SUCCESS.labels(job)


def ran(job: str, ok: bool) -> None:
    """Count one run of `job`; a success also moves its last-success time to now."""
    JOB_RUNS.labels(job, SUCCESS if ok else FAILURE).inc()
    if ok:
        JOB_LAST_SUCCESS.labels(job).set_to_current_time()
