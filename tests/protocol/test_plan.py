"""The plan: which notices an incident's facts call for, and when each is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.protocol.config import CommunicationsConfig, Condition, Notify, Policy
from app.protocol.period import Period, parse_period
from app.protocol.plan import Facts, Task, matches, required
from app.vocabulary import Anchor

OPENED = datetime(2026, 1, 31, 12, tzinfo=UTC)
ACKED = OPENED + timedelta(minutes=7)
AWARE = OPENED + timedelta(hours=3)
RESOLVED = OPENED + timedelta(days=2)


def facts(**changes: Any) -> Facts:
    base: dict[str, Any] = {
        "type": "fairness_violation",
        "severity": "SEV2",
        "harm_level": "harm_event",
        "harm_domains": frozenset({"fundamental_rights", "property_environment"}),
        "personal_data_breach": True,
        "risk_tier": "high",
        "anchors": {"opened": OPENED},
        "moments": {"significant": AWARE, "classified_major": AWARE},
    }
    return Facts(**{**base, **changes})


def condition(**given: Any) -> Condition:
    return Condition.model_validate(given)


@pytest.mark.parametrize(
    ("key", "matching", "other"),
    [
        ("types", ["safety", "fairness_violation"], ["safety", "ethical"]),
        ("severities", ["SEV1", "SEV2"], ["SEV1"]),
        ("harm_levels", ["harm_event", "serious"], ["serious"]),
        (
            "harm_domains",
            ["health_safety", "property_environment"],
            ["health_safety", "critical_infrastructure"],
        ),
        ("risk_tiers", ["high"], ["limited", "minimal"]),
        ("personal_data_breach", True, False),
        ("moments", ["significant"], ["significant", "notified"]),
        ("moments", ["significant", "classified_major"], ["notified"]),
    ],
)
def test_each_condition_key_decides(key: str, matching: Any, other: Any) -> None:
    assert matches(condition(**{key: matching}), facts())
    assert not matches(condition(**{key: other}), facts())


def test_an_empty_condition_matches_anything() -> None:
    bare = Facts(type="technical_failure", severity="SEV4")
    assert matches(Condition(), bare)
    assert matches(condition(types=[], severities=[], harm_levels=[], moments=[]), bare)


def test_harm_conditions_wait_for_an_assessment() -> None:
    unassessed = facts(harm_level=None, harm_domains=frozenset())
    assert not matches(
        condition(harm_levels=["none", "issue", "near_miss", "harm_event", "serious"]), unassessed
    )
    assert not matches(condition(harm_domains=["fundamental_rights"]), unassessed)


def test_personal_data_breach_false_matches_only_incidents_without_one() -> None:
    assert matches(condition(personal_data_breach=False), facts(personal_data_breach=False))
    assert not matches(condition(personal_data_breach=False), facts(personal_data_breach=True))
    assert matches(Condition(), facts(personal_data_breach=False))


def test_every_key_of_a_condition_must_hold() -> None:
    when = condition(types=["fairness_violation"], severities=["SEV1"])
    assert not matches(when, facts())
    assert matches(when, facts(severity="SEV1"))


def step(
    audience: str,
    within: str,
    anchor: Anchor = "opened",
    *,
    template: str | None = None,
    approval: bool = False,
    every: Period | None = None,
    holding_template: str | None = None,
    holding_within: Period | None = None,
) -> Notify:
    return Notify(
        audience=audience,
        within=parse_period(within),
        anchor=anchor,
        template=template or audience,
        approval=approval,
        every=every,
        holding_template=holding_template,
        holding_within=holding_within,
    )


def config(*policies: Policy) -> CommunicationsConfig:
    return CommunicationsConfig(policies=policies)


def test_a_task_is_due_its_period_after_its_anchor() -> None:
    plan = config(
        Policy("p", Condition(), (step("ml-lead", "15m"), step("legal", "1mo", "aware", approval=True))),
    )
    tasks = required(plan, facts(anchors={"opened": OPENED, "aware": AWARE}))
    assert tasks == [
        Task("p/ml-lead", "p", "ml-lead", OPENED + timedelta(minutes=15), "ml-lead", False),
        Task("p/legal", "p", "legal", datetime(2026, 2, 28, 15, tzinfo=UTC), "legal", True),
    ]


@pytest.mark.parametrize(
    ("anchors", "present"),
    [
        ({"opened": OPENED}, {"p/on-open"}),
        ({"opened": OPENED, "acknowledged": ACKED}, {"p/on-open", "p/on-ack"}),
        ({"opened": OPENED, "aware": AWARE}, {"p/on-open", "p/on-aware"}),
        (
            {"opened": OPENED, "acknowledged": ACKED, "resolved": RESOLVED},
            {"p/on-open", "p/on-ack", "p/on-resolve"},
        ),
    ],
)
def test_a_task_whose_anchor_is_still_to_come_is_absent(
    anchors: dict[str, datetime], present: set[str]
) -> None:
    plan = config(
        Policy(
            "p",
            Condition(),
            (
                step("on-open", "0m"),
                step("on-ack", "1h", "acknowledged"),
                step("on-aware", "1h", "aware"),
                step("on-resolve", "1d", "resolved"),
            ),
        )
    )
    assert {t.key for t in required(plan, facts(anchors=anchors))} == present


def test_recurring_updates_stop_when_the_incident_closes() -> None:
    every = Period(delta=timedelta(minutes=30))
    plan = config(Policy("p", Condition(), (step("stakeholders", "30m", every=every), step("ml-lead", "1h"))))
    open_tasks = required(plan, facts())
    assert [(t.key, t.every) for t in open_tasks] == [("p/stakeholders", every), ("p/ml-lead", None)]
    closed = facts(is_open=False, anchors={"opened": OPENED, "resolved": RESOLVED})
    assert [t.key for t in required(plan, closed)] == ["p/ml-lead"]


def test_a_holding_statement_is_due_its_own_period_after_the_anchor() -> None:
    notice = step(
        "affected-users",
        "72h",
        "aware",
        approval=True,
        holding_template="affected-users-holding",
        holding_within=Period(delta=timedelta(hours=24)),
    )
    (task,) = required(config(Policy("p", Condition(), (notice,))), facts(anchors={"aware": AWARE}))
    assert task.due_at == AWARE + timedelta(hours=72)
    assert task.holding_template == "affected-users-holding"
    assert task.holding_due_at == AWARE + timedelta(hours=24)


def test_a_notice_without_holding_has_no_holding_due() -> None:
    (task,) = required(config(Policy("p", Condition(), (step("legal", "1h"),))), facts())
    assert (task.holding_template, task.holding_due_at) == (None, None)


def test_tasks_are_sorted_by_due_time_then_key() -> None:
    plan = config(
        Policy("b", Condition(), (step("late", "4h"), step("same", "1h"))),
        Policy("a", Condition(), (step("same", "1h"), step("first", "0m"))),
    )
    assert [t.key for t in required(plan, facts())] == ["a/first", "a/same", "b/same", "b/late"]


def test_only_matching_policies_give_tasks() -> None:
    plan = config(
        Policy("safety", condition(types=["safety"]), (step("legal", "0m"),)),
        Policy("fairness", condition(types=["fairness_violation"]), (step("responsible-ai", "1h"),)),
    )
    assert [t.key for t in required(plan, facts())] == ["fairness/responsible-ai"]
    assert [t.key for t in required(plan, facts(type="safety"))] == ["safety/legal"]


def test_within_one_policy_the_first_step_for_an_audience_wins() -> None:
    plan = config(
        Policy("p", Condition(), (step("legal", "4h", template="legal"), step("legal", "1h", template="x")))
    )
    (task,) = required(plan, facts())
    assert (task.due_at, task.template) == (OPENED + timedelta(hours=4), "legal")


def test_no_policies_no_tasks() -> None:
    assert required(CommunicationsConfig(), facts()) == []
