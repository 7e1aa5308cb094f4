"""The `incident-bridge` command: serve, worker, migrate, check-rules, report, webhook-secret,
tracker-secret."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

from pydantic import ValidationError

from app.config import Settings, get_settings
from app.metrics.pids import keep_pid

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
log = logging.getLogger("incident_bridge")


def migrate(database_url: str) -> None:
    """Bring the database schema to the newest version."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from alembic.runtime.migration import MigrationContext

    from app.db import build_engine

    root = Path(__file__).resolve().parent.parent
    cfg = AlembicConfig(str(root / "alembic.ini")) if (root / "alembic.ini").exists() else AlembicConfig()
    cfg.set_main_option("script_location", str(root / "migrations"))
    engine = build_engine(database_url)
    try:
        with engine.begin() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            after = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    # One line instead of alembic's step by step (its logger is turned down to warnings).
    if before == after:
        log.info("database schema at revision %s", after)
    else:
        log.info("database schema upgraded from revision %s to %s", before or "none", after)


def _max_age(text: str) -> str:
    """`--runbook-max-age`: a duration such as 180d, longer than 0."""
    from app.durations import parse_duration

    try:
        period = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if period.total_seconds() <= 0:
        raise argparse.ArgumentTypeError("must be longer than 0 (e.g. 180d)")
    return text


