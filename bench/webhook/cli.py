"""Options, the header of the report, and the report itself (stdout; progress goes to stderr)."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import page_probe, report, storm_traffic, targets, wrk
from .common import PG_ADMIN_URL, machine_line, progress
from .measure import Plan
from .payloads import N_GROUPS, N_MODELS, SEED, SERIES_PER_GROUP, build_pool
from .report import Results
from .runner import run_all
from .scenarios import DESCRIPTIONS, NAMES, big_body, history, idle_memory, paced, page_latency, peak, storm
from .servers import MAX_BODY_BYTES, Server

DEFAULT_LEVELS = (1, 4, 16, 32, 64)
QUICK_LEVELS = (1, 16, 64)
USAGE = (
    """Benchmark of POST /webhooks/alertmanager and what follows it, against a parse-only ceiling.

    .venv/bin/python bench/webhook_bench.py [--db sqlite|postgresql|both] [--quick] [--runs N]
        [--only peak,storm,...] [--duration S] [--concurrency 1,4,16] [--paging sink|off]
        [--load-generator auto|wrk|python] [--pg-admin-url URL]

Scenarios (--only takes a comma-separated list; default all):
"""
    + "\n".join(f"    {name:<13} {text}" for name, text in DESCRIPTIONS.items())
    + """

