"""Throughput and latency of POST /webhooks/alertmanager, measured against a parse-only ceiling.

    .venv/bin/python bench/webhook_bench.py [--db sqlite|postgresql|both] [--duration SECONDS]
                                            [--concurrency 1,4,16,32,64] [--quick]
                                            [--only page-latency]

Starts incident-bridge (`incident-bridge serve`) on a fresh database, a fresh SQLite file or a
new PostgreSQL database dropped at the end, and a bare FastAPI app that only validates the
payload (bench/parse_only_app.py), both with the same uvicorn settings. Drives them with wrk (or
an asyncio generator when wrk is missing) using pre-built Alertmanager 0.25 bodies of 1 and 10
alerts, then prints requests/s, alerts/s, p50/p99 latency and every non-2xx answer, the peak
against the parse-only ceiling, a paced run at half the peak rate, the page latency (webhook
answer to page at the local sink, idle and under load; bench/page_latency.py), and PASS/FAIL
against the targets. bench/README.md explains how to read the output.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import math
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import page_latency  # bench/page_latency.py, next to this script
import yaml

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
_VENV_BIN = ROOT / ".venv" / "bin"
BIN = _VENV_BIN if (_VENV_BIN / "incident-bridge").exists() else Path(sys.executable).parent
HOST = "127.0.0.1"
WEBHOOK_PATH = "/webhooks/alertmanager"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

# Targets the SQLite deployment must meet (one process, one uvicorn worker, 2 cores).
TARGET_ALERTS_1 = 1_000  # alerts/s with 1-alert bodies
TARGET_ALERTS_10 = 3_000  # alerts/s with 10-alert bodies
TARGET_P99_MS = 50.0  # p99 at half the peak request rate

DEFAULT_LEVELS = (1, 4, 16, 32, 64)
QUICK_LEVELS = (1, 16, 64)
PACED_MAX_CONNECTIONS = 512  # open loop: connections are opened as needed, up to this

# --------------------------------------------------------------------------------------------
# Payloads: Alertmanager 0.25 webhook bodies (version 4), deterministic for a given seed.
# --------------------------------------------------------------------------------------------

SEED = 20261127
N_MODELS = 200
N_GROUPS = 500  # notification groups: (alertname, model, cluster), 10 alert series each
SERIES_PER_GROUP = 10  # so 5,000 distinct fingerprints
BODY_COUNT = {1: 6000, 10: 1500}  # bodies replayed in a cycle, per body size
RESOLVED_EVERY = 10  # every 10th body resolves alerts that fired before
BASE_TIME = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
EXTERNAL_URL = "http://alertmanager.monitoring.svc:9093"


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


DOMAINS = {
    "fraud": "risk-ml",
    "credit": "risk-ml",
    "kyc": "risk-ml",
    "churn": "growth-ml",
    "ltv": "growth-ml",
    "ads-ctr": "growth-ml",
    "pricing": "marketplace-ml",
    "demand": "marketplace-ml",
    "eta": "marketplace-ml",
    "matching": "marketplace-ml",
    "routing": "marketplace-ml",
    "forecast": "marketplace-ml",
    "search": "search-ml",
    "ranking": "search-ml",
    "recsys": "search-ml",
    "spam": "trust-safety-ml",
    "toxicity": "trust-safety-ml",
    "moderation": "trust-safety-ml",
    "anomaly": "ml-platform",
    "ocr": "ml-platform",
    "asr": "ml-platform",
    "translation": "nlp-ml",
    "sentiment": "nlp-ml",
    "support-llm": "nlp-ml",
    "summarizer": "nlp-ml",
}
MODEL_SUFFIXES = (
    "scorer",
    "model",
    "classifier",
    "ranker",
    "v2",
    "v3",
    "canary",
    "gbm",
    "transformer",
    "lite",
)
CLUSTERS = words(
    "prod-eu-west-1 prod-eu-central-1 prod-us-east-1 prod-us-west-2 prod-ap-southeast-1 staging-eu-west-1"
)
SEGMENTS = words("all new-users returning-users mobile web eu us apac latam enterprise smb high-value")
FEATURES = words(
    "tenure amount country device_type account_age_days txn_count_24h avg_basket "
    "merchant_category hour_of_day session_length clicks_7d email_domain credit_limit "
    "utilization days_since_login num_products support_tickets_30d price_delta distance_km "
    "query_length embedding_norm lang browser ip_risk velocity_1h refund_ratio age_band "
    "income_band region plan"
)
PIPELINES = words(
    "features-hourly features-daily labels-daily embeddings-refresh reference-window "
    "training-snapshot ground-truth-join clickstream-agg feature-store-sync backfill-daily "
    "scores-export drift-monitor-input"
)
PROTECTED_GROUPS = words(
    "age-18-25 age-65-plus female male non-binary rural urban lang-es lang-fr lang-en disability veteran"
)
HARM_CATEGORIES = words(
    "toxicity self-harm violence pii-leak medical-advice jailbreak hate sexual misinformation "
    "copyright financial-advice"
)
PROVIDERS = ("llm-gateway-a", "llm-gateway-b", "vision-api", "speech-api", "embeddings-api")


@dataclass(frozen=True)
class AlertKind:
    """One alerting rule as Prometheus would evaluate it, and how its series differ."""

    alertname: str
    weight: int
    severities: tuple[str, ...]
    job: str
    member: str  # the label that differs between the alerts of one notification group
    members: tuple[str, ...]  # its values; empty: generated pod addresses for `instance`
    expr: str  # {model} is filled in
    description: str  # {model}, {member} and {value} are filled in
    value: tuple[float, float]
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()  # labels fixed per group


KINDS = (
    AlertKind(
        "ModelAccuracyDrop",
        12,
        ("warning", "critical"),
        "model-monitor",
        "segment",
        SEGMENTS,
        'model_accuracy{{model="{model}"}} < 0.92',
        "Online accuracy of {model} on segment {member} is {value:.3f}, below the 0.92 baseline.",
        (0.70, 0.919),
    ),
    AlertKind(
        "FeatureDrift",
        16,
        ("warning", "warning", "critical"),
        "model-monitor",
        "feature",
        FEATURES,
        'feature_psi{{model="{model}"}} > 0.2',
        "Population stability index of feature {member} for {model} is {value:.2f} (threshold 0.20).",
        (0.2, 0.9),
    ),
    AlertKind(
        "PredictionDrift",
        10,
        ("warning", "critical"),
        "model-monitor",
        "segment",
        SEGMENTS,
        'prediction_js_distance{{model="{model}"}} > 0.1',
        "Prediction distribution of {model} on {member} moved: JS distance {value:.3f}.",
        (0.1, 0.5),
    ),
    AlertKind(
        "DataPipelineStale",
        8,
        ("warning", "critical"),
        "pipeline-exporter",
        "pipeline",
        PIPELINES,
        'time() - pipeline_last_success_timestamp_seconds{{model="{model}"}} > 3600',
        "Pipeline {member} feeding {model} last succeeded {value:.0f} minutes ago (SLA 60).",
        (61, 600),
    ),
    AlertKind(
        "DataPipelineFailed",
        4,
        ("warning",),
        "pipeline-exporter",
        "pipeline",
        PIPELINES,
        'pipeline_last_run_failed{{model="{model}"}} == 1',
        "The last run of pipeline {member} feeding {model} failed ({value:.0f} retries).",
        (1, 5),
    ),
    AlertKind(
        "ModelServingErrors",
        12,
        ("warning", "critical"),
        "model-serving",
        "instance",
        (),
        'sum by (instance) (rate(inference_errors_total{{model="{model}"}}[5m])) > 0.05',
        "{value:.1%} of inference requests to {model} on {member} fail (SLO 1%).",
        (0.05, 0.6),
    ),
    AlertKind(
        "ModelServingLatencyHigh",
        12,
        ("warning",),
        "model-serving",
        "instance",
        (),
        'histogram_quantile(0.99, rate(inference_seconds_bucket{{model="{model}"}}[5m])) > 0.5',
        "p99 inference latency of {model} on {member} is {value:.2f}s (SLO 0.5s).",
        (0.5, 4.0),
    ),
    AlertKind(
        "ThirdPartyModelAPIErrors",
        6,
        ("warning", "critical"),
        "model-serving",
        "instance",
        (),
        'rate(provider_call_errors_total{{model="{model}"}}[5m]) > 1',
        "{model} on {member} gets {value:.1f} errors/s from its model provider.",
        (1, 40),
        (("provider", PROVIDERS),),
    ),
    AlertKind(
        "FairnessViolation",
        5,
        ("warning", "critical"),
        "fairness-monitor",
        "protected_group",
        PROTECTED_GROUPS,
        'abs(demographic_parity_gap{{model="{model}"}}) > 0.1',
        "Demographic parity gap of {model} for group {member} is {value:.3f} (limit 0.10).",
        (0.1, 0.3),
    ),
    AlertKind(
        "DisparateImpactRatioLow",
        3,
        ("warning", "critical"),
        "fairness-monitor",
        "group",
        PROTECTED_GROUPS,
        'disparate_impact_ratio{{model="{model}"}} < 0.8',
        "Disparate impact ratio of {model} for group {member} is {value:.2f} (four-fifths rule).",
        (0.4, 0.79),
    ),
    AlertKind(
        "HarmfulOutputRate",
        4,
        ("warning", "critical"),
        "llm-guard",
        "category",
        HARM_CATEGORIES,
        'rate(llm_guard_flagged_total{{model="{model}"}}[15m]) > 0.01',
        "{value:.2%} of {model} outputs were flagged as {member}.",
        (0.01, 0.2),
    ),
    # Matches no shipped rule: exercises the catch-all classification.
    AlertKind(
        "ModelCanaryMismatch",
        2,
        ("warning",),
        "model-serving",
        "instance",
        (),
        'canary_prediction_mismatch_ratio{{model="{model}"}} > 0.05',
        "Canary of {model} on {member} disagrees with the stable model on {value:.1%} of requests.",
        (0.05, 0.5),
    ),
)


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    fingerprint: str
    member: str


@dataclass(frozen=True)
class Group:
    kind: AlertKind
    model: str
    cluster: str
    series: tuple[Series, ...]


@dataclass
class Payloads:
    bodies: list[bytes]
    alerts_per_body: int
    mix: Counter[str]

    @property
    def mean_bytes(self) -> float:
        return sum(map(len, self.bodies)) / len(self.bodies)


def fingerprint(labels: dict[str, str]) -> str:
    """Prometheus' LabelSet.Fingerprint(): FNV-1a 64 over sorted names and values, 0xff-separated."""
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode():
                h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
            h = ((h ^ 0xFF) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def go_time(ns: int) -> str:
    """An offset in nanoseconds from BASE_TIME, formatted as Go's RFC3339Nano (UTC)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    text = (BASE_TIME + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def build_groups(rng: random.Random) -> list[Group]:
    names = [f"{domain}-{suffix}" for domain in DOMAINS for suffix in MODEL_SUFFIXES]
    models = sorted(rng.sample(names, N_MODELS))
    weights = list(itertools.accumulate(kind.weight for kind in KINDS))
    groups: list[Group] = []
    seen: set[tuple[str, str, str]] = set()
    while len(groups) < N_GROUPS:
        kind = rng.choices(KINDS, cum_weights=weights)[0]
        model, cluster = rng.choice(models), rng.choice(CLUSTERS)
        if (kind.alertname, model, cluster) in seen:
            continue
        seen.add((kind.alertname, model, cluster))
        common = {
            "alertname": kind.alertname,
            "cluster": cluster,
            "job": kind.job,
            "model": model,
            "severity": rng.choice(kind.severities),
            "team": DOMAINS[model.rsplit("-", 1)[0]],
        }
        common.update({name: rng.choice(choices) for name, choices in kind.extra})
        if kind.members:
            members = rng.sample(kind.members, SERIES_PER_GROUP)
            common["instance"] = f"{kind.job}-{rng.randrange(6)}.monitoring.svc:9102"
        else:
            subnet = f"10.{rng.randrange(16, 250)}.{rng.randrange(256)}"
            hosts = rng.sample(range(2, 254), SERIES_PER_GROUP)
            members = [f"{subnet}.{host}:8080" for host in hosts]
        series = []
        for member in members:
            labels = dict(sorted({**common, kind.member: member}.items()))
            series.append(Series(labels, fingerprint(labels), member))
        groups.append(Group(kind, model, cluster, tuple(series)))
    fingerprints = {s.fingerprint for g in groups for s in g.series}
    if len(fingerprints) != N_GROUPS * SERIES_PER_GROUP:
        raise SystemExit("fingerprints of the payload pool are not unique")
    return groups


def _intersection(dicts: Sequence[dict[str, str]]) -> dict[str, str]:
    first, rest = dicts[0], dicts[1:]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in rest)}


def render_body(
    group: Group,
    series: Sequence[Series],
    status: str,
    starts: Sequence[int],
    ends: int | None,
    rng: random.Random,
) -> bytes:
    kind = group.kind
    expr = kind.expr.format(model=group.model)
    generator_url = (
        f"http://prometheus-{group.cluster}.monitoring.svc:9090/graph?g0.expr={quote(expr, safe='')}&g0.tab=1"
    )
    alerts = []
    for s, start in zip(series, starts, strict=True):
        value = rng.uniform(*kind.value)
        annotations = {
            "description": kind.description.format(model=group.model, member=s.member, value=value),
            "runbook_url": f"https://runbooks.example.com/alerts/{kind.alertname}",
            "summary": f"{kind.alertname} on {group.model} ({kind.member}={s.member})",
        }
        alerts.append(
            {
                "status": status,
                "labels": s.labels,
                "annotations": annotations,
                "startsAt": go_time(start),
                "endsAt": go_time(ends) if ends is not None else GO_ZERO_TIME,
                "generatorURL": generator_url,
                "fingerprint": s.fingerprint,
            }
        )
    group_by = (
        ["alertname", "cluster", "model"]
        if len(series) > 1
        else ["alertname", "cluster", "model", kind.member]
    )
    group_labels = {k: series[0].labels[k] for k in sorted(group_by)}
    body = {
        "receiver": "incident-bridge",
        "status": status,
        "alerts": alerts,
        "groupLabels": group_labels,
        "commonLabels": _intersection([a["labels"] for a in alerts]),
        "commonAnnotations": _intersection([a["annotations"] for a in alerts]),
        "externalURL": EXTERNAL_URL,
        "version": "4",
        "groupKey": "{}:{" + ", ".join(f'{k}="{v}"' for k, v in group_labels.items()) + "}",
        "truncatedAlerts": 0,
    }
    # Alertmanager encodes with Go's json.Encoder: compact, ending in a newline.
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def build_payloads(groups: list[Group], per_body: int, count: int, rng: random.Random) -> Payloads:
    """Simulate Alertmanager notifications: first firings, repeats every group_interval, resolves."""
    if per_body == 1:
        units = [(g, (s,)) for g in groups for s in g.series]
    elif per_body == SERIES_PER_GROUP:
        units = [(g, g.series) for g in groups]
    else:
        raise ValueError(f"bodies of {per_body} alerts are not supported")
    # A few noisy groups notify far more often than the rest, as in real deployments.
    cum = list(itertools.accumulate(rng.lognormvariate(0.0, 1.2) for _ in units))
    active: list[int] = []  # units whose alerts are firing (starts: since when, per alert)
    position: dict[int, int] = {}
    starts: dict[int, list[int]] = {}
    now = 3600 * 1_000_000_000
    mix: Counter[str] = Counter()
    bodies = []
    for index in range(count):
        now += rng.randrange(5_000_000, 60_000_000)
        if index % RESOLVED_EVERY == RESOLVED_EVERY - 1 and active:
            unit = active[rng.randrange(len(active))]
            last = active.pop()  # swap-remove
            if last != unit:
                active[position[unit]] = last
                position[last] = position[unit]
            del position[unit]
            group, series = units[unit]
            bodies.append(render_body(group, series, "resolved", starts.pop(unit), now, rng))
            mix["resolved (alerts fired before)"] += 1
            continue
        unit = bisect.bisect_right(cum, rng.random() * cum[-1])
        unit = min(unit, len(units) - 1)
        group, series = units[unit]
        if unit in position:
            mix["firing, repeat notification"] += 1
        else:
            position[unit] = len(active)
            active.append(unit)
            starts[unit] = [
                now - rng.randrange(60, 900) * 1_000_000_000 - rng.randrange(10**9) for _ in series
            ]
            mix["firing, first notification"] += 1
        bodies.append(render_body(group, series, "firing", starts[unit], None, rng))
    return Payloads(bodies, per_body, mix)


def validate_payloads(payloads: Payloads) -> None:
    """Every body must pass the service's own schema, or the benchmark measures 422s."""
    from app.alerts.schemas import AlertmanagerWebhook

    for body in payloads.bodies:
        parsed = AlertmanagerWebhook.model_validate_json(body)
        if len(parsed.alerts) != payloads.alerts_per_body:
            raise SystemExit("a generated body has the wrong number of alerts")


# --------------------------------------------------------------------------------------------
# Load generators: wrk with a Lua script (cheap), or asyncio on raw streams (fallback, paced).
# --------------------------------------------------------------------------------------------

LUA_DRIVER = r"""
local headers = {["Content-Type"] = "application/json", ["User-Agent"] = "Alertmanager/0.25.0"}
local prepared = {}
local threads = {}
counter = 0
non2xx = 0
first_error = ""

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counter = tonumber(args[1]) or 0
  for i = 1, #bodies do
    prepared[i] = wrk.format("POST", "/webhooks/alertmanager", headers, bodies[i])
  end
end

function request()
  local r = prepared[(counter % #prepared) + 1]
  counter = counter + 1
  return r
end

function response(status, _, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_error == "" then
      first_error = status .. " " .. string.gsub(string.sub(body or "", 1, 200), "%s+", " ")
    end
  end
end

function done(summary, latency, _)
  local bad, sent, example = 0, 0, ""
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    sent = math.max(sent, t:get("counter"))
    if example == "" then example = t:get("first_error") end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d non2xx=%d next=%d connect=%d read=%d write=%d timeout=%d " ..
    "p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f\n",
    summary.requests, summary.duration, bad, sent, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  if example ~= "" then io.write("BENCH_ERROR " .. example .. "\n") end
end
"""


def write_lua(path: Path, bodies: Sequence[bytes]) -> None:
    """The bodies as a Lua table of long strings, followed by the wrk driver."""
    level = 1
    while any(b"]" + b"=" * level + b"]" in body for body in bodies):
        level += 1
    opening, closing = "[" + "=" * level + "[", "]" + "=" * level + "]"
    with path.open("w") as out:
        out.write("-- Generated by bench/webhook_bench.py: Alertmanager bodies replayed in order.\n")
        out.write("bodies = {\n")
        for body in bodies:
            out.write(f"{opening}{body.decode()}{closing},\n")
        out.write("}\n")
        out.write(LUA_DRIVER)


@dataclass
class LoadResult:
    requests: int  # answers received in the measured window
    seconds: float
    non2xx: int
    errors: int  # connect/read/write errors and timeouts
    p50_ms: float
    p99_ms: float
    next_offset: int
    first_error: str = ""
    send_lag_p99_ms: float | None = None  # paced runs: how late the generator sent
    peak_connections: int = 0  # paced runs: connections open at most


def ensure_wrk() -> str | None:
    path = shutil.which("wrk")
    if path:
        return path
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("wrk not found; trying apt-get install -y wrk", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "wrk"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=300,
                check=False,
            )
    return shutil.which("wrk")


_BENCH_LINE = re.compile(r"^BENCH (.*)$", re.M)
_BENCH_ERROR = re.compile(r"^BENCH_ERROR (.*)$", re.M)


def run_wrk(wrk: str, lua: Path, port: int, connections: int, seconds: int, offset: int) -> LoadResult:
    cmd = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(lua),
        f"http://{HOST}:{port}{WEBHOOK_PATH}",
        "--",
        str(offset),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=seconds + 120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    match = _BENCH_LINE.search(out)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{out}\n{err}")
    v = {k: float(x) for k, x in (item.split("=") for item in match.group(1).split())}
    error = _BENCH_ERROR.search(out)
    return LoadResult(
        requests=int(v["requests"]),
        seconds=v["duration_us"] / 1e6,
        non2xx=int(v["non2xx"]),
        errors=int(v["connect"] + v["read"] + v["write"] + v["timeout"]),
        p50_ms=v["p50_us"] / 1e3,
        p99_ms=v["p99_us"] / 1e3,
        next_offset=int(v["next"]),
        first_error=error.group(1) if error else "",
    )


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)


