"""schedule(): when each step of a frozen policy snapshot is due, over every round."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.oncall.config import Policy, Step
from app.paging.escalation import PlannedStep, schedule

ROTATION = ("rotation:risk-ml-primary",)
BOB = ("person:bob",)
EXAMPLE = Policy(
    "risk-ml-default",
    (Step(ROTATION, timedelta(0)), Step(BOB, timedelta(minutes=10))),
    repeat=1,
)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def snapshot(*afters_s: int, repeat: int = 0, delay_s: int | None = None) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "id": "p",
        "steps": [{"notify": [f"person:p{i}"], "after_s": a} for i, a in enumerate(afters_s)],
        "repeat": repeat,
    }
    if delay_s is not None:
        policy["repeat_delay_s"] = delay_s
    return policy


def test_the_example_policy() -> None:
    plan = schedule(EXAMPLE.snapshot())

    assert plan == [
        PlannedStep(minutes(0), 0, 0, ROTATION),
        PlannedStep(minutes(10), 1, 0, BOB),
        PlannedStep(minutes(20), 0, 1, ROTATION),
        PlannedStep(minutes(30), 1, 1, BOB),
    ]


def test_step_offsets_count_from_the_start_of_the_escalation() -> None:
    plan = schedule(snapshot(0, 300, 900, 3600))

    assert [p.offset for p in plan] == [minutes(0), minutes(5), minutes(15), minutes(60)]
    assert [p.step for p in plan] == [0, 1, 2, 3]
    assert {p.round for p in plan} == {0}
    assert [p.notify for p in plan] == [("person:p0",), ("person:p1",), ("person:p2",), ("person:p3",)]


def test_repeat_rounds_start_repeat_delay_after_the_last_step() -> None:
    plan = schedule(snapshot(0, 300, 900, repeat=2, delay_s=1800))

    # Each round lasts 15m of steps plus a 30m pause: rounds start at 0, 45m and 90m.
    assert [p.offset for p in plan] == [minutes(m) for m in (0, 5, 15, 45, 50, 60, 90, 95, 105)]
    assert [p.round for p in plan] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert [p.step for p in plan] == [0, 1, 2] * 3


def test_repeat_delay_defaults_to_ten_minutes() -> None:
    plan = schedule(snapshot(0, 600, repeat=1))

    assert [p.offset for p in plan] == [minutes(0), minutes(10), minutes(20), minutes(30)]


def test_repeat_zero_is_a_single_pass() -> None:
    assert [p.offset for p in schedule(snapshot(0, 600, repeat=0, delay_s=60))] == [minutes(0), minutes(10)]
    no_repeat_key = {"steps": [{"notify": ["owner"], "after_s": 0}]}
    assert schedule(no_repeat_key) == [PlannedStep(timedelta(0), 0, 0, ("owner",))]


def test_single_step_policy() -> None:
    plan = schedule(snapshot(0, repeat=3, delay_s=300))

    assert [p.offset for p in plan] == [minutes(0), minutes(5), minutes(10), minutes(15)]
    assert [(p.step, p.round) for p in plan] == [(0, 0), (0, 1), (0, 2), (0, 3)]


def test_single_delayed_step_repeats_after_its_own_delay() -> None:
    plan = schedule(snapshot(300, repeat=1, delay_s=600))

    # The first page is due at 5m; the repeat round starts 10m later and its step is again 5m in.
    assert [p.offset for p in plan] == [minutes(5), minutes(20)]


def test_snapshot_is_plain_json_and_round_trips_through_schedule() -> None:
    policy = Policy(
        "p",
        (
            Step(("owner", "rotation:primary"), timedelta(0)),
            Step(("person:bob",), timedelta(minutes=7, seconds=30)),
            Step(("person:carol",), timedelta(hours=1)),
        ),
        repeat=2,
        repeat_delay=timedelta(minutes=45),
    )
    frozen = policy.snapshot()

    assert frozen == {
        "id": "p",
        "steps": [
            {"notify": ["owner", "rotation:primary"], "after_s": 0},
            {"notify": ["person:bob"], "after_s": 450},
            {"notify": ["person:carol"], "after_s": 3600},
        ],
        "repeat": 2,
        "repeat_delay_s": 2700,
    }
    stored = json.loads(json.dumps(frozen))
    plan = schedule(stored)
    assert plan == schedule(frozen)
    assert len(plan) == 9
    assert [p.offset for p in plan[:4]] == [timedelta(0), timedelta(seconds=450), minutes(60), minutes(105)]
    assert plan[-1] == PlannedStep(minutes(2 * 105 + 60), 2, 2, ("person:carol",))
    for planned in plan:
        assert planned.notify == policy.steps[planned.step].notify


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 7200), min_size=1, max_size=6),
    repeat=st.integers(0, 20),
    delay_s=st.integers(60, 7200),
)
def test_property_schedule_is_ordered_and_complete(gaps: list[int], repeat: int, delay_s: int) -> None:
    afters = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    plan = schedule(snapshot(*afters, repeat=repeat, delay_s=delay_s))

    assert len(plan) == len(afters) * (repeat + 1)
    offsets = [p.offset for p in plan]
    assert offsets == sorted(offsets)
    assert [(p.round, p.step) for p in plan] == [
        (r, s) for r in range(repeat + 1) for s in range(len(afters))
    ]
    for earlier, later in itertools.pairwise(plan):
        if later.round != earlier.round:
            assert later.offset - earlier.offset == timedelta(seconds=delay_s + afters[0])
