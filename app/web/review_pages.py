"""The post-incident review page of an incident, and the team's improvement actions.

Every form runs the same flow as the API with `by` = the signed-in person. Forms are urlencoded,
where the last field of a name wins: every field has a name of its own, and a list is one item
per line of a textarea. Saving sends only the parts of the review that changed, so saving an
approved review unchanged keeps it approved. A refused save (409, 422) changes nothing and shows
the page again with what was typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.api.deps import CatalogDep, DatabaseDep, RuntimeDep, SettingsDep
from app.catalog.loader import Catalog
from app.db import Database
from app.durations import parse_duration
from app.errors import Conflict, DomainError, InvalidRequest, NotFound
from app.flows import reviews as flows
from app.incidents import service as incidents
from app.incidents.schemas import IncidentRead
from app.reviews import service as reviews
from app.reviews.schemas import ActionIn, ActionPatch, ActionRead, ReviewIn, ReviewRead
from app.text import MAX_DB_ID
from app.urls import safe_link
from app.vocabulary import (
    ACTION_STATUSES,
    CLOSED,
    HARM_LEVELS,
    OPEN_ACTION_STATUSES,
    PRIORITIES,
    RESOLVED,
    REVIEW_STATUSES,
    ROOT_CAUSE_CATEGORIES,
)
from app.web.auth import Person, PersonDep, form_of, render
from app.web.pages import (
    CsrfChecked,
    Filter,
    IncidentId,
    _back,
    _only_one_incident,
    _page,
    _readable,
)
from app.web.protocol_forms import at_utc, local_input, when_utc, words

router = APIRouter(tags=["pages"], include_in_schema=False)
ActionId = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
APPROVAL_REFUSED = "the review cannot be approved yet: "
ACTIONS_LIMIT = 1000  # per status asked for on the actions page
NOTIFIED = {"yes": True, "no": False, "": None}
LISTS = ("contributing_factors", "went_well", "went_badly", "affected_groups")
EVERY_STATUS = "all"
ACTION_FIELDS = ("title", "owner", "priority", "due", "ticket_url")


# --- the review as form fields -----------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """A duration as people type it: 1d2h, 1h30m, 45m, 20s."""
    if seconds is None:
        return ""
    left, parts = round(seconds), []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    if left or not parts:
        parts.append(f"{left}s")
    return "".join(parts)


def _lines(items: list[str]) -> str:
    return "\n".join(items)


def _items(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _text(value: str) -> str:
    # A browser sends a textarea's line breaks as CR LF.
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def fields_of(review: ReviewRead) -> dict[str, str]:
    """Every field of the review form, as the form shows it."""
    harm = review.harm_assessment
    return {
        "summary": review.summary,
        "impact_duration": duration_text(review.impact.duration_seconds),
        "impact_users": "" if review.impact.users_affected is None else str(review.impact.users_affected),
        "impact_decisions": review.impact.decisions_affected,
        "impact_notes": review.impact.notes,
        "detection_how": review.detection.how,
        "detection_when": local_input(review.detection.when),
        "root_cause_category": review.root_cause.category or "",
        "root_cause_narrative": review.root_cause.narrative,
        "contributing_factors": _lines(review.contributing_factors),
        "went_well": _lines(review.went_well),
        "went_badly": _lines(review.went_badly),
        "affected_groups": _lines(harm.affected_groups),
        "harm_level": harm.harm_level or "",
        "users_notified": {True: "yes", False: "no", None: ""}[harm.users_notified],
        "users_notified_at": local_input(harm.users_notified_at),
        "harm_notes": harm.notes,
        "no_action_reason": review.no_action_reason,
        "status": review.status,
    }


def _seconds(text: str) -> float | None:
    if not text:
        return None
    try:
        return parse_duration(text.replace(" ", "")).total_seconds()
    except ValueError:
        raise InvalidRequest(
            f"impact duration {text!r}: write it as 45m, 1h30m or 2d", field="impact_duration"
        ) from None


def review_change(form: dict[str, str], review: ReviewRead, by: str) -> ReviewIn:
    """The parts of the review the form changed (a part is sent whole, with what it kept)."""
    shown = fields_of(review)

    def value(name: str) -> str:
        return _text(form.get(name, shown[name]))

    def changed(*names: str) -> bool:
        if any(name in LISTS for name in names):
            return any(_items(value(n)) != _items(shown[n]) for n in names)
        return any(value(n) != _text(shown[n]) for n in names)

    body: dict[str, Any] = {"by": by}
    for name in ("summary", "no_action_reason"):
        if changed(name):
            body[name] = value(name)
    for name in ("contributing_factors", "went_well", "went_badly"):
        if changed(name):
            body[name] = _items(value(name))
    impact = review.impact
    if changed("impact_duration", "impact_users", "impact_decisions", "impact_notes"):
        body["impact"] = {
            "duration_seconds": _seconds(value("impact_duration"))
            if changed("impact_duration")
            else impact.duration_seconds,
            "users_affected": (value("impact_users") or None)
            if changed("impact_users")
            else impact.users_affected,
            "decisions_affected": value("impact_decisions"),
            "notes": value("impact_notes"),
        }
    detection = review.detection
    if changed("detection_how", "detection_when"):
        body["detection"] = {
            "how": value("detection_how"),
            "when": when_utc(value("detection_when")) if changed("detection_when") else detection.when,
            "delay_seconds": detection.delay_seconds,
        }
    if changed("root_cause_category", "root_cause_narrative"):
        body["root_cause"] = {
            "category": value("root_cause_category") or None,
            "narrative": value("root_cause_narrative"),
        }
    harm = review.harm_assessment
    if changed("affected_groups", "harm_level", "users_notified", "users_notified_at", "harm_notes"):
        notified = value("users_notified")
        if notified not in NOTIFIED:
            raise InvalidRequest("users notified: choose yes, no or not decided", field="users_notified")
        body["harm_assessment"] = {
            "affected_groups": _items(value("affected_groups")),
            "harm_level": value("harm_level") or None,
            "users_notified": NOTIFIED[notified],
            "users_notified_at": when_utc(value("users_notified_at"))
            if changed("users_notified_at")
            else harm.users_notified_at,
            "notes": value("harm_notes"),
        }
    if changed("status"):
        body["status"] = value("status")
    return ReviewIn.model_validate(body)


def plain(text: str) -> str:
    """An API message as a person reads it: `root_cause.category` is 'root cause: category'."""

    def words_of(match: re.Match[str]) -> str:
        return match.group(1).replace(".", ": ").replace("_", " ")

    return re.sub(r"`([^`]*)`", words_of, text)


def _sentence(text: str) -> str:
    text = plain(text)
    return text[:1].upper() + text[1:]


def problems_of(detail: str) -> list[str]:
    """What approval still needs, one item each (empty when `detail` is another refusal)."""
    if not detail.startswith(APPROVAL_REFUSED):
        return []
    return [plain(p) for p in detail.removeprefix(APPROVAL_REFUSED).split("; ")]


# --- the review page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """An incident the person may see, and its review if it has one."""

    incident: IncidentRead
    review: ReviewRead | None
    required: bool


def _load(db: Database, catalog: Catalog, incident_id: int, person: str) -> Loaded:
    """NotFound when the person may not see the incident, exactly as for an unknown id."""
    with db.session() as session:
        row = incidents.get_visible(session, incident_id, person)
        incident = IncidentRead.model_validate(row)
        required = reviews.required(catalog.reviews, row)
    try:
        review = flows.get_review(db, catalog, incident_id, person)
    except NotFound:
        review = None
    return Loaded(incident=incident, review=review, required=required)


def _not_found(request: Request, exc: DomainError) -> HTMLResponse:
    return render(request, "base.html", exc.status_code, notice=exc.detail, error=True, title="Not found")


def _refused(request: Request, person: Person, incident_id: int) -> HTMLResponse | None:
    if person.may_open(incident_id):
        return None
    return _only_one_incident(request, person) or HTMLResponse(status_code=403)


def _show(
    request: Request,
    loaded: Loaded,
    catalog: Catalog,
    status: int = 200,
    typed: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    incident, review = loaded.incident, loaded.review
    fields = fields_of(review) if review else {}
    if typed and review:
        fields.update({k: v for k, v in typed.items() if k in fields})
    action_form = {k: typed.get(k, "") for k in ACTION_FIELDS} if typed else {}
    return _page(
        request,
        "review.html",
        status,
        title=f"Review of #{incident.id} {incident.title}",
        incident=incident,
        review=review,
        required=loaded.required,
        f=fields,
        a=action_form,
        people=sorted(catalog.oncall.people),
        categories=ROOT_CAUSE_CATEGORIES,
        harm_levels=HARM_LEVELS,
        statuses=REVIEW_STATUSES,
        priorities=PRIORITIES,
        action_statuses=ACTION_STATUSES,
        open_statuses=OPEN_ACTION_STATUSES,
        closed=incident.status == CLOSED,
        resolved=incident.status == RESOLVED,
        words=words,
        at_utc=at_utc,
        duration=duration_text,
        link=safe_link,
        **context,
    )


@router.get("/incidents/{incident_id}/review", response_class=HTMLResponse)
def review_page(
    request: Request, incident_id: IncidentId, person: PersonDep, db: DatabaseDep, catalog: CatalogDep
) -> HTMLResponse:
    """The incident's post-incident review: a form for all of it, its actions, closing."""
    refused = _refused(request, person, incident_id)
    if refused is not None:
        return refused
    try:
        loaded = _load(db, catalog, incident_id, person.id)
    except DomainError as exc:
        return _not_found(request, exc)
    return _show(request, loaded, catalog)


