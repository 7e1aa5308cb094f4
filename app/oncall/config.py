"""Parse and validate the on-call sections of the rules directory into an OncallConfig."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, TypeAdapter, ValidationError

from app.durations import parse_duration
from app.oncall.hours import WorkingHours, parse_working_hours
from app.oncall.rotation import Override, Rotation, parse_handoff
from app.oncall.schemas import (
    ModelSpec,
    PagingSpec,
    PersonSpec,
    PolicySpec,
    RotationSpec,
    TeamSpec,
)
from app.sections import Located, Merged, SectionKind, format_error

# The on-call sections of the rules directory: name -> kind.
SECTIONS: dict[str, SectionKind] = {
    "people": "list",
    "rotations": "list",
    "escalation_policies": "list",
    "models": "list",
    "teams": "list",
    "default_escalation_policy": "single",
    "paging": "single",
}
OWNER_TARGET = "owner"
Spec = TypeVar("Spec", bound=BaseModel)


@dataclass(frozen=True)
class Step:
    notify: tuple[str, ...]
    after: timedelta


@dataclass(frozen=True)
class LowUrgency:
    """How a policy pages for severities outside `paging.high_urgency`."""

    escalate: bool = False  # false: the first step only, no later steps, no repeats
    working_hours: WorkingHours | None = None  # pages wait for them, in each person's zone

    def snapshot(self) -> dict[str, Any]:
        hours = self.working_hours.snapshot() if self.working_hours else None
        return {"escalate": self.escalate, "working_hours": hours}


@dataclass(frozen=True)
class Policy:
    id: str
    steps: tuple[Step, ...]
    repeat: int = 0
    repeat_delay: timedelta = timedelta(minutes=10)
    low_urgency: LowUrgency | None = None  # unset: every severity escalates alike

    def snapshot(self) -> dict[str, Any]:
        """A JSON copy frozen onto an incident: later edits never change an escalation in flight."""
        frozen: dict[str, Any] = {
            "id": self.id,
            "steps": [
                {"notify": list(s.notify), "after_s": int(s.after.total_seconds())} for s in self.steps
            ],
            "repeat": self.repeat,
            "repeat_delay_s": int(self.repeat_delay.total_seconds()),
        }
        if self.low_urgency is not None:
            frozen["low_urgency"] = self.low_urgency.snapshot()
        return frozen


@dataclass(frozen=True)
class OncallConfig:
    people: dict[str, PersonSpec] = field(default_factory=dict)
    rotations: dict[str, Rotation] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    teams: dict[str, TeamSpec] = field(default_factory=dict)
    default_policy: str | None = None
    high_urgency: frozenset[str] = frozenset({"SEV1", "SEV2"})


def _validated(
    items: Sequence[Located], spec: type[Spec], label: str, problems: list[str]
) -> list[tuple[Spec, str]]:
    out: list[tuple[Spec, str]] = []
    seen: dict[str, str] = {}
    for item in items:
        ident = item.value.get("id") if isinstance(item.value, dict) else None
        try:
            parsed = spec.model_validate(item.value)
        except ValidationError as exc:
            problems.extend(format_error(item.where, f"{label} {ident!r}" if ident else label, exc))
            continue
        key = str(getattr(parsed, "id", ""))
        if key in seen:
            problems.append(f"{item.where}: duplicate {label} id {key!r} (first at {seen[key]})")
            continue
        seen[key] = item.where
        out.append((parsed, item.where))
    return out


def _zone(name: str, where: str, problems: list[str]) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{where}: unknown time zone {name!r}")
        return None


def _rotation(spec: RotationSpec, where: str, people: set[str], problems: list[str]) -> Rotation | None:
    ok = True
    for member in [*spec.members, *(o.person for o in spec.overrides)]:
        if member not in people:
            problems.append(f"{where}: rotation {spec.id!r}: unknown person {member!r}")
            ok = False
    tz = _zone(spec.timezone, f"{where}: rotation {spec.id!r}", problems)
    try:
        day, at = parse_handoff(spec.shift, spec.handoff)
    except ValueError as exc:
        problems.append(f"{where}: rotation {spec.id!r}: {exc}")
        return None
    if tz is None or not ok:
        return None
    overrides = tuple(Override(o.person, o.start, o.end) for o in spec.overrides)
    return Rotation(spec.id, tuple(spec.members), spec.shift, day, at, tz, spec.start, overrides)


def _policy(spec: PolicySpec, where: str, known: dict[str, set[str]], problems: list[str]) -> Policy:
    steps = tuple(Step(tuple(s.notify), parse_duration(s.after)) for s in spec.steps)
    for index, step in enumerate(steps):
        if index and step.after < steps[index - 1].after:
            problems.append(
                f"{where}: escalation policy {spec.id!r}: step {index + 1} `after` is earlier than "
                "the step before it (after counts from when the incident triggered)"
            )
        for target in step.notify:
            kind, _, name = target.partition(":")
            if target == OWNER_TARGET:
                continue
            if kind not in known or not name:
                problems.append(
                    f"{where}: escalation policy {spec.id!r}: target {target!r} must be "
                    "'owner', 'person:<id>' or 'rotation:<id>'"
                )
            elif name not in known[kind]:
                problems.append(f"{where}: escalation policy {spec.id!r}: unknown {kind} {name!r}")
    low = None
    if spec.low_urgency is not None:
        hours = spec.low_urgency.working_hours
        low = LowUrgency(spec.low_urgency.escalate, parse_working_hours(hours) if hours else None)
    return Policy(spec.id, steps, spec.repeat, parse_duration(spec.repeat_delay), low)


def parse_oncall(merged: Merged, problems: list[str]) -> OncallConfig:
    """Validate people, rotations, policies, models and teams together (they refer to each other)."""
    people: dict[str, PersonSpec] = {}
    for person, where in _validated(merged.get("people", []), PersonSpec, "person", problems):
        _zone(person.timezone, f"{where}: person {person.id!r}", problems)
        people[person.id] = person
    rotations: dict[str, Rotation] = {}
    for rot, where in _validated(merged.get("rotations", []), RotationSpec, "rotation", problems):
        rotation = _rotation(rot, where, set(people), problems)
        if rotation is not None:
            rotations[rot.id] = rotation
    rotation_ids = {str(i.value.get("id")) for i in merged.get("rotations", []) if isinstance(i.value, dict)}
    known = {"person": set(people), "rotation": rotation_ids}
    policies = {
        spec.id: _policy(spec, where, known, problems)
        for spec, where in _validated(
            merged.get("escalation_policies", []), PolicySpec, "escalation policy", problems
        )
    }
    teams = {t.id: t for t, _ in _validated(merged.get("teams", []), TeamSpec, "team", problems)}
    models: dict[str, ModelSpec] = {}
    for model, where in _validated(merged.get("models", []), ModelSpec, "model", problems):
        label = f"{where}: model {model.id!r}"
        if model.owner is not None and model.owner not in people:
            problems.append(f"{label}: unknown owner {model.owner!r}")
        if model.escalation_policy is not None and model.escalation_policy not in policies:
            problems.append(f"{label}: unknown escalation policy {model.escalation_policy!r}")
        if model.tier == "production" and (model.owner is None or model.escalation_policy is None):
            problems.append(f"{label}: a production model needs an owner and an escalation_policy")
        models[model.id] = model
    default = None
    for item in merged.get("default_escalation_policy", []):
        default = str(item.value)
        if default not in policies:
            problems.append(f"{item.where}: default_escalation_policy names unknown policy {default!r}")
    paging = PagingSpec()
    for item in merged.get("paging", []):
        try:
            paging = TypeAdapter(PagingSpec).validate_python(item.value)
        except ValidationError as exc:
            problems.extend(format_error(item.where, "paging", exc))
    return OncallConfig(
        people=people,
        rotations=rotations,
        policies=policies,
        models=models,
        teams=teams,
        default_policy=default,
        high_urgency=frozenset(paging.high_urgency),
    )
