"""Storm: 10,000 alerts over 100 incident keys, sent as Alertmanager sends them (storm_traffic.py),
on a fresh database; the same bursts to the parse-only app for reference. Checked afterwards
through the API (every incident, page by page) and at the sink (every page, per incident and
contact). Targets: exactly 100 incidents; at most one page per incident, contact and escalation
step; no 5xx; first request to last answer under 15 s; peak RSS of the serve process and its
children under 300 MB."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import yaml

from .. import databases, page_probe, storm_traffic
from ..accounting import account
from ..common import ROOT, progress
from ..loadgen import run_async
from ..measure import Plan, Subject
from ..payloads import validate
from ..report import Results, Section, per_run, versus, worst
from ..sampling import RssSampler, describe
from ..servers import start_bridge
from ..storm_traffic import MODELS, SERIES, StormTally
from ..targets import STORM_RSS_MB, STORM_SECONDS, Check

SETTLE_QUIET, SETTLE_LIMIT = 2.0, 90.0  # pages are done when none has arrived for 2 s (90 s at most)


@dataclass
class StormRun:
    tally: StormTally
    reference: StormTally | None
    incidents: list[dict[str, Any]]
    arrivals: list[list[Any]] | None  # None: no paging
    steps_due: int
    peak_rss_mb: float
    hwm_rss_mb: float
    at_peak: str
    last_page_seconds: float  # the last message at the sink, after the first request
    api_seconds: float
    first_page_seconds: float = float("nan")  # the first message
    problems: list[str] = field(default_factory=list)

    @property
    def models(self) -> Counter[str]:
        return Counter(str(i.get("model")) for i in self.incidents)

    @property
    def page_counts(self) -> Counter[tuple[int, str]]:
        """Pages per (incident, contact)."""
        return Counter((a[1], a[4]) for a in self.arrivals or [] if a[3] == "page")

    @property
    def duplicates(self) -> int:
        """Pages beyond one per incident, contact and escalation step due."""
        return sum(n - self.steps_due for n in self.page_counts.values() if n > self.steps_due)

    @property
    def unpaged(self) -> int:
        paged = {incident for incident, _ in self.page_counts}
        return sum(i["id"] not in paged for i in self.incidents)


_bursts: list[list[tuple[bytes, int]]] = []


def _storm_bodies() -> list[list[tuple[bytes, int]]]:
    if not _bursts:
        _bursts.extend(storm_traffic.bursts())
        validate([body for burst in _bursts for body, _ in burst])
    return _bursts


def steps_due(seconds: float) -> int:
    """Steps of the default escalation policy (rules/oncall.yaml) due within `seconds` of opening."""
    from app.durations import parse_duration

    config = yaml.safe_load((ROOT / "rules" / "oncall.yaml").read_text()) or {}
    policy = next(
        (
            p
            for p in config.get("escalation_policies", [])
            if p.get("id") == config.get("default_escalation_policy")
        ),
        None,
    )
    if policy is None:
        return 1
    return (
        sum(parse_duration(str(s.get("after", "0m"))).total_seconds() <= seconds for s in policy["steps"])
        or 1
    )


def list_incidents(base_url: str) -> list[dict[str, Any]]:
    """Every incident, through GET /api/v1/incidents page by page."""
    found: list[dict[str, Any]] = []
    with httpx.Client(base_url=base_url, timeout=120) as client:
        while True:
            page = client.get("/api/v1/incidents", params={"limit": 500, "offset": len(found)})
            page.raise_for_status()
            data = page.json()
            found += data["items"]
            if not data["items"] or len(found) >= data["total"]:
                return found


def wait_for_pages(sink_url: str, since: float, incidents: set[int]) -> None:
    """Until every incident has a page and none has come for SETTLE_QUIET seconds, or SETTLE_LIMIT
    seconds have passed: pages still due then count as never sent."""
    deadline = time.time() + SETTLE_LIMIT
    while time.time() < deadline:
        now, got = page_probe.arrivals(sink_url, since)
        paged = {a[1] for a in got if a[3] == "page"}
        if incidents <= paged and (not got or now - got[-1][0] >= SETTLE_QUIET):
            return
        time.sleep(0.2)


def run_storm(plan: Plan, run: int, db: str, parse_only: Subject | None) -> StormRun:
    bodies = _storm_bodies()
    reference = run_async(storm_traffic.send(parse_only.server.port, bodies)) if parse_only else None
    with databases.fresh(db, plan.tmp, plan.admin_url) as url:
        bridge = start_bridge(db, url, plan.tmp, plan.servers, plan.paging, "storm")
        try:
            progress(f"  bridge-{db:<11} storm: {MODELS * SERIES:,} alerts, {len(bodies)} bursts")
            with RssSampler(bridge.server.pid) as rss:
                began = time.time()
                tally = run_async(storm_traffic.send(bridge.server.port, bodies))
                started = time.perf_counter()
                incidents = list_incidents(bridge.server.base_url)
                api_seconds = time.perf_counter() - started
                if bridge.sink_url:
                    wait_for_pages(bridge.sink_url, began, {i["id"] for i in incidents})
            bridge.server.check_alive()
            arrivals = page_probe.arrivals(bridge.sink_url, began)[1] if bridge.sink_url else None
            last = max((a[0] for a in arrivals or []), default=began)
            first = min((a[0] for a in arrivals or []), default=float("nan"))
            result = StormRun(
                tally, reference, incidents, arrivals, steps_due(time.time() - began), rss.peak_mb,
                rss.hwm_mb, describe(rss.at_peak), last - began, api_seconds,
            )  # fmt: skip
            subject = Subject(bridge.server.name, bridge.server, is_bridge=True)
            subject.acked_alerts = tally.alerts_acked
            result.first_page_seconds = first - began
            result.problems += account("storm", subject, tally.non2xx, tally.errors).problems
            stored = sum(int(i.get("alert_count", 0)) for i in incidents)
            if stored != MODELS * SERIES:
                result.problems.append(f"the incidents hold {stored:,} alerts, not {MODELS * SERIES:,}")
            if arrivals is not None and result.unpaged:
                result.problems.append(f"{result.unpaged} incident(s) never paged")
        finally:
            bridge.stop()
    return result


def _lines(db: str, w: StormRun, runs: list[StormRun], section: Section) -> None:
    t, ref = w.tally, w.reference
    section.add(
        f"  bridge-{db:<11} {t.requests} bodies ({t.alerts_acked:,} alerts acknowledged) in "
        f"{t.total_seconds:.1f} s, first request to last answer; bursts took "
        + ", ".join(f"{s:.1f}" for s in t.burst_seconds)
        + f" s = {versus(t.busy_seconds, ref.busy_seconds if ref else None, ' s', 1)}"
        + per_run([f"{r.tally.total_seconds:.1f} s" for r in runs])
    )
    section.add(
        f"  {'':<18} answers p50 {t.p(50):.0f} ms, "
        f"p99 {versus(t.p(99), ref.p(99) if ref else None, ' ms', 0)}; "
        f"by code {dict(sorted(t.codes.items()))}, socket errors {t.errors}"
        + (f" ({t.first_error})" if t.first_error else "")
    )
    section.add(
        f"  {'':<18} incidents (API, {w.api_seconds:.2f} s to list): {len(w.incidents)}, "
        f"{len(w.models)} models; alerts in them {sum(int(i.get('alert_count', 0)) for i in w.incidents):,}"
    )
    if w.arrivals is not None:
        kinds = Counter(f"{a[2]} {a[3]}" for a in w.arrivals)
        per_incident = Counter(incident for incident, _ in w.page_counts.elements())
        by_kind = ", ".join(f"{k} {n}" for k, n in kinds.most_common())
        fewest, most = min(per_incident.values(), default=0), max(per_incident.values(), default=0)
        section.add(
            f"  {'':<18} at the sink: {len(w.arrivals)} messages ({by_kind}); "
            f"pages per incident {fewest}-{most}, "
            f"{w.duplicates} beyond one per incident, contact and step ({w.steps_due} step(s) due), "
            f"{w.unpaged} incident(s) unpaged; messages arrived {w.first_page_seconds:.1f} "
            f"to {w.last_page_seconds:.1f} s after the first request"
        )
    section.add(
        f"  {'':<18} peak RSS {w.peak_rss_mb:.1f} MB ({w.at_peak}); "
        f"sum of high-water marks {w.hwm_rss_mb:.1f} MB"
    )


def summarize(results: Results) -> Section:
    section = Section(
        f"Storm: {MODELS * SERIES:,} alerts over {MODELS} incident keys, Alertmanager-sized bursts"
    )
    for db in results.dbs:
        runs: list[StormRun] = results.of("storm", db)
        if not runs:
            continue
        w = worst(runs, lambda r: r.tally.total_seconds, higher_is_worse=True)
        _lines(db, w, runs, section)
        problems = [p for r in runs for p in r.problems]
        for problem in problems:
            section.add(f"  {'':<18} ! {problem}")
        off = [r for r in runs if len(r.incidents) != MODELS or len(r.models) != MODELS]
        counted = off[0] if off else runs[0]
        dup = max(r.duplicates for r in runs)
        bad = sum(r.tally.non2xx + r.tally.errors for r in runs)
        five = sum(r.tally.server_errors for r in runs)
        rss = max(r.peak_rss_mb for r in runs)
        paging = runs[0].arrivals is not None
        section.checks += [
            Check(
                "storm",
                f"exactly {MODELS} incidents",
                db,
                f"{len(counted.incidents)} ({len(counted.models)} models)",
                not off,
            ),
            Check(
                "storm",
                "<= 1 page per incident, contact and step",
                db,
                f"{dup} extra" if paging else "paging off",
                dup == 0 if paging else None,
            ),
            Check(
                "storm",
                "no 5xx (nor other non-2xx, socket errors)",
                db,
                f"{five} 5xx, {bad} non-2xx/errors",
                bad == 0,
            ),
            Check(
                "storm",
                f"total < {STORM_SECONDS:.0f} s",
                db,
                f"{w.tally.total_seconds:.1f} s",
                w.tally.total_seconds < STORM_SECONDS,
            ),
            Check("storm", f"peak RSS < {STORM_RSS_MB:.0f} MB", db, f"{rss:.1f} MB", rss < STORM_RSS_MB),
            Check(
                "storm",
                "every alert stored, every incident paged" if paging else "every alert stored",
                db,
                "ok" if not problems else "see above",
                not problems,
            ),
        ]
    return section