def http_requests(bodies: Sequence[bytes], port: int) -> list[bytes]:
    return [
        (
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: Alertmanager/0.25.0\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = _CONTENT_LENGTH.search(head)
    if match is None:
        raise ValueError("answer without Content-Length")
    return status, await reader.readexactly(int(match.group(1)))


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, round(q / 100 * (len(sorted_values) - 1)))]


class _Tally:
    """What one generator run saw; latencies in milliseconds."""

    def __init__(self, offset: int) -> None:
        self.latencies: list[float] = []
        self.lags: list[float] = []
        self.non2xx = self.errors = 0
        self.next = offset
        self.first_error = ""
        self.connections = self.peak_connections = 0

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"

    def answer(self, status: int, body: bytes, latency: float) -> None:
        self.latencies.append(latency * 1e3)
        if not 200 <= status <= 299:
            self.non2xx += 1
            self.first_error = self.first_error or f"{status} {body[:200].decode(errors='replace')}"

    def result(self, seconds: float, paced: bool) -> LoadResult:
        self.latencies.sort()
        self.lags.sort()
        return LoadResult(
            requests=len(self.latencies),
            seconds=seconds,
            non2xx=self.non2xx,
            errors=self.errors,
            p50_ms=percentile(self.latencies, 50),
            p99_ms=percentile(self.latencies, 99),
            next_offset=self.next,
            first_error=self.first_error,
            send_lag_p99_ms=percentile(self.lags, 99) if paced else None,
            peak_connections=self.peak_connections,
        )