def check_rules(rules_dir: Path, runbooks_dir: Path, runbook_max_age: str = "180d") -> int:
    """Validate the rules and runbooks (exit 1 on a problem); warn, without failing, about
    runbooks not reviewed within `runbook_max_age`, without an owner or naming unknown models."""
    from datetime import UTC, datetime

    from app.catalog.loader import ConfigError, load_catalog
    from app.durations import parse_duration
    from app.runbooks import checks

    try:
        config = load_catalog(rules_dir, runbooks_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    known_models = set(config.oncall.models) or None  # no registry: nothing to compare with
    found = checks.warnings(
        config.runbooks.values(), parse_duration(runbook_max_age), datetime.now(UTC).date(), known_models
    )
    for warning in found:
        print(warning, file=sys.stderr)
    noted = f" ({len(found)} runbook warning(s))" if found else ""
    print(
        f"ok: {len(config.ruleset.rules)} rules in {len(config.files)} files, {len(config.runbooks)} runbooks"
        + noted
    )
    return 0


def _logging(settings: Settings) -> None:
    from app.logs import configure

    configure(settings.log_level, settings.log_format)  # a forked worker keeps it; a spawned one calls this


def _metrics_directory() -> None:
    """Where the web process and its worker count together (before prometheus_client loads)."""
    chosen = os.environ.get(MULTIPROC_DIR)
    directory = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="incident-bridge-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # counts of an earlier run of this service
        stale.unlink()
    os.environ[MULTIPROC_DIR] = str(directory)
    keep_pid()


def serve(host: str, port: int, workers: str) -> int:
    """`workers`: `start` one worker process, `none` (workers run elsewhere), or `inline`."""
    if workers == "start":
        _metrics_directory()
    from app.startup import Migration

    settings = get_settings()
    _logging(settings)
    migration = Migration(settings.database_url)  # in a child: this process never loads Alembic
    if workers == "start":
        # The worker's modules load meanwhile; it is forked once the schema is up to date, before
        # this process loads the web's (it never needs them).
        from app.worker import WorkerProcess
    if not migration.succeeded():
        return 1
    if workers != "inline":
        settings = settings.model_copy(update={"delivery": "worker"})
    worker = WorkerProcess(settings) if workers == "start" else None
    if worker is not None:
        worker.fork()  # no thread has started yet; it waits for `release`
    import uvicorn

    from app import heap
    from app.catalog.loader import ConfigError
    from app.main import create_app, install_sighup

    try:
        app = create_app(settings)
    except ConfigError as exc:  # logged, so a JSON log stays JSON
        for problem in exc.problems:
            log.error("%s", problem)
        log.error("refusing to start: fix the rules (incident-bridge check-rules)")
        if worker is not None:
            worker.stop()
        return 2
    holder = app.state.runtime.catalog
    if worker is not None:
        worker.release()
        holder.on_reload.append(lambda: worker.signal(signal.SIGHUP))  # it reloads too
    install_sighup(holder)
    heap.keep_settled(holder.on_reload)  # what start-up built stays out of the collector's full passes

    def stop(_signum: int, _frame: object) -> None:
        # uvicorn handles SIGTERM and SIGINT while it serves, then raises them again once it has
        # shut down: they end up here, and the worker stops before this process does.
        if worker is not None:
            worker.stop()
        raise SystemExit(0)  # a clean stop, asked for

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        # log_config=None: uvicorn's loggers write through ours, in the same format.
        uvicorn.run(
            app, host=host, port=port, log_level=settings.log_level, log_config=None, access_log=False
        )
    finally:
        if worker is not None:
            worker.stop()
    return 0


def work(parent: int | None, metrics_port: int | None) -> int:
    keep_pid()  # before the worker's metrics are created
    from app.worker import run_worker

    settings = get_settings()
    _logging(settings)
    return run_worker(settings, parent, metrics_port)


def write_report(settings: Settings, since: str, until: str | None, out: Path) -> int:
    """Write the incident report (the numbers of GET /api/v1/stats) to one self-contained HTML file."""
    from app.catalog.loader import ConfigError, load_catalog
    from app.db import Database, utcnow
    from app.errors import InvalidRequest
    from app.web import incident_report

    try:
        catalog = load_catalog(settings.rules_dir, settings.runbooks_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        stats = incident_report.statistics(db, catalog, since, until, {}, None)
    except InvalidRequest as exc:
        print(exc.detail, file=sys.stderr)
        return 2
    finally:
        db.dispose()
    html = incident_report.render(stats, "", utcnow(), standalone=True)
    out.write_text(html, encoding="utf-8")
    print(f"wrote {out}: {stats.count} incidents from {stats.since:%Y-%m-%d} to {stats.until:%Y-%m-%d}")
    return 0


def print_key(settings: Settings, purpose: str) -> int:
    """Print one per-purpose key: `webhooks` (receivers verify deliveries with it) or `trackers`
    (ticket trackers sign their calls that close improvement actions)."""
    from app.db import Database
    from app.main import master_keys

    migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        print(getattr(master_keys(settings, db), purpose))
    finally:
        db.dispose()
    return 0


def _settings_problems(exc: ValidationError) -> list[str]:
    """One line per refused setting, naming the variable; never the value (it may be a secret)."""
    return [
        f"BRIDGE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors(include_input=False, include_url=False)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="incident-bridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="migrate the database, then serve HTTP")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8080)
    mode = p_serve.add_mutually_exclusive_group()
    mode.add_argument(
        "--no-worker",
        action="store_true",
        help="start no worker process: pages are sent by `incident-bridge worker` processes",
    )
    mode.add_argument(
        "--inline", action="store_true", help="one process: this one sends the pages and runs the jobs"
    )
    p_work = sub.add_parser("worker", help="send pages and notices, escalate, run the sweeps")
    p_work.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # stop when this process dies
    p_work.add_argument(
        "--metrics-port", type=int, help="serve this worker's /metrics on 127.0.0.1:PORT (when alone)"
    )
    sub.add_parser("migrate", help="bring the database schema up to date")
    p_check = sub.add_parser("check-rules", help="validate rule files and runbooks")
    p_check.add_argument("dir", nargs="?", type=Path, help="rules directory (default BRIDGE_RULES_DIR)")
    p_check.add_argument("--runbooks", type=Path, help="runbooks directory (default BRIDGE_RUNBOOKS_DIR)")
    p_check.add_argument(
        "--runbook-max-age",
        type=_max_age,
        help="warn about runbooks not reviewed for longer than this, e.g. 180d "
        "(default BRIDGE_RUNBOOK_MAX_AGE, 180d)",
    )
    sub.add_parser(
        "webhook-secret", help="print the key that signs webhook deliveries (for receivers to verify)"
    )
    p_report = sub.add_parser("report", help="write the incident report to one self-contained HTML file")
    p_report.add_argument("--since", default="30d", help="RFC 3339 time or a duration before now (30d, 12w)")
    p_report.add_argument("--until", default=None, help="RFC 3339 time or a duration before now; default now")
    p_report.add_argument("--out", type=Path, default=Path("incident-report.html"))
    sub.add_parser(
        "tracker-secret", help="print the key ticket trackers sign their calls with (to close actions)"
    )
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        for problem in _settings_problems(exc):
            print(problem, file=sys.stderr)
        print("refusing to start: fix the settings above", file=sys.stderr)
        return 2
    if args.command == "webhook-secret":
        return print_key(settings, "webhooks")
    if args.command == "report":
        return write_report(settings, args.since, args.until, args.out)
    if args.command == "tracker-secret":
        return print_key(settings, "trackers")
    if args.command == "serve":
        return serve(args.host, args.port, "none" if args.no_worker else "inline" if args.inline else "start")
    if args.command == "worker":
        return work(args.parent, args.metrics_port)
    if args.command == "migrate":
        migrate(settings.database_url)
        print("database is at the newest schema")
        return 0
    return check_rules(
        args.dir or settings.rules_dir,
        args.runbooks or settings.runbooks_dir,
        args.runbook_max_age or settings.runbook_max_age,
    )


if __name__ == "__main__":
    sys.exit(main())