@router.get("/incidents/{incident_id}/review.md", response_model=None)
def review_markdown(
    request: Request,
    incident_id: IncidentId,
    person: PersonDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    config: SettingsDep,
) -> Response:
    """The review as Markdown, for a wiki page or a ticket."""
    refused = _refused(request, person, incident_id)
    if refused is not None:
        return refused
    try:
        text = flows.review_markdown(db, catalog, incident_id, person.id, config.public_url)
    except DomainError as exc:
        return _not_found(request, exc)
    return Response(
        text,
        media_type="text/markdown; charset=utf-8",
        headers={
            "Content-Disposition": f'inline; filename="incident-{incident_id}-review.md"',
            "Cache-Control": "no-store",
        },
    )


def _refusal(exc: ValidationError | DomainError) -> tuple[int, str, list[str]]:
    """The status, the notice and (for a refused approval) what approval still needs."""
    if isinstance(exc, ValidationError):
        return 422, _readable(exc), []
    problems = problems_of(exc.detail)
    if problems:
        notice = "The review was not approved and nothing was saved. Approval still needs: "
        return exc.status_code, notice + "; ".join(problems) + ".", [_sentence(p) for p in problems]
    return exc.status_code, _sentence(exc.detail), []


async def _again(
    request: Request,
    db: Database,
    catalog: Catalog,
    person: Person,
    incident_id: int,
    exc: ValidationError | DomainError,
    typed: dict[str, str],
) -> HTMLResponse:
    """The page again after a refused change: why, and what was typed."""
    try:
        loaded = await run_in_threadpool(_load, db, catalog, incident_id, person.id)
    except DomainError as missing:
        return _not_found(request, missing)
    status, notice, problems = _refusal(exc)
    return _show(request, loaded, catalog, status, typed, notice=notice, error=True, problems=problems)