# uvloop's loop.time() advances in whole milliseconds: time requests with perf_counter instead.
clock = time.perf_counter
IDLE_REUSE_SECONDS = 2.0
_NETWORK_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _closed_loop(
    port: int, requests: Sequence[bytes], tally: _Tally, connections: int, seconds: float
) -> None:
    """Each connection sends its next request as soon as it has the answer to the last one."""
    stop = clock() + seconds
    counter = itertools.count(tally.next)

    async def worker() -> None:
        conn: Connection | None = None
        try:
            while clock() < stop:
                index = next(counter)
                tally.next = max(tally.next, index + 1)
                sent = clock()
                try:
                    if conn is None:
                        conn = await asyncio.open_connection(HOST, port)
                    status, body = await _exchange(*conn, requests[index % len(requests)])
                except _NETWORK_ERRORS as exc:
                    tally.error(exc)
                    if conn is not None:
                        conn[1].close()
                    conn = None
                    continue
                tally.answer(status, body, clock() - sent)
        finally:
            if conn is not None:
                conn[1].close()

    await asyncio.gather(*(worker() for _ in range(connections)))


async def _open_loop(
    port: int, requests: Sequence[bytes], tally: _Tally, rate: float, seconds: float, max_connections: int
) -> None:
    """Requests leave on a fixed schedule whatever the answers do, on idle keep-alive connections
    or new ones (up to max_connections). Latency counts from the scheduled send time, so a server
    that falls behind is charged for the queueing it causes; the send lag shows how late the
    generator itself was."""
    idle: list[tuple[Connection, float]] = []  # with the time each was last used
    slots = asyncio.Semaphore(max_connections)

    def reuse() -> Connection | None:
        # Like any HTTP client: never reuse a connection the server may have closed as idle
        # (uvicorn's keep-alive timeout is 5 s) or has closed already.
        while idle:
            conn, used = idle.pop()
            if clock() - used < IDLE_REUSE_SECONDS and not conn[0].at_eof():
                return conn
            conn[1].close()
            tally.connections -= 1
        return None

    async def one(index: int, due: float) -> None:
        async with slots:
            try:
                conn = reuse()
                if conn is None:
                    conn = await asyncio.open_connection(HOST, port)
                    tally.connections += 1
                    tally.peak_connections = max(tally.peak_connections, tally.connections)
            except OSError as exc:
                tally.error(exc)
                return
            tally.lags.append((clock() - due) * 1e3)
            try:
                status, body = await _exchange(*conn, requests[index % len(requests)])
            except _NETWORK_ERRORS as exc:
                tally.error(exc)
                conn[1].close()
                tally.connections -= 1
                return
            tally.answer(status, body, clock() - due)
            idle.append((conn, clock()))

    for _ in range(min(16, max_connections)):  # a few warm connections, as a client would have
        with contextlib.suppress(OSError):
            idle.append((await asyncio.open_connection(HOST, port), clock()))
            tally.connections += 1
    tally.peak_connections = tally.connections
    tasks: set[asyncio.Task[None]] = set()
    start = clock() + 0.01
    for n in itertools.count():
        due = start + n / rate
        if due >= start + seconds:
            break
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(tally.next, due))
        tally.next += 1
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    for (_, writer), _ in idle:
        writer.close()


