"""HTTP API of the on-call registry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import AwareDatetime

from app.api.deps import CatalogDep, ReadSession
from app.db import utcnow
from app.errors import InvalidRequest
from app.incidents import service as incidents
from app.oncall.service import on_call_now

router = APIRouter(prefix="/api/v1", tags=["on-call"])


@router.get("/oncall")
def who_is_on_call(catalog: CatalogDep, at: AwareDatetime | None = None) -> dict[str, Any]:
    """Who is on call now (or at `at`), per rotation and per model, with overrides applied."""
    when: datetime = at or utcnow()
    try:
        return on_call_now(catalog.oncall, when)
    except (OverflowError, ValueError):  # shift arithmetic past year 1 or 9999
        raise InvalidRequest("`at` is too far in the past or the future", field="at", where="query") from None


@router.get("/models")
def list_models(catalog: CatalogDep, session: ReadSession) -> dict[str, Any]:
    """The model registry: owner, team, policy, tier, risk tier, role, and open incidents of each."""
    oncall = catalog.oncall
    counts = incidents.open_counts_by_model(session)
    items = [
        {
            "id": model.id,
            "owner": model.owner,
            "team": model.team,
            "escalation_policy": model.escalation_policy or oncall.default_policy,
            "tier": model.tier,
            "risk_tier": model.risk_tier,
            "role": model.role,
            "description": model.description,
            "decisions": model.decisions,
            "open_incidents": counts.get(model.id, 0),
        }
        for model in oncall.models.values()
    ]
    return {"items": items, "total": len(items), "default_escalation_policy": oncall.default_policy}
