"""A database with a past: resolved incidents and their alerts, written straight into the tables.

After `incident-bridge migrate` has created the schema, rows go in with SQLAlchemy Core
executemany on SQLite (one transaction per chunk of 10,000 rows) and with COPY on PostgreSQL
(psycopg's cursor.copy), into the tables of app/models. Every incident is resolved, between 2
and 400 days ago (outside every reopen window), under a rule of the shipped catalog, with a key
of its own (the rule's group_by labels with a model name no other incident has). Each alert
points at one of them and has a fingerprint no other alert has: 16 hex digits, like
Prometheus' (the service never recomputes a stored fingerprint, so it need not be the FNV hash
of the labels). The payload pool's models and fingerprints do not occur, so the measured
webhooks do the same work as on an empty database, against larger tables and indexes.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .common import ROOT, progress
from .databases import migrate

if TYPE_CHECKING:
    from sqlalchemy import Table

CHUNK = 10_000
RESOLVED_BY = "alertmanager"


def _templates() -> list[dict[str, Any]]:
    """One template per shipped rule whose key includes the model."""
    from app.catalog.loader import load_catalog

    catalog = load_catalog(ROOT / "rules", ROOT / "runbooks")
    found = []
    for rule in catalog.ruleset.rules:
        if "model" not in rule.group_by:
            continue
        fixed = {m.name: m.value for m in rule.matchers if m.op == "="}
        found.append(
            {
                "rule": rule.group_with or rule.name,
                "group_by": rule.group_by,
                "labels": {"alertname": "HistoricAlert", **fixed},
                "type": rule.type,
                "severity": catalog.ruleset.severity_of(rule),
            }
        )
    return found


def _stamp(db: str, at: datetime) -> str:
    """A UTC time as the service's column type stores it: naive text on SQLite (what
    SQLAlchemy's DateTime writes, compared as text), timestamptz input on PostgreSQL."""
    text = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text if db == "sqlite" else text + "+00"


def _json(value: dict[str, str]) -> str:
    return json.dumps(value, separators=(",", ":"))


INCIDENT_COLUMNS = [
    "id",
    "key",
    "rule",
    "status",
    "type",
    "severity",
    "title",
    "model",
    "labels",
    "alert_count",
    "firing_count",
    "flap_count",
    "auto_resolve",
    "unowned",
    "opened_at",
    "resolved_at",
    "resolved_by",
    "last_alert_at",
    "updated_at",
    "source",
    "description",
    "restricted",
    "alert_severity",
    "peak_severity",
]
ALERT_COLUMNS = [
    "id",
    "incident_id",
    "fingerprint",
    "status",
    "labels",
    "annotations",
    "starts_at",
    "ends_at",
    "generator_url",
    "source",
    "first_seen_at",
    "last_seen_at",
    "receive_count",
]
Rows = list[tuple[Any, ...]]


