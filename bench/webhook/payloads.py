"""Seeded Alertmanager 0.25 webhook bodies (version 4), the same for a given seed on every run.

A simulated Alertmanager notifies about 500 groups of 10 series over 200 models: first
notifications, repeats of firing alerts (as on every group_interval) and, every 10th body, a
resolve of alerts that fired before. Bodies of 1 and 10 alerts are built; the scenarios replay
them in a cycle. `envelope` wraps any list of alerts the way Alertmanager does, for the scenarios
that build bodies of their own (storm, big body).
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from .alert_kinds import CLUSTERS, DOMAINS, KINDS, MODEL_SUFFIXES, AlertKind

SEED = 20261127
N_MODELS = 200
N_GROUPS = 500  # notification groups: (alertname, model, cluster), 10 alert series each
SERIES_PER_GROUP = 10  # so 5,000 distinct fingerprints
BODY_COUNT = {1: 6000, 10: 1500}  # bodies replayed in a cycle, per body size
SIZES = (1, 10)  # alerts per body
RESOLVED_EVERY = 10  # every 10th body resolves alerts that fired before
BASE_TIME = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
EXTERNAL_URL = "http://alertmanager.monitoring.svc:9093"


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


def model_names() -> list[str]:
    """Every model name the pool may draw from (domain-suffix)."""
    return [f"{domain}-{suffix}" for domain in DOMAINS for suffix in MODEL_SUFFIXES]


def build_groups(rng: random.Random) -> list[Group]:
    models = sorted(rng.sample(model_names(), N_MODELS))
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


def envelope(status: str, alerts: list[dict[str, Any]], group_labels: dict[str, str]) -> bytes:
    """A webhook body around `alerts`, encoded as Alertmanager's Go json.Encoder does (compact,
    ending in a newline)."""
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
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


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
    return envelope(status, alerts, group_labels)


def build_payloads(groups: list[Group], per_body: int, count: int, rng: random.Random) -> Payloads:
    """Simulate Alertmanager notifications: first firings, repeats every group_interval, resolves."""
    units: list[tuple[Group, tuple[Series, ...]]]
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


def validate(bodies: Sequence[bytes], alerts_per_body: int | None = None) -> None:
    """Every body must pass the service's own schema, or the benchmark measures 422s."""
    from app.alerts.schemas import AlertmanagerWebhook

    for body in bodies:
        parsed = AlertmanagerWebhook.model_validate_json(body)
        if alerts_per_body is not None and len(parsed.alerts) != alerts_per_body:
            raise SystemExit("a generated body has the wrong number of alerts")


def build_pool() -> dict[int, Payloads]:
    """The 1-alert and 10-alert bodies of the seeded pool, each validated against the schema."""
    rng = random.Random(SEED)
    groups = build_groups(rng)
    pool = {size: build_payloads(groups, size, BODY_COUNT[size], rng) for size in SIZES}
    for payloads in pool.values():
        validate(payloads.bodies, payloads.alerts_per_body)
    return pool