async def _python_load(
    port: int,
    requests: Sequence[bytes],
    offset: int,
    connections: int,
    seconds: float,
    rate: float | None,
) -> LoadResult:
    tally = _Tally(offset)
    if rate is None:
        await _closed_loop(port, requests, tally, connections, seconds)
    else:
        await _open_loop(port, requests, tally, rate, seconds, connections)
    return tally.result(seconds, paced=rate is not None)


def run_python(
    port: int,
    requests: Sequence[bytes],
    offset: int,
    connections: int,
    seconds: float,
    rate: float | None = None,
) -> LoadResult:
    coro = _python_load(port, requests, offset, connections, seconds, rate)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# --------------------------------------------------------------------------------------------
# Processes: the servers under test, CPU accounting, PostgreSQL databases.
# --------------------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _stat_cpu(path: str) -> float:
    with open(path) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL process, by pid."""
    cpu = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            cpu[int(entry)] = _stat_cpu(f"/proc/{entry}/stat")
        except (OSError, ValueError, IndexError):
            continue
    return cpu


def host_busy() -> float:
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICK  # everything but idle and iowait


@dataclass
class CpuSample:
    wall: float
    server: float
    server_main: float
    postgres: dict[int, float]
    host: float
    generator: float

    @classmethod
    def take(cls, pid: int, with_postgres: bool) -> CpuSample:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        generator = children.ru_utime + children.ru_stime + me.ru_utime + me.ru_stime
        return cls(
            wall=time.monotonic(),
            server=_stat_cpu(f"/proc/{pid}/stat"),
            server_main=_stat_cpu(f"/proc/{pid}/task/{pid}/stat"),
            postgres=postgres_cpu() if with_postgres else {},
            host=host_busy(),
            generator=generator,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A server under test, in its own process group, logging to a file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.name, self.cmd, self.env, self.port, self.log = name, cmd, env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 90.0) -> None:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                cwd=self.log.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                self.check_alive()
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.base_url}/readyz").status_code == 200:
                        return
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s\n{self.log_tail()}")

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def server_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(
        {
            "BRIDGE_RULES_DIR": str(ROOT / "rules"),  # run_bridge passes its loopback copy
            "BRIDGE_RUNBOOKS_DIR": str(ROOT / "runbooks"),
            "BRIDGE_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


_URL = re.compile(r"^https?://", re.I)


def _redirect(value: Any, sink_url: str) -> tuple[Any, int]:
    """`value` with every http(s) URL in it pointed at the sink (host and path kept in the path)."""
    if isinstance(value, str) and _URL.match(value):
        parts = urlsplit(value)
        return f"{sink_url}/{parts.hostname}{parts.path}", 1
    if isinstance(value, dict):
        pairs = [(k, _redirect(v, sink_url)) for k, v in value.items()]
        return {k: v for k, (v, _) in pairs}, sum(n for _, (_, n) in pairs)
    if isinstance(value, list):
        items = [_redirect(v, sink_url) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    return value, 0


def prepare_rules(dest: Path, sink_url: str | None) -> int:
    """Copy rules/ to `dest` so that paging stays on this machine.

    With a sink, every http(s) destination of the on-call configuration (Slack, PagerDuty and
    webhook contacts) is pointed at it; without one, the on-call sections are left out, so
    nothing pages. Returns how many URLs were redirected.
    """
    try:
        from app.oncall.config import SECTIONS as oncall_sections
    except ImportError:
        oncall_sections = {}
    dest.mkdir(parents=True)
    redirected = 0
    for src in sorted((ROOT / "rules").iterdir()):
        if not src.is_file():
            continue
        if src.suffix not in (".yaml", ".yml"):
            shutil.copy2(src, dest / src.name)
            continue
        data = yaml.safe_load(src.read_text())
        if sink_url is None and isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in oncall_sections}
            if not data:
                continue
        data, n = _redirect(data, sink_url or "http://127.0.0.1:9")
        redirected += n
        (dest / src.name).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return redirected


def loopback_settings(sink_url: str | None, smtp_port: int | None) -> dict[str, str]:
    """Environment pointing every outbound destination the service has a default for (such as
    the PagerDuty events URL) and SMTP at the sink; without a sink, at a closed local port."""
    from app.config import Settings

    env = {}
    for name, info in Settings.model_fields.items():
        default = info.default
        if isinstance(default, str) and _URL.match(default):
            parts = urlsplit(default)
            if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                target = sink_url or "http://127.0.0.1:9"
                env[f"BRIDGE_{name.upper()}"] = f"{target}/{parts.hostname}{parts.path}"
    if "smtp_host" in Settings.model_fields:
        env["BRIDGE_SMTP_HOST"] = HOST
        env["BRIDGE_SMTP_PORT"] = str(smtp_port or 9)
    return env


def scrape(base_url: str) -> dict[str, float]:
    """The intake series of the service's /metrics, summed over labels where noted."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    out: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        if name.startswith("bridge_alerts_received_total"):
            out["alerts"] += float(value)
        elif name == "bridge_intake_batch_requests_sum":
            out["batch_sum"] = float(value)
        elif name == "bridge_intake_batch_requests_count":
            out["batch_count"] = float(value)
        elif name.startswith("bridge_webhook_requests_total{"):
            code = re.search(r'code="(\d+)"', name)
            if code:
                out[f"code_{code.group(1)}"] += float(value)
    return dict(out)