Every scenario runs --runs times (default 3, --quick 1); the worst figure of the runs is reported
and judged. The report ends with a table of targets; the exit code is 0 when all pass, 1 when
one fails, 2 on an error, 130 when interrupted. bench/README.md explains the output.
"""
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--duration", type=int, help="seconds per measurement (default 10, --quick 3)")
    parser.add_argument("--concurrency", help="comma-separated connection counts (default 1,4,16,32,64)")
    parser.add_argument(
        "--quick", action="store_true", help="3-second runs at 1,16,64 connections, 1 run, smaller history"
    )
    parser.add_argument(
        "--runs", type=int, help="repeat each scenario N times, judge the worst (default 3, --quick 1)"
    )
    parser.add_argument("--only", help=f"comma-separated scenarios: {','.join(NAMES)}")
    parser.add_argument(
        "--load-generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="closed loops: wrk if present or installable (auto), else the asyncio generator",
    )
    parser.add_argument(
        "--paging",
        choices=("sink", "off"),
        default="sink",
        help="sink: the service pages on-call people through a local sink; off: no on-call config",
    )
    parser.add_argument(
        "--pg-admin-url", default=PG_ADMIN_URL, help="where to CREATE/DROP the bench databases"
    )
    args = parser.parse_args(argv)
    args.selected = NAMES
    if args.only:
        chosen = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in chosen if name not in NAMES]
        if unknown or not chosen:
            parser.error(
                f"--only takes scenarios among {', '.join(NAMES)}; unknown: {', '.join(unknown) or '-'}"
            )
        args.selected = tuple(name for name in NAMES if name in chosen)
    if args.paging == "off" and "page-latency" in args.selected:
        if args.only:
            parser.error("page-latency needs --paging sink")
        args.selected = tuple(name for name in args.selected if name != "page-latency")
    if args.duration is not None and args.duration < 1:
        parser.error("--duration must be at least 1 second")
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    args.runs = args.runs or (1 if args.quick else 3)
    if args.concurrency:
        try:
            args.levels = tuple(int(x) for x in args.concurrency.split(",") if x.strip())
        except ValueError:
            parser.error("--concurrency takes comma-separated integers, e.g. 1,4,16")
        if not args.levels or min(args.levels) < 1:
            parser.error("--concurrency needs positive connection counts")
    else:
        args.levels = QUICK_LEVELS if args.quick else DEFAULT_LEVELS
    args.duration = args.duration or (3 if args.quick else 10)
    args.warmup = 1 if args.quick else 2
    return args


def header(args: argparse.Namespace, plan: Plan) -> list[str]:
    out = ["incident-bridge webhook benchmark: POST /webhooks/alertmanager", f"machine: {machine_line()}"]
    generator = f"{wrk.version(plan.wrk)}, 1 thread" if plan.wrk else "asyncio on raw streams"
    out.append(f"load generator: {generator} (closed loops); paced runs, storm, big body: asyncio")
    out.append(
        "servers: uvicorn, 1 worker, loop=auto (uvloop), http=auto (httptools), log level warning, no access "
        f"log; BRIDGE_MAX_BODY_BYTES={MAX_BODY_BYTES} (for the big body)"
    )
    out.append(
        "paging: "
        + (
            "on-call config of rules/, every destination pointed at a local sink (HTTP 202, SMTP 250)"
            if plan.paging
            else "off (the on-call and communications sections of rules/ left out)"
        )
    )
    out.append(f"scenarios: {', '.join(args.selected)}; databases: {args.db}")
    worst = "; the worst figure of the runs is reported and judged" if plan.runs > 1 else ""
    out.append(
        f"runs: {plan.runs} of each scenario{worst}; measurements {plan.duration}s after a {plan.warmup}s "
        f"warm-up, connections {','.join(map(str, plan.levels))}"
    )
    if "page-latency" in args.selected:
        out.append(
            f"page latency: {page_probe.PROBES} probes every {page_probe.INTERVAL * 1e3:.0f} ms, idle and "
            "then under a paced run of 1-alert bodies at half the peak rate"
        )
    if "storm" in args.selected:
        out.append(
            f"storm: {storm_traffic.MODELS} models x {storm_traffic.SERIES} series, "
            f"{len(storm_traffic.FIRING_SHARE)} bursts of {storm_traffic.MODELS} bodies "
            f"{storm_traffic.GROUP_INTERVAL:g} s apart on {storm_traffic.CONNECTIONS} connections"
        )
    if "history" in args.selected:
        alerts, incidents = history.QUICK if plan.quick else history.FULL
        scaled = " (scaled down by --quick; the full run uses 1,000,000 and 100,000)" if plan.quick else ""
        out.append(f"history: {alerts:,} alerts, {incidents:,} resolved incidents{scaled}")
    out.append(
        f"payloads (seed {SEED}): {N_MODELS} models, {N_GROUPS} groups, "
        f"{N_GROUPS * SERIES_PER_GROUP:,} fingerprints"
    )
    for size, p in plan.payloads.items():
        mix = ", ".join(f"{n * 100 / len(p.bodies):.0f}% {what}" for what, n in sorted(p.mix.items()))
        out.append(
            f"  {size:>2}-alert bodies: {len(p.bodies):,} in the cycle, "
            f"{p.mean_bytes:,.0f} bytes on average; {mix}"
        )
    return out


def render(results: Results, plan: Plan) -> tuple[list[str], list[targets.Check]]:
    out = ["", "Every measured run", *report.table(plan.rows)] if plan.rows else []
    sections = [idle_memory.summarize(results), *peak.summarize(results), paced.summarize(results)]
    sections += [page_latency.summarize(results), big_body.summarize(results), storm.summarize(results)]
    sections += [history.summarize(results), _correctness(results), _errors(results)]
    checks = []
    for section in sections:
        if section.lines:
            out += ["", section.title, *section.lines]
        checks += section.checks
    return out, checks


def _correctness(results: Results) -> report.Section:
    section = report.Section("Correctness of the shared servers (the others are checked in their sections)")
    for db in results.dbs:
        accounts = results.accounting.get(db, [])
        for a in accounts:
            section.add(f"  bridge-{db:<11} {a.line()}")
        if accounts:
            ok = not any(a.problems for a in accounts)
            section.checks.append(
                targets.Check(
                    "correctness",
                    "no non-2xx, every acknowledged alert stored",
                    db,
                    "ok" if ok else "FAILED",
                    ok,
                )
            )
    for note in results.notes:
        section.add(f"  {note}")
    if results.notes:
        section.checks.append(
            targets.Check("correctness", "parse-only answered every request 2xx", "-", "FAILED", False)
        )
    return section


def _errors(results: Results) -> report.Section:
    section = report.Section("Scenarios that stopped on an error (their logs are in the progress output)")
    for scenario, db, run, what in results.errors:
        when = f"run {run}" if run else "while writing its database"
        section.add(f"  {scenario} on {db}, {when}: {what}")
        section.checks.append(targets.Check(scenario, "ran to completion", db, what[:60], False))
    return section


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    servers: list[Server] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp_name:
            try:
                return run(args, Path(tmp_name), servers)
            finally:
                for server in servers:
                    server.stop()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, tmp: Path, servers: list[Server]) -> int:
    found = None if args.load_generator == "python" else wrk.ensure_wrk()
    if args.load_generator == "wrk" and found is None:
        raise SystemExit("wrk is not installed and could not be installed")
    payloads = build_pool()
    lua = {}
    if found:
        for size, p in payloads.items():
            lua[size] = tmp / f"bodies-{size}.lua"
            wrk.write_lua(lua[size], p.bodies)
    plan = Plan(
        found, args.duration, args.warmup, args.levels, payloads, lua, args.runs, args.quick,
        args.paging == "sink", args.pg_admin_url, tmp, servers,
    )  # fmt: skip
    print("\n".join(header(args, plan)), flush=True)
    dbs = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    results = run_all(plan, args.selected, dbs)
    lines, checks = render(results, plan)
    lines += [
        "",
        f"Targets{' (worst of the runs)' if plan.runs > 1 else ''}",
        *targets.table(checks, plan.runs),
    ]
    lines.append(f"machine at the end: {machine_line()}")
    print("\n".join(lines), flush=True)
    progress("done")
    return 1 if any(c.ok is False for c in checks) else 0
