"""HTTP API of the communication protocol: the notices an incident owes its audiences (draft,
approve, send or record, cancel, postpone), the regulatory reports it owes authorities, and the
moments people record that start a regime's clock."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from app.api.deps import CatalogDep, DatabaseDep, RuntimeDep, SettingsDep, ViewerDep
from app.api.errors import described
from app.api.incidents import IncidentId
from app.catalog.loader import Catalog
from app.communications.schemas import (
    ApproveIn,
    CancelIn,
    CommunicationList,
    CommunicationRead,
    DraftIn,
    MomentIn,
    MomentList,
    MomentRead,
    ObligationList,
    PostponeIn,
    ReportIn,
    SendIn,
)
from app.communications.service import Context
from app.config import Settings
from app.flows import communications as flows
from app.text import MAX_DB_ID

router = APIRouter(prefix="/api/v1/incidents", tags=["communications"])
ON_A_NOTICE = described(404, 409)
NoticeId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="The communication's id")]
ObligationId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="The obligation's id")]


def _ctx(catalog: Catalog, config: Settings) -> Context:
    return Context(catalog, config.public_url)


@router.get("/{incident_id}/communications", response_model=CommunicationList, responses=described(404))
def list_communications(
    incident_id: IncidentId, db: DatabaseDep, catalog: CatalogDep, config: SettingsDep, viewer: ViewerDep
) -> CommunicationList:
    """The notices the protocol asks for: due, drafted, approved, sent, overdue or cancelled."""
    items = flows.list_communications(db, _ctx(catalog, config), incident_id, viewer.narrowed_to)
    return CommunicationList(items=items)


@router.put("/{incident_id}/communications/{cid}", response_model=CommunicationRead, responses=ON_A_NOTICE)
def edit_notice(
    incident_id: IncidentId,
    cid: NoticeId,
    body: DraftIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    config: SettingsDep,
    viewer: ViewerDep,
) -> CommunicationRead:
    """Edit the text: it becomes a draft that needs approval again."""
    return flows.draft(db, rt.send(), _ctx(catalog, config), incident_id, cid, body, viewer.narrowed_to)


@router.post(
    "/{incident_id}/communications/{cid}/approve", response_model=CommunicationRead, responses=ON_A_NOTICE
)
def approve_notice(
    incident_id: IncidentId,
    cid: NoticeId,
    body: ApproveIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    config: SettingsDep,
    viewer: ViewerDep,
) -> CommunicationRead:
    """Approve the text for sending (someone else may send it)."""
    return flows.approve(db, rt.send(), _ctx(catalog, config), incident_id, cid, body, viewer.narrowed_to)


@router.post(
    "/{incident_id}/communications/{cid}/send", response_model=CommunicationRead, responses=ON_A_NOTICE
)
def send_notice(
    incident_id: IncidentId,
    cid: NoticeId,
    body: SendIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    config: SettingsDep,
    viewer: ViewerDep,
) -> CommunicationRead:
    """Approve and send through the audience's paging contacts, or record it went out `via` another way."""
    return flows.send_notice(db, rt.send(), _ctx(catalog, config), incident_id, cid, body, viewer.narrowed_to)


@router.post(
    "/{incident_id}/communications/{cid}/cancel", response_model=CommunicationRead, responses=ON_A_NOTICE
)
def cancel_notice(
    incident_id: IncidentId,
    cid: NoticeId,
    body: CancelIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    config: SettingsDep,
    viewer: ViewerDep,
) -> CommunicationRead:
    """Cancel a notice nobody needs, with the reason (it stays on record)."""
    return flows.cancel(db, rt.send(), _ctx(catalog, config), incident_id, cid, body, viewer.narrowed_to)


@router.post(
    "/{incident_id}/communications/{cid}/postpone", response_model=CommunicationRead, responses=ON_A_NOTICE
)
def postpone_notice(
    incident_id: IncidentId,
    cid: NoticeId,
    body: PostponeIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    config: SettingsDep,
    viewer: ViewerDep,
) -> CommunicationRead:
    """Push the due time back `minutes` from now (snooze a recurring update)."""
    return flows.postpone(db, rt.send(), _ctx(catalog, config), incident_id, cid, body, viewer.narrowed_to)


@router.get("/{incident_id}/obligations", response_model=ObligationList, responses=described(404))
def obligations(incident_id: IncidentId, db: DatabaseDep, viewer: ViewerDep) -> ObligationList:
    """The regulatory reports owed: what is due when, on what basis, and whether evidence is on hold."""
    return flows.obligations_of(db, incident_id, viewer.narrowed_to)


@router.post(
    "/{incident_id}/obligations/{oid}/report",
    response_model=ObligationList,
    responses=described(404, 409, 422),
)
def report(
    incident_id: IncidentId,
    oid: ObligationId,
    body: ReportIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    config: SettingsDep,
    viewer: ViewerDep,
) -> ObligationList:
    """Record a report made to the authority: `initial` (may be incomplete) or `complete`."""
    return flows.report(db, rt.send(), _ctx(catalog, config), incident_id, oid, body, viewer.narrowed_to)


@router.post(
    "/{incident_id}/moments",
    response_model=MomentRead,
    status_code=status.HTTP_201_CREATED,
    responses=ON_A_NOTICE,
)
def record_moment(
    incident_id: IncidentId,
    body: MomentIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    config: SettingsDep,
    viewer: ViewerDep,
) -> MomentRead:
    """Record a moment a regime counts from (`classified_major`, `significant`)."""
    return flows.record_moment(db, rt.send(), _ctx(catalog, config), incident_id, body, viewer.narrowed_to)


@router.get("/{incident_id}/moments", response_model=MomentList, responses=described(404))
def moments(incident_id: IncidentId, db: DatabaseDep, viewer: ViewerDep) -> MomentList:
    return MomentList(items=flows.moments_of(db, incident_id, viewer.narrowed_to))