# --------------------------------------------------------------------------------------------
# Measurements and the report.
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    target: str
    alerts_per_body: int
    load: str  # connection count, or "paced N/s"
    result: LoadResult
    cpu: dict[str, float]
    batch: float | None  # requests per commit (bridge only)

    @property
    def rps(self) -> float:
        return self.result.requests / self.result.seconds

    @property
    def alerts_s(self) -> float:
        return self.rps * self.alerts_per_body


@dataclass
class Target:
    name: str
    server: Server
    is_bridge: bool
    with_postgres: bool = False
    offsets: dict[int, int] = field(default_factory=lambda: {1: 0, 10: 0})
    warmup_non2xx: int = 0
    warmup_errors: int = 0
    acked_alerts: int = 0  # alerts in 2xx answers the clients received (warm-ups included)
    rows: list[Row] = field(default_factory=list)


@dataclass
class Plan:
    wrk: str | None
    duration: int
    warmup: int
    levels: tuple[int, ...]
    payloads: dict[int, Payloads]
    lua: dict[int, Path]
    only: str | None = None  # "page-latency": that measurement alone


def _load(
    plan: Plan, target: Target, size: int, connections: int, seconds: int, rate: float | None
) -> LoadResult:
    offset = target.offsets[size]
    if plan.wrk and rate is None:
        result = run_wrk(plan.wrk, plan.lua[size], target.server.port, connections, seconds, offset)
    else:
        requests = http_requests(plan.payloads[size].bodies, target.server.port)
        result = run_python(target.server.port, requests, offset, connections, seconds, rate)
    target.offsets[size] = result.next_offset
    target.acked_alerts += (result.requests - result.non2xx) * size
    if result.first_error:
        print(f"    ! {target.name}: {result.first_error}", file=sys.stderr)
    return result


def measure(plan: Plan, target: Target, size: int, connections: int, rate: float | None = None) -> Row:
    warm = _load(plan, target, size, connections, plan.warmup, rate)
    target.warmup_non2xx += warm.non2xx
    target.warmup_errors += warm.errors
    target.server.check_alive()
    before_metrics = scrape(target.server.base_url) if target.is_bridge else {}
    before = CpuSample.take(target.server.pid, target.with_postgres)
    result = _load(plan, target, size, connections, plan.duration, rate)
    after = CpuSample.take(target.server.pid, target.with_postgres)
    target.server.check_alive()
    batch = None
    if target.is_bridge:
        after_metrics = scrape(target.server.base_url)
        commits = after_metrics.get("batch_count", 0) - before_metrics.get("batch_count", 0)
        if commits:
            batch = (after_metrics.get("batch_sum", 0) - before_metrics.get("batch_sum", 0)) / commits
    wall = after.wall - before.wall

    def pct(a: float, b: float) -> float:
        return 100 * (a - b) / wall

    cpu = {
        "loop": pct(after.server_main, before.server_main),
        "other": pct(after.server - after.server_main, before.server - before.server_main),
        # backends that exited in between are lost; the rest count from their first sample
        "pg": pct(sum(v - before.postgres.get(pid, 0.0) for pid, v in after.postgres.items()), 0.0),
        "gen": pct(after.generator, before.generator),
        "host": pct(after.host, before.host),
    }
    load = f"paced {rate:,.0f}/s" if rate else str(connections)
    row = Row(target.name, size, load, result, cpu, batch)
    target.rows.append(row)
    print(
        f"  {target.name:<18} {size:>2} alert(s)  {load:>14}  {row.rps:>8,.0f} req/s  "
        f"{row.alerts_s:>8,.0f} alerts/s  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms  "
        f"non-2xx {result.non2xx}  errors {result.errors}",
        file=sys.stderr,
        flush=True,
    )
    return row


