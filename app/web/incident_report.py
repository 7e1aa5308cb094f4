"""The incident report for the team's regular review: one HTML page with charts and the same
numbers as text, the numbers of `GET /api/v1/stats`.

Served at `/reports/incidents` (signed-in people, or the API token holder), and written to a
self-contained file by `incident-bridge report` (its style inline, its charts SVG: it opens
without a network).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from app import stats
from app.api.deps import CatalogDep, DatabaseDep, RuntimeDep
from app.catalog.loader import Catalog
from app.db import Database, utcnow
from app.security import check_secret
from app.stats.schemas import StatsRead
from app.templating import environment
from app.vocabulary import INCIDENT_TYPES, SEVERITIES, UNCLASSIFIED, Severity
from app.web import charts
from app.web.auth import require_person

router = APIRouter(tags=["pages"], include_in_schema=False)
TEMPLATES = environment(Path(__file__).parent / "templates")
CSS = Path(__file__).parent / "static" / "report.css"

# Each measure with exactly the two timestamps it spans (the README defines them the same way).
MEASURES = (
    ("time_to_detect", "Time to detect", "impact started (first alert's startsAt) → opened"),
    ("time_to_acknowledge", "Time to acknowledge", "opened → first acknowledged"),
    ("time_to_contain", "Time to contain", "opened → contained"),
    ("time_to_resolve", "Time to resolve", "opened → resolved"),
)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.0f}%"


def _hours(value: float | None) -> float | None:
    return None if value is None else value / 3600


def build_charts(s: StatsRead) -> dict[str, str]:
    weeks = [w.week.split("-")[-1] for w in s.weekly]
    types = [*INCIDENT_TYPES, UNCLASSIFIED]
    per_week = charts.stacked_bars(
        weeks,
        [charts.Series(t.replace("_", " "), [w.by_type.get(t, 0) for w in s.weekly]) for t in types],
        "Incidents per week by type",
    )
    trends = charts.lines(
        weeks,
        [
            charts.Series(label.removeprefix("Time to "), [_hours(getattr(w, name).p50) for w in s.weekly])
            for name, label, _ in MEASURES
        ],
        "Weekly median time to detect, acknowledge, contain and resolve",
        unit=" h",
    )
    follow = charts.hbars(
        [
            ("reviews required", s.reviews.required),
            ("reviews approved", s.reviews.approved),
            ("reviews overdue", s.reviews.overdue),
            ("actions open", s.actions.open),
            ("actions overdue", s.actions.overdue),
            ("actions done", s.actions.done),
        ],
        "Reviews and actions follow-through",
    )
    return {"per_week": per_week, "trends": trends, "follow_through": follow}


def render(s: StatsRead, filters: str, now: datetime, standalone: bool) -> str:
    """The report page; `standalone` inlines the style sheet (a file that opens anywhere)."""
    return TEMPLATES.get_template("incident_report.html").render(
        s=s,
        charts=build_charts(s),
        measures=MEASURES,
        types=[t for t in (*INCIDENT_TYPES, UNCLASSIFIED) if any(w.by_type.get(t) for w in s.weekly)]
        or list(INCIDENT_TYPES),
        severities=SEVERITIES,
        dur=duration,
        pct=percent,
        filters=filters,
        generated=f"{now:%Y-%m-%d %H:%M} UTC",
        since_day=f"{s.since:%Y-%m-%d}",
        until_day=f"{s.until:%Y-%m-%d}",
        inline_css=CSS.read_text(encoding="utf-8") if standalone else "",
    )


def statistics(
    db: Database,
    catalog: Catalog,
    since: str | None,
    until: str | None,
    filters: dict[str, str | None],
    person: str | None,
) -> StatsRead:
    """The same numbers as `GET /api/v1/stats` with these arguments."""
    now = utcnow()
    start, end = stats.period(since, until, now)
    scope = stats.Scope(
        since=start,
        until=end,
        model=filters.get("model"),
        team=filters.get("team"),
        type=filters.get("type"),
        severity=filters.get("severity"),
        person=person,
    )
    with db.session() as session:
        return StatsRead.model_validate(stats.report(session, catalog.reviews, scope, now))


def describe(filters: dict[str, str | None]) -> str:
    return ", ".join(f"{k} {v}" for k, v in filters.items() if v)


Filter = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]


@router.get("/reports/incidents", response_class=HTMLResponse)
def incident_report(
    request: Request,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    since: Filter = "30d",
    until: Filter = None,
    model: Filter = None,
    team: Filter = None,
    type: Filter = None,
    severity: Severity | None = None,
) -> HTMLResponse:
    """The report for the team's review; the API token holder sees every incident, a signed-in
    person those they may see."""
    person: str | None
    if request.headers.get("authorization"):
        check_secret(request, rt.settings.api_token, allow_basic=False)
        person = None
    else:
        signed = require_person(request)
        if signed.incident_id is not None:  # a link signs in for one incident, not for the report
            raise HTTPException(403, "your link signs you in for one incident only")
        person = signed.id
    filters = {"model": model, "team": team, "type": type, "severity": severity}
    s = statistics(db, catalog, since, until, filters, person)
    html = render(s, describe(filters), utcnow(), standalone=False)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
