"""HTTP API of the on-call registry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from app.db import utcnow
from app.incidents import repository as incidents_repo
from app.oncall.service import on_call_now
from app.rules.service import RulesHolder
from app.web.deps import read_session

router = APIRouter(prefix="/api/v1", tags=["on-call"])


@router.get("/oncall")
def who_is_on_call(request: Request, at: AwareDatetime | None = None) -> dict[str, Any]:
    """Who is on call now (or at `at`), per rotation and per model, with overrides applied."""
    holder: RulesHolder = request.app.state.rules
    when: datetime = at or utcnow()
    return on_call_now(holder.current.oncall, when)


@router.get("/models")
def list_models(request: Request, session: Annotated[Session, Depends(read_session)]) -> dict[str, Any]:
    """The model registry: owner, team, escalation policy, tier, and open incidents of each."""
    holder: RulesHolder = request.app.state.rules
    oncall = holder.current.oncall
    counts = incidents_repo.open_counts_by_model(session)
    items = [
        {
            "id": model.id,
            "owner": model.owner,
            "team": model.team,
            "escalation_policy": model.escalation_policy or oncall.default_policy,
            "tier": model.tier,
            "description": model.description,
            "open_incidents": counts.get(model.id, 0),
        }
        for model in oncall.models.values()
    ]
    return {"items": items, "total": len(items), "default_escalation_policy": oncall.default_policy}