NOISE_PCT = 50  # CPU % used outside the measured processes that marks a run as disturbed
HEADER = (
    f"{'target':<18} {'alerts':>6} {'conc':>14} {'req/s':>8} {'alerts/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
    f"{'non-2xx':>7} {'errors':>6} {'batch':>6} {'srv cpu% loop+other':>19} {'pg%':>4} {'gen%':>4} "
    f"{'host%':>5}"
)


def format_row(row: Row) -> str:
    r, c = row.result, row.cpu
    batch = f"{row.batch:.1f}" if row.batch is not None else "-"
    srv = f"{max(0.0, c['loop']):.0f}+{max(0.0, c['other']):.0f}"
    pg = f"{c['pg']:.0f}" if row.target.endswith("postgresql") else "-"
    elsewhere = c["host"] - c["loop"] - c["other"] - c["pg"] - c["gen"]
    host = f"{c['host']:.0f}" + ("!" if elsewhere > NOISE_PCT else "")
    return (
        f"{row.target:<18} {row.alerts_per_body:>6} {row.load:>14} {row.rps:>8,.0f} {row.alerts_s:>9,.0f} "
        f"{r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.non2xx:>7} {r.errors:>6} {batch:>6} {srv:>19} {pg:>4} "
        f"{c['gen']:>4.0f} {host:>5}"
    )


def sweep(plan: Plan, target: Target) -> None:
    for size in (1, 10):
        for connections in plan.levels:
            measure(plan, target, size, connections)


def peak(target: Target, size: int) -> Row:
    rows = [r for r in target.rows if r.alerts_per_body == size and not r.load.startswith("paced")]
    return max(rows, key=lambda r: r.alerts_s)


@dataclass
class BridgeReport:
    target: Target
    open_incidents: int
    all_incidents: int
    server_alerts: float
    codes: dict[str, float]
    paced: dict[int, Row]
    pages: dict[str, int]  # deliveries the notification sink received, by protocol
    latency: list[page_latency.Phase]  # idle, under load; empty without paging

    @property
    def non2xx(self) -> int:
        return sum(r.result.non2xx for r in self.target.rows) + self.target.warmup_non2xx

    @property
    def errors(self) -> int:
        return sum(r.result.errors for r in self.target.rows) + self.target.warmup_errors

    @property
    def accounted(self) -> bool:
        """Every alert acknowledged with a 2xx was committed (the server may have committed more:
        requests still in flight when a run stopped)."""
        return self.server_alerts >= self.target.acked_alerts

    @property
    def problems(self) -> list[str]:
        found = []
        if self.open_incidents <= 0:
            found.append("no open incidents")
        if self.non2xx:
            found.append(f"{self.non2xx} non-2xx answers")
        if self.errors:
            found.append(f"{self.errors} socket errors/timeouts")
        if not self.accounted:
            found.append("fewer alerts committed than acknowledged")
        return found + [problem for phase in self.latency for problem in phase.problems]

    @property
    def correct(self) -> bool:
        return not self.problems


def start_sink(tmp: Path, servers: list[Server]) -> tuple[Server, int]:
    http_port, smtp_port = free_port(), free_port()
    sink = Server(
        "notification-sink",
        [
            str(BIN / "python"),
            str(BENCH_DIR / "notification_sink.py"),
            "--http-port",
            str(http_port),
            "--smtp-port",
            str(smtp_port),
        ],
        {**os.environ},
        http_port,
        tmp / "notification-sink.log",
    )
    servers.append(sink)
    sink.start()
    return sink, smtp_port


def measure_page_latency(plan: Plan, target: Target, db: str, sink_url: str) -> list[page_latency.Phase]:
    """Probes for new incidents, idle and then alongside a paced run of 1-alert bodies at half the
    peak request rate; see bench/page_latency.py."""
    bridge_url, rate = target.server.base_url, peak(target, 1).rps / 2

    def load(seconds: float) -> LoadResult:
        result = _load(plan, target, 1, PACED_MAX_CONNECTIONS, math.ceil(seconds), rate)
        target.warmup_non2xx += result.non2xx  # counted with the warm-ups in the correctness check
        target.warmup_errors += result.errors
        return result

    settled = page_latency.settle(sink_url)  # the pages of the runs before may still be going out
    print(f"  {target.name:<18} page latency, idle", file=sys.stderr, flush=True)
    idle, _ = page_latency.run_phase(bridge_url, sink_url, f"latency-probe-{db}-idle", "idle")
    if not settled:
        idle.load = "NOT idle: pages of the runs before were still going out"
    print(f"  {target.name:<18} page latency, paced {rate:,.0f}/s", file=sys.stderr, flush=True)
    busy, r = page_latency.run_phase(bridge_url, sink_url, f"latency-probe-{db}-load", "under load", load)
    if r is not None:
        busy.load = (
            f"alongside: paced {rate:,.0f}/s of 1-alert bodies, got {r.requests / r.seconds:,.0f}/s, "
            f"answers p99 {r.p99_ms:.1f} ms, non-2xx {r.non2xx}, errors {r.errors}"
        )
    target.server.check_alive()
    return [idle, busy]


