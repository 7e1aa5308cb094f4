"""Statements and writer time per intake batch, without HTTP: the same seeded webhook bodies as
bench/webhook_bench.py, applied by `flows.intake.ingest` in batches as the intake writer commits
them, on SQLite and PostgreSQL.

    .venv/bin/python bench/intake_statements.py                       # both databases
    .venv/bin/python bench/intake_statements.py --db postgresql --bodies 3000 --batch 32

The statement counts are exact and the same on every run of the same code. So are the round
trips: on PostgreSQL each statement is one, which under load waits for the interpreter's lock,
but the statements of one pipeline (`app.deferred`: the key lock with the alert rows' read, the
writes sent at the commit) are one for all. The times vary with the machine: compare them within
one run.

`--instructions K` counts instead the CPU instructions this process spends on phase K (valgrind's
callgrind, started with instrumentation off and switched on for that phase alone): repeatable
within a fraction of a percent whatever else the machine does, so two versions of the code can
be compared on a busy machine. It takes about a minute per thousand bodies.

    .venv/bin/python bench/intake_statements.py --db postgresql --bodies 6000 --phases 3 --instructions 3
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from webhook import databases  # bench/webhook/, next to this script
from webhook.common import ROOT
from webhook.payloads import build_pool

from app.alerts.schemas import AlertIn, AlertmanagerWebhook, from_alertmanager
from app.catalog.loader import load_catalog
from app.db import Database
from app.flows.intake import ingest

PUBLIC_URL = "http://127.0.0.1:8080"
UNDER_CALLGRIND = "INTAKE_STATEMENTS_CALLGRIND_PHASE"  # set in the child run under valgrind


@dataclass
class Phase:
    name: str
    requests: int = 0
    batches: int = 0
    statements: int = 0
    round_trips: int = 0  # statements sent together in a pipeline are one
    cpu: float = 0.0
    wall: float = 0.0
    walls: list[float] = field(default_factory=list)  # each batch's, for its percentiles
    kinds: Counter[str] = field(default_factory=Counter)


def _kind(statement: str) -> str:
    words = statement.split()
    if words[0] == "COMMIT":  # sent in the pipeline of the deferred writes
        return "COMMIT"
    if words[0] in ("INSERT", "DELETE"):
        return f"{words[0]} {words[2]}"
    if words[0] == "UPDATE":
        return f"UPDATE {words[1]}"
    # The first table read from; a list read first unnests its parameter (`FROM unnest(...)`).
    tables = [t for t in re.findall(r"\bFROM\s+(\w+)", statement) if t != "unnest"]
    return f"SELECT {tables[0] if tables else '?'}"


def _instrument(on: bool) -> None:
    """Switch callgrind's counting on or off for this process (a no-op outside callgrind)."""
    if os.environ.get(UNDER_CALLGRIND):
        switch = "on" if on else "off"
        subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], check=True, capture_output=True)