def _saved(before: ReviewRead, after: ReviewRead) -> str:
    if after.status != before.status:
        if after.status == "approved":
            return f"Review approved by {after.approved_by}."
        return f"Review saved; it is now {words(after.status)}."
    return "Review saved."


@router.post("/incidents/{incident_id}/review/save", response_model=None, dependencies=CsrfChecked)
async def save_review(
    request: Request,
    incident_id: IncidentId,
    person: PersonDep,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    """Save what changed in the review form; `status: approved` approves it when it is complete."""
    refused = _refused(request, person, incident_id)
    if refused is not None:
        return refused
    form = await form_of(request)

    def run() -> str:
        loaded = _load(db, catalog, incident_id, person.id)
        if loaded.review is None:
            raise Conflict("the review has not started yet: start it first")
        body = review_change(form, loaded.review, person.id)
        if body.model_fields_set <= {"by"}:
            return "Nothing changed."
        after = flows.put_review(db, rt.send(), catalog, incident_id, body, person.id)
        return _saved(loaded.review, after)

    try:
        notice = await run_in_threadpool(run)
    except DomainError as exc:
        if exc.status_code == 404:
            return _not_found(request, exc)
        return await _again(request, db, catalog, person, incident_id, exc, form)
    except ValidationError as exc:
        return await _again(request, db, catalog, person, incident_id, exc, form)
    return _back(f"/incidents/{incident_id}/review", notice)


async def _change(
    request: Request,
    person: Person,
    incident_id: int,
    db: Database,
    catalog: Catalog,
    change: Callable[[dict[str, str]], str],
    keep_typed: bool = False,
) -> Response:
    """Run one change of the review page; back to the page with its notice."""
    refused = _refused(request, person, incident_id)
    if refused is not None:
        return refused
    form = await form_of(request)
    target = f"/incidents/{incident_id}/review"
    try:
        await run_in_threadpool(_load, db, catalog, incident_id, person.id)  # 404 for those who may not see
        notice: str = await run_in_threadpool(change, form)
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status_code == 404:
            return _not_found(request, exc)
        if keep_typed:
            return await _again(request, db, catalog, person, incident_id, exc, form)
        return _back(target, _refusal(exc)[1], error=True)
    return _back(target, notice)


@router.post("/incidents/{incident_id}/review/start", response_model=None, dependencies=CsrfChecked)
async def start_review(
    request: Request,
    incident_id: IncidentId,
    person: PersonDep,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    """Start the review, pre-filled from the incident, as a draft (nothing changes if it exists)."""

    def start(form: dict[str, str]) -> str:
        if _load(db, catalog, incident_id, person.id).review is not None:
            return "The review has already started."
        made = flows.put_review(db, rt.send(), catalog, incident_id, ReviewIn(by=person.id), person.id)
        return f"Review started as a {words(made.status)}, due {at_utc(made.due_at)}."

    return await _change(request, person, incident_id, db, catalog, start)


def _due(text: str) -> str | None:
    """An action's due date: the end of that day, UTC."""
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"due date {text!r}: use a date such as 2026-05-31", field="due") from None
    return f"{day.isoformat()}T23:59:59+00:00"


@router.post("/incidents/{incident_id}/review/actions", response_model=None, dependencies=CsrfChecked)
async def add_action(
    request: Request,
    incident_id: IncidentId,
    person: PersonDep,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    """An improvement action; its owner is told."""

    def add(form: dict[str, str]) -> str:
        ticket = form.get("ticket_url", "").strip()
        if ticket and safe_link(ticket) is None:
            raise InvalidRequest("the ticket URL must start with http:// or https://", field="ticket_url")
        body = ActionIn.model_validate(
            {
                "by": person.id,
                "title": form.get("title", "").strip(),
                "owner": form.get("owner", "").strip(),
                "priority": form.get("priority") or "medium",
                "due": _due(form.get("due", "")),
                "ticket_url": ticket or None,
            }
        )
        made = flows.add_action(db, rt.send(), catalog, incident_id, body, person.id)
        return f"Action #{made.id} added for {made.owner}, due {made.due_at:%Y-%m-%d}."

    return await _change(request, person, incident_id, db, catalog, add, keep_typed=True)


@router.post(
    "/incidents/{incident_id}/review/actions/{action_id}", response_model=None, dependencies=CsrfChecked
)
async def update_action(
    request: Request,
    incident_id: IncidentId,
    action_id: ActionId,
    person: PersonDep,
    db: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    """Move an action of this incident: open, in progress, done, or won't do with a reason."""

    def update(form: dict[str, str]) -> str:
        review = _load(db, catalog, incident_id, person.id).review
        if review is None or all(a.id != action_id for a in review.actions):
            raise NotFound(f"action {action_id} not found")
        body = ActionPatch.model_validate(
            {
                "status": form.get("status", ""),
                "reason": form.get("reason", "").strip() or None,
                "by": person.id,
            }
        )
        moved = flows.patch_action(db, action_id, body, person.id)
        return f"Action #{moved.id} is {words(moved.status)}."

    return await _change(request, person, incident_id, db, catalog, update)


@router.post("/incidents/{incident_id}/review/close", response_model=None, dependencies=CsrfChecked)
async def close_incident(
    request: Request,
    incident_id: IncidentId,
    person: PersonDep,
    db: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    """Close the resolved incident (refused while a required review is not approved)."""

    def close(form: dict[str, str]) -> str:
        closed = flows.close(db, catalog, incident_id, person.id, person.id)
        return f"Incident #{closed.id} is {closed.status}."

    return await _change(request, person, incident_id, db, catalog, close)


# --- the team's actions ------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerActions:
    owner: str
    actions: list[ActionRead]

    @property
    def overdue(self) -> int:
        return sum(1 for a in self.actions if a.overdue)


def _statuses(status: str) -> tuple[str, ...]:
    if status == "":
        return OPEN_ACTION_STATUSES
    if status == EVERY_STATUS:
        return ACTION_STATUSES
    if status in ACTION_STATUSES:
        return (status,)
    raise InvalidRequest(f"unknown status {status!r}", field="status", where="query")


def _titles(db: Database, incident_ids: set[int], person: str) -> dict[int, str]:
    """The titles of the incidents the actions belong to (all visible to `person`)."""
    titles = {}
    with db.session() as session:
        for incident_id in incident_ids:
            try:
                titles[incident_id] = incidents.get_visible(session, incident_id, person).title
            except NotFound:
                continue
    return titles


@router.get("/actions", response_class=HTMLResponse)
def actions_page(
    request: Request,
    person: PersonDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    owner: Filter = "",
    status: Filter = "",
) -> HTMLResponse:
    """The team's improvement actions by owner, due first; open and in progress unless asked."""
    refused = _only_one_incident(request, person)
    if refused is not None:
        return refused
    context: dict[str, Any] = {
        "title": "Improvement actions",
        "filters": {"owner": owner, "status": status},
        "people": sorted(catalog.oncall.people),
        "action_statuses": ACTION_STATUSES,
        "every_status": EVERY_STATUS,
        "words": words,
        "link": safe_link,
    }
    try:
        statuses = _statuses(status)
    except InvalidRequest as exc:
        return _page(
            request, "actions.html", 422, groups=[], titles={}, notice=exc.detail, error=True, **context
        )
    found: list[ActionRead] = []
    truncated = False
    for one in statuses:
        rows = flows.list_actions(db, one, owner.strip() or None, False, person.id, ACTIONS_LIMIT)
        truncated = truncated or len(rows) >= ACTIONS_LIMIT
        found += rows
    by_owner: dict[str, list[ActionRead]] = {}
    for action in sorted(found, key=lambda a: (a.due_at, a.id)):
        by_owner.setdefault(action.owner, []).append(action)
    groups = [OwnerActions(owner=o, actions=by_owner[o]) for o in sorted(by_owner)]
    return _page(
        request,
        "actions.html",
        groups=groups,
        titles=_titles(db, {a.incident_id for a in found}, person.id),
        total=len(found),
        overdue=sum(g.overdue for g in groups),
        truncated=truncated,
        **context,
    )