def run_bridge(
    plan: Plan, db: str, database_url: str, tmp: Path, servers: list[Server], paging: bool
) -> BridgeReport:
    sink, smtp_port = start_sink(tmp, servers) if paging else (None, None)
    sink_url = sink.base_url if sink else None
    rules = tmp / f"rules-{db}"
    redirected = prepare_rules(rules, sink_url)
    env = {"BRIDGE_DATABASE_URL": database_url, "BRIDGE_RULES_DIR": str(rules)}
    env.update(loopback_settings(sink_url, smtp_port))
    port = free_port()
    server = Server(
        f"bridge-{db}",
        [str(BIN / "incident-bridge"), "serve", "--host", HOST, "--port", str(port)],
        server_env(env),
        port,
        tmp / f"bridge-{db}.log",
    )
    servers.append(server)
    where = f"pages go to a local sink, {redirected} URL(s) redirected" if sink else "no paging"
    print(f"starting bridge-{db} on port {port} ({database_url}; {where})", file=sys.stderr, flush=True)
    server.start()
    target = Target(server.name, server, is_bridge=True, with_postgres=db == "postgresql")
    try:
        paced = {}
        if plan.only == "page-latency":
            # One closed-loop run per body size: the peak for the paced load, and every group of
            # the payload pool seen once, so the incidents are in the state a full run leaves them.
            for size in (1, 10):
                measure(plan, target, size, max(plan.levels))
        else:
            sweep(plan, target)
            for size in (1, 10):
                best = peak(target, size)
                paced[size] = measure(plan, target, size, PACED_MAX_CONNECTIONS, rate=best.rps / 2)
        latency = measure_page_latency(plan, target, db, sink.base_url) if sink else []
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            opened = client.get("/api/v1/incidents", params={"status": "open", "limit": 1})
            every = client.get("/api/v1/incidents", params={"limit": 1})
            opened.raise_for_status()
            every.raise_for_status()
        metrics = scrape(server.base_url)
        codes = {k.removeprefix("code_"): v for k, v in metrics.items() if k.startswith("code_")}
        pages = httpx.get(f"{sink.base_url}/-/count", timeout=10).json() if sink else {}
        opened_total, every_total = opened.json()["total"], every.json()["total"]
        alerts = metrics.get("alerts", 0.0)
        return BridgeReport(target, opened_total, every_total, alerts, codes, paced, pages, latency)
    finally:
        server.stop()
        if sink:
            sink.stop()


def machine_line() -> str:
    try:
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        load = "?"
    return f"{os.cpu_count()} cpus, load average {load}, Python {sys.version.split()[0]}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--duration", type=int, help="seconds per measurement (default 10, --quick 3)")
    parser.add_argument("--concurrency", help="comma-separated connection counts (default 1,4,16,32,64)")
    parser.add_argument("--quick", action="store_true", help="3-second runs at 1,16,64 connections")
    parser.add_argument(
        "--load-generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="auto: wrk if present or installable, else the asyncio generator",
    )
    parser.add_argument(
        "--paging",
        choices=("sink", "off"),
        default="sink",
        help="sink: the service pages on-call people through a local sink; off: no on-call config",
    )
    parser.add_argument(
        "--pg-admin-url", default=PG_ADMIN_URL, help="where to CREATE/DROP the bench database"
    )
    parser.add_argument(
        "--only",
        choices=("page-latency",),
        help="page-latency: no sweeps, no parse-only; one closed-loop run per body size at the largest "
        "connection count gives the peak for the paced load",
    )
    args = parser.parse_args(argv)
    if args.only == "page-latency" and args.paging == "off":
        parser.error("--only page-latency needs --paging sink")
    if args.duration is not None and args.duration < 1:
        parser.error("--duration must be at least 1 second")
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