def count_instructions(db_name: str, phase: int) -> int:
    """Run this script again under callgrind for `db_name`, counting only `phase` (1-based)."""
    with tempfile.TemporaryDirectory(prefix="intake-callgrind-") as tmp:
        argv = list(sys.argv[1:])
        child = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={tmp}/callgrind.out",
            sys.executable,
            str(Path(__file__).resolve()),
            *argv,
            "--db",
            db_name,
        ]
        env = {**os.environ, UNDER_CALLGRIND: str(phase), "PYTHONHASHSEED": "0"}
        done = subprocess.run(child, env=env, capture_output=True, text=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or found is None:
            raise SystemExit(f"the run under callgrind failed:\n{done.stdout}\n{done.stderr[-2000:]}")
        return int(found.group(1))


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def run(db_name: str, url: str, bodies: list[list[AlertIn]], batch: int, phases: int) -> list[Phase]:
    catalog = load_catalog(ROOT / "rules", ROOT / "runbooks")
    database = Database(url, pages_born_claimed=False)
    seen: list[str] = []
    # The pipeline each statement went in (PostgreSQL), None outside one: held, so that no two
    # pipelines of a batch share an id.
    piped: list[object | None] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)
        piped.append(getattr(conn.connection.dbapi_connection, "_pipeline", None))

    size = -(-len(bodies) // phases)
    out = [Phase(f"bodies {i * size + 1:,}-{min(len(bodies), (i + 1) * size):,}") for i in range(phases)]
    now = datetime.now(UTC)
    event.listen(Engine, "before_cursor_execute", record)
    try:
        for start in range(0, len(bodies), batch):
            requests = bodies[start : start + batch]
            phase = out[start // size]
            counted = int(os.environ.get(UNDER_CALLGRIND) or 0) - 1
            if start // size == counted and start % size < batch:
                _instrument(True)
            seen.clear()
            piped.clear()
            wall, cpu = time.perf_counter(), time.thread_time()
            with database.session(write=True, intake=True) as session:
                ingest(session, catalog, requests, now + timedelta(milliseconds=start), PUBLIC_URL)
            phase.walls.append(time.perf_counter() - wall)
            phase.wall += phase.walls[-1]
            phase.cpu += time.thread_time() - cpu
            phase.requests += len(requests)
            phase.batches += 1
            # psycopg sends BEGIN and COMMIT itself; SQLite's BEGIN IMMEDIATE is seen, its COMMIT not.
            committed = any(s.strip().upper() == "COMMIT" for s in seen)
            fixed = 1 if db_name == "sqlite" else (1 if committed else 2)
            phase.statements += len(seen) + fixed
            # A run of pipelined statements is answered at once: one round trip. psycopg's BEGIN
            # joins a pipeline that opens the transaction; a COMMIT sent in one is no trip more.
            runs = sum(1 for i, p in enumerate(piped) if p is None or i == 0 or piped[i - 1] is not p)
            if db_name == "sqlite":
                phase.round_trips += runs + 1
            else:
                begin = 0 if piped and piped[0] is not None else 1
                commit = 0 if committed else 1
                phase.round_trips += runs + begin + commit
            phase.kinds.update(_kind(" ".join(s.split())) for s in seen)
            if start // size == counted and (
                start + batch >= len(bodies) or (start + batch) // size != counted
            ):
                _instrument(False)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        database.dispose()
    print(f"\n{db_name}: {len(bodies):,} bodies in batches of {batch}")
    print(
        f"  {'phase':24} {'batches':>7} {'stmts/batch':>11} {'trips/batch':>11} "
        f"{'cpu ms/req':>10} {'wall ms/req':>11} {'batch wall p50/p99 ms':>21}"
    )
    for p in out:
        print(
            f"  {p.name:24} {p.batches:7,} {p.statements / p.batches:11.1f} "
            f"{p.round_trips / p.batches:11.1f} "
            f"{1e3 * p.cpu / p.requests:10.3f} {1e3 * p.wall / p.requests:11.3f} "
            f"{1e3 * _quantile(p.walls, 0.5):10.2f} /{1e3 * _quantile(p.walls, 0.99):9.2f}"
        )
    total = sum((p.kinds for p in out), Counter())
    batches = sum(p.batches for p in out)
    print(
        "  statements per batch by kind: "
        + ", ".join(f"{k} {n / batches:.2f}" for k, n in total.most_common(12))
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--alerts", type=int, choices=(1, 10), default=1, help="alerts per body")
    parser.add_argument("--bodies", type=int, default=3000, help="bodies from the start of the cycle")
    parser.add_argument("--batch", type=int, default=32, help="webhook requests per transaction")
    parser.add_argument("--phases", type=int, default=3, help="parts of the run reported apart")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--instructions", type=int, metavar="K", help="count the instructions of phase K under callgrind"
    )
    args = parser.parse_args()
    chosen = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    if args.instructions and not os.environ.get(UNDER_CALLGRIND):
        if not 1 <= args.instructions <= args.phases:
            raise SystemExit(f"--instructions takes a phase from 1 to {args.phases}")
        for db_name in chosen:
            total = count_instructions(db_name, args.instructions)
            print(f"{db_name}: phase {args.instructions} of {args.phases}: {total:,} instructions")
        return 0
    pool = build_pool()[args.alerts]
    bodies = [
        from_alertmanager(AlertmanagerWebhook.model_validate_json(b)) for b in pool.bodies[: args.bodies]
    ]
    results: dict[str, list[Phase]] = {}
    with tempfile.TemporaryDirectory(prefix="intake-statements-") as tmp:
        for db_name in chosen:
            with databases.fresh(db_name, Path(tmp), args.pg_admin_url) as url:
                databases.migrate(url)
                results[db_name] = run(db_name, url, bodies, args.batch, args.phases)
    if len(results) == 2:
        print("\nPostgreSQL / SQLite, same run (cpu per request; wall per request):")
        for lite, pg in zip(results["sqlite"], results["postgresql"], strict=True):
            print(f"  {lite.name:24} cpu {pg.cpu / lite.cpu:5.2f}x   wall {pg.wall / lite.wall:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