def _rows(db: str, alerts: int, incidents: int) -> Iterator[tuple[Rows, Rows]]:
    """Chunks of (incident rows, alert rows), values ready for the driver; the alerts spread
    evenly over the incidents (their counts differ by at most one)."""
    from app.rules.engine import incident_key

    templates = _templates()
    rng = random.Random(20261130)
    now = datetime.now(UTC)
    chunk_incidents: Rows = []
    chunk_alerts: Rows = []
    alert_id = 0
    for n in range(1, incidents + 1):
        t = templates[n % len(templates)]
        labels = {**t["labels"], "model": f"retired-model-{n:07d}", "cluster": "prod-eu-west-1"}
        for name in t["group_by"]:
            labels.setdefault(name, f"{name}-{n % 7}")
        key, _ = incident_key(t["rule"], t["group_by"], labels)
        opened_at = now - timedelta(days=2 + rng.random() * 398)
        resolved_at = opened_at + timedelta(minutes=5 + rng.random() * 2880)
        opened, resolved = _stamp(db, opened_at), _stamp(db, resolved_at)
        title = f"{labels['alertname']} on {labels['model']}"
        count = alerts // incidents + (1 if n <= alerts % incidents else 0)
        severity = t["severity"]
        row = (
            n, key, t["rule"], "resolved", t["type"], severity, title, labels["model"], _json(labels),
            count, 0, 0, True, True, opened, resolved, RESOLVED_BY, resolved, resolved, "monitoring",
            "", False, severity, severity,
        )  # fmt: skip
        chunk_incidents.append(row)
        prefix = _json(labels)[:-1]  # the incident's labels, and one of each alert's own
        for series in range(count):
            alert_id += 1
            fingerprint = hashlib.blake2b(alert_id.to_bytes(8, "big"), digest_size=8).hexdigest()
            instance = f"10.{series % 250}.{alert_id % 250}.{series % 256}:8080"
            summary = f"{title} (series {series})"
            alert = (
                alert_id, n, fingerprint, "resolved", f'{prefix},"instance":"{instance}"}}',
                f'{{"summary":"{summary}","description":"history"}}', opened, resolved,
                "", "alertmanager", opened, resolved, 1 + alert_id % 12,
            )  # fmt: skip
            chunk_alerts.append(alert)
        if len(chunk_alerts) >= CHUNK or n == incidents:
            yield chunk_incidents, chunk_alerts
            chunk_incidents, chunk_alerts = [], []


def _tables() -> dict[str, tuple[Table, list[str]]]:
    import app.models  # noqa: F401  (registers every table)
    from app.db import Base

    tables = Base.metadata.tables
    return {"incident": (tables["incident"], INCIDENT_COLUMNS), "alert": (tables["alert"], ALERT_COLUMNS)}


def _check_columns() -> None:
    """The columns written here must still fit the models (the schema moves on). Neither the
    driver's executemany nor COPY applies the models' Python-side defaults."""
    for table, columns in _tables().values():
        missing = [c for c in columns if c not in table.c]
        required = [
            c.name for c in table.c if not c.nullable and c.name not in columns and c.server_default is None
        ]
        if missing or required:
            raise RuntimeError(f"history rows no longer fit table {table.name}: {missing or required}")


def _sqlite(url: str, alerts: int, incidents: int) -> None:
    from sqlalchemy import create_engine, insert, text

    engine = create_engine(url)
    statements = {
        name: str(insert(table).compile(dialect=engine.dialect, column_keys=columns))
        for name, (table, columns) in _tables().items()
    }
    try:
        for chunk_incidents, chunk_alerts in _rows("sqlite", alerts, incidents):
            with engine.begin() as conn:  # one transaction per chunk, executemany on the driver
                conn.exec_driver_sql(statements["incident"], chunk_incidents)
                conn.exec_driver_sql(statements["alert"], chunk_alerts)
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    finally:
        engine.dispose()


def _postgresql(url: str, alerts: int, incidents: int) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        for chunk_incidents, chunk_alerts in _rows("postgresql", alerts, incidents):
            for table, columns, rows in (
                ("incident", INCIDENT_COLUMNS, chunk_incidents),
                ("alert", ALERT_COLUMNS, chunk_alerts),
            ):
                with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            conn.commit()
        for table in ("incident", "alert"):  # the service's own inserts carry on after these ids
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) incident")  # as autovacuum would have, long before now
        conn.execute("VACUUM (ANALYZE) alert")


def generate(db: str, url: str, alerts: int, incidents: int) -> float:
    """Migrate `url`, then fill it with `incidents` resolved incidents and `alerts` alerts; returns
    the seconds the filling took."""
    _check_columns()
    migrate(url)
    progress(f"  writing {incidents:,} resolved incidents and {alerts:,} alerts into {db}")
    started = time.monotonic()
    if db == "sqlite":
        _sqlite(url, alerts, incidents)
    else:
        _postgresql(url, alerts, incidents)
    return time.monotonic() - started