def run(args: argparse.Namespace, tmp: Path, servers: list[Server]) -> int:
    wrk = None if args.load_generator == "python" else ensure_wrk()
    if args.load_generator == "wrk" and wrk is None:
        raise SystemExit("wrk is not installed and could not be installed")

    rng = random.Random(SEED)
    groups = build_groups(rng)
    payloads = {size: build_payloads(groups, size, BODY_COUNT[size], rng) for size in (1, 10)}
    for p in payloads.values():
        validate_payloads(p)
    lua = {}
    if wrk:
        for size, p in payloads.items():
            lua[size] = tmp / f"bodies-{size}.lua"
            write_lua(lua[size], p.bodies)
    plan = Plan(wrk, args.duration, args.warmup, args.levels, payloads, lua, args.only)

    out: list[str] = []

    def say(line: str = "") -> None:
        out.append(line)

    say("incident-bridge webhook benchmark: POST /webhooks/alertmanager")
    say(f"machine: {machine_line()}")
    version = ""
    if wrk:
        probe = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
        version = (probe.stdout or probe.stderr).split("\n")[0]
    say(
        "load generator: "
        + (f"{version}, 1 thread (closed loop)" if wrk else "asyncio on raw streams (closed loop)")
        + "; paced runs: asyncio open loop"
    )
    say(
        "servers: uvicorn, 1 worker, loop=auto (uvloop), http=auto (httptools), log level warning, "
        "no access log"
    )
    say(
        "paging: "
        + (
            "on-call config of rules/, every destination pointed at a local sink (HTTP 202, SMTP 250)"
            if args.paging == "sink"
            else "off (on-call sections of rules/ left out)"
        )
    )
    say(
        f"runs: {args.duration}s each after a {args.warmup}s warm-up; "
        + (
            f"page latency only, peak from {max(args.levels)} connections per body size"
            if args.only
            else f"connections {','.join(map(str, args.levels))}"
        )
    )
    if args.paging == "sink":
        say(
            f"page latency: {page_latency.PROBES} probes every {page_latency.INTERVAL * 1e3:.0f} ms, each a "
            "1-alert webhook for a new incident (model latency-probe-<db>-<phase>-<n>, paged through "
            "default_escalation_policy); from the 2xx to the first HTTP page at the sink, idle and then "
            "under a paced run of 1-alert bodies at half the peak rate"
        )
    fingerprints = N_GROUPS * SERIES_PER_GROUP
    say(
        f"payloads (seed {SEED}): {len(KINDS)} alertnames, {N_MODELS} models, {N_GROUPS} groups, "
        f"{fingerprints:,} fingerprints"
    )
    for size, p in payloads.items():
        mix = ", ".join(f"{n * 100 / len(p.bodies):.0f}% {what}" for what, n in sorted(p.mix.items()))
        say(
            f"  {size:>2}-alert bodies: {len(p.bodies):,} in the cycle, "
            f"{p.mean_bytes:,.0f} bytes on average; {mix}"
        )
    print("\n".join(out), flush=True)
    out.clear()

    dbs = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    paging = args.paging == "sink"
    targets: list[Target] = []

    port = free_port()
    ceiling = Server(
        "parse-only",
        [
            str(BIN / "python"),
            "-m",
            "uvicorn",
            "parse_only_app:app",
            "--app-dir",
            str(BENCH_DIR),
            "--host",
            HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--loop",
            "auto",
            "--http",
            "auto",
        ],
        server_env({}),
        port,
        tmp / "parse-only.log",
    )
    parse_only = Target("parse-only", ceiling, is_bridge=False)
    if not plan.only:
        servers.append(ceiling)
        print(f"starting parse-only on port {port}", file=sys.stderr, flush=True)
        ceiling.start()
        try:
            sweep(plan, parse_only)
        finally:
            ceiling.stop()
        targets.append(parse_only)

    reports: list[BridgeReport] = []
    for db in dbs:
        if db == "sqlite":
            path = tmp / "sqlite" / "bench.db"
            path.parent.mkdir()
            reports.append(run_bridge(plan, db, f"sqlite:///{path}", tmp, servers, paging))
        else:
            with postgres_database(args.pg_admin_url) as name:
                url = f"postgresql://postgres@127.0.0.1:5432/{name}"
                reports.append(run_bridge(plan, db, url, tmp, servers, paging))
        targets.append(reports[-1].target)

    say()
    say(HEADER)
    for target in targets:
        for row in target.rows:
            say(format_row(row))
    say(
        "(conc: open connections, or a paced open-loop rate; batch: webhook requests per commit; "
        "srv cpu%: server event-loop thread + its other threads; pg%: all postgres processes; "
        "gen%: load generator; host%: whole machine, 200 = both cores busy, "
        f"! = more than {NOISE_PCT}% of a core went to other processes during the run)"
    )

    if not plan.only:
        say()
        say("Peak alerts/s (best connection count) and share of the parse-only ceiling")
        for report in reports:
            for size in (1, 10):
                best, top = peak(report.target, size), peak(parse_only, size)
                say(
                    f"  {report.target.name:<18} {size:>2}-alert bodies: {best.alerts_s:>8,.0f} alerts/s at "
                    f"{best.load:>2} connections = {best.alerts_s / top.alerts_s:5.1%} of parse-only "
                    f"{top.alerts_s:,.0f} (at {top.load})"
                )
        say()
        say("Half the peak request rate, paced (latency from the scheduled send time)")
        for report in reports:
            for size, row in report.paced.items():
                lag = row.result.send_lag_p99_ms
                say(
                    f"  {report.target.name:<18} {size:>2}-alert bodies: asked {row.load.split()[1]}, "
                    f"got {row.rps:,.0f}/s; p50 {row.result.p50_ms:.2f} ms, p99 {row.result.p99_ms:.2f} ms; "
                    f"non-2xx {row.result.non2xx}, errors {row.result.errors}; "
                    f"generator send lag p99 {lag:.2f} ms, {row.result.peak_connections} connections"
                )
    if any(report.latency for report in reports):
        say()
        say("Page latency: from the webhook's 2xx to the first HTTP page for its incident at the sink")
        for report in reports:
            for phase in report.latency:
                say(f"  {report.target.name:<18} {phase.line()}")
    say()
    say("Correctness after each bridge run")
    for report in reports:
        codes = ", ".join(f"{code}: {n:,.0f}" for code, n in sorted(report.codes.items()))
        say(
            f"  {report.target.name:<18} {report.open_incidents:,} open incidents "
            f"({report.all_incidents:,} in all); "
            f"non-2xx {report.non2xx}, socket errors/timeouts {report.errors} "
            f"(warm-ups{' and page-latency runs' if report.latency else ''} included); "
            f"answers by code (server): {codes}"
        )
        if report.pages:
            say(
                f"  {'':<18} pages delivered to the local sink: {report.pages.get('http', 0):,} HTTP, "
                f"{report.pages.get('smtp', 0):,} email"
            )
        say(
            f"  {'':<18} alerts committed (server) {report.server_alerts:,.0f} >= alerts acknowledged "
            f"to the clients {report.target.acked_alerts:,}: {'yes' if report.accounted else 'NO'}"
            f" -> {'OK' if report.correct else 'FAILED: ' + ', '.join(report.problems)}"
        )
    ceiling_non2xx = parse_only.warmup_non2xx + sum(r.result.non2xx for r in parse_only.rows)
    ceiling_errors = parse_only.warmup_errors + sum(r.result.errors for r in parse_only.rows)
    if ceiling_non2xx or ceiling_errors:
        say(
            f"  parse-only: {ceiling_non2xx} non-2xx, {ceiling_errors} socket errors/timeouts "
            "(warm-ups included)"
        )

    say()
    passed = all(report.correct for report in reports)
    sqlite = next((r for r in reports if r.target.name == "bridge-sqlite"), None)
    for report in reports:
        checks: list[tuple[str, bool, float]] = []
        if not plan.only:
            best1, best10 = peak(report.target, 1), peak(report.target, 10)
            checks += [
                (
                    f">= {TARGET_ALERTS_1:,} alerts/s, 1-alert bodies",
                    best1.alerts_s >= TARGET_ALERTS_1,
                    best1.alerts_s,
                ),
                (
                    f">= {TARGET_ALERTS_10:,} alerts/s, 10-alert bodies",
                    best10.alerts_s >= TARGET_ALERTS_10,
                    best10.alerts_s,
                ),
            ]
        verdicts = [f"{'pass' if ok else 'FAIL'} {what} ({value:,.0f})" for what, ok, value in checks]
        for size, row in report.paced.items():
            ok = row.result.p99_ms < TARGET_P99_MS and row.result.non2xx == 0 and row.result.errors == 0
            checks.append(("p99", ok, row.result.p99_ms))
            verdicts.append(
                f"{'pass' if ok else 'FAIL'} p99 < {TARGET_P99_MS:.0f} ms at half peak, "
                f"{size}-alert ({row.result.p99_ms:.1f})"
            )
        for what, ok, value in (check for phase in report.latency for check in phase.checks):
            checks.append((what, ok, value))
            verdicts.append(f"{'pass' if ok else 'FAIL'} {what} ({value:.1f})")
        verdicts.append(f"{'pass' if report.correct else 'FAIL'} correctness")
        role = "target" if report is sqlite else "for reference, same thresholds"
        say(f"{report.target.name} ({role}): " + "; ".join(verdicts))
        if report is sqlite:
            passed = passed and all(ok for _, ok, _ in checks)
    if sqlite is None:
        say(
            "PASS/FAIL: the targets are set for SQLite, which was not measured; correctness: "
            + ("PASS" if passed else "FAIL")
        )
    else:
        claims = []
        if not plan.only:
            claims += [
                f">= {TARGET_ALERTS_1:,} alerts/s (1-alert bodies)",
                f">= {TARGET_ALERTS_10:,} alerts/s (10-alert bodies)",
                f"p99 < {TARGET_P99_MS:.0f} ms at half the peak rate",
            ]
        if sqlite.latency:
            claims.append(
                f"page latency p50 < {page_latency.TARGET_P50_MS:.0f} ms and p99 < "
                f"{page_latency.TARGET_P99_MS:.0f} ms idle and under load, every probe paged"
            )
        claims.append("no non-2xx, incidents stored")
        say(f"{'PASS' if passed else 'FAIL'}: SQLite " + ", ".join(claims))
    say(f"machine at the end: {machine_line()}")
    print("\n".join(out), flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
