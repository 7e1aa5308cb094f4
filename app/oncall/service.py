"""Who is on call now, per rotation and per model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.oncall.config import OWNER_TARGET, OncallConfig
from app.oncall.rotation import on_call, override_at, shift_bounds


def _person(oncall: OncallConfig, person_id: str | None) -> dict[str, Any] | None:
    if person_id is None:
        return None
    person = oncall.people.get(person_id)
    if person is None:
        return {"id": person_id, "name": "", "timezone": None}
    return {"id": person_id, "name": person.name, "timezone": person.timezone}


def resolve_targets(
    oncall: OncallConfig, targets: tuple[str, ...], owner: str | None, at: datetime
) -> tuple[list[str], list[str]]:
    """The people a step's targets mean at `at`, and problems worth a timeline note."""
    people: list[str] = []
    problems: list[str] = []
    for target in targets:
        kind, _, name = target.partition(":")
        if target == OWNER_TARGET:
            if owner is None:
                problems.append("step targets the model owner, but the model has none")
                continue
            person = owner
        elif kind == "rotation":
            rotation = oncall.rotations.get(name)
            if rotation is None:
                problems.append(f"rotation {name!r} no longer exists")
                continue
            person = on_call(rotation, at)
        else:
            person = name
        if person not in oncall.people:
            problems.append(f"person {person!r} is not in the on-call file")
        elif person not in people:
            people.append(person)
    return people, problems


def first_responders(
    oncall: OncallConfig, owner: str | None, policy_id: str | None, at: datetime
) -> list[str]:
    """Who the first step of a policy pages at `at`."""
    policy = oncall.policies.get(policy_id or "")
    return resolve_targets(oncall, policy.steps[0].notify, owner, at)[0] if policy else []


def on_call_now(oncall: OncallConfig, at: datetime) -> dict[str, Any]:
    rotations = []
    for rotation in oncall.rotations.values():
        start, end = shift_bounds(rotation, at)
        person = on_call(rotation, at)
        overridden = override_at(rotation, at) is not None
        rotations.append(
            {
                "id": rotation.id,
                "on_call": _person(oncall, person),
                "override": overridden,
                "shift_start": start,
                "shift_end": end,
            }
        )
    models = []
    for model in oncall.models.values():
        policy = model.escalation_policy or oncall.default_policy
        models.append(
            {
                "id": model.id,
                "owner": _person(oncall, model.owner),
                "team": model.team,
                "escalation_policy": policy,
                "paged_first": [
                    _person(oncall, p) for p in first_responders(oncall, model.owner, policy, at)
                ],
            }
        )
    default = oncall.default_policy
    return {
        "at": at,
        "rotations": rotations,
        "models": models,
        "unknown_models": {
            "escalation_policy": default,
            "paged_first": [_person(oncall, p) for p in first_responders(oncall, None, default, at)],
        },
    }
