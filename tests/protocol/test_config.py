"""The `communications:` section: audiences, policies and regimes, and every problem it can have."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from app.protocol.config import CommunicationsConfig, parse_communications
from app.protocol.period import Period
from app.sections import Located

WHERE = "rules/50-protocol.yaml:17"
PEOPLE = {"maria", "omar"}
TEAMS = {"ml-platform"}


def parse(value: Any) -> tuple[CommunicationsConfig, list[str]]:
    problems: list[str] = []
    config = parse_communications({"communications": [Located(value, WHERE)]}, PEOPLE, TEAMS, problems)
    return config, problems


def one_problem(value: Any) -> str:
    _, problems = parse(value)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{WHERE}: communications: "), problems[0]
    return problems[0]


def policy(*notify: dict[str, Any], name: str = "p", **extra: Any) -> dict[str, Any]:
    return {"name": name, "notify": list(notify), **extra}


AUDIENCES: dict[str, Any] = {
    "ml-lead": {"name": "ML lead", "people": ["maria"]},
    "support": {"teams": ["ml-platform"]},
    "affected-users": {"channel": "letter"},
    "regulator": {"channel": "portal"},
    "press": {"channel": "press office", "external": True},
}


def with_audiences(**section: Any) -> dict[str, Any]:
    return {"audiences": AUDIENCES, **section}


FULL: dict[str, Any] = {
    "contact": "the model risk desk",
    "audiences": AUDIENCES,
    "policies": [
        {
            "name": "fairness",
            "when": {"types": ["fairness_violation"], "harm_levels": ["harm_event", "serious"]},
            "notify": [
                {"audience": "ml-lead", "within": "1h", "from": "opened"},
                {
                    "audience": "affected-users",
                    "within": "72h",
                    "from": "aware",
                    "holding": {"template": "affected-users-holding", "within": "24h"},
                },
            ],
        },
        {
            "name": "sev1-updates",
            "when": {"severities": ["SEV1"]},
            "notify": [
                {"audience": "support", "template": "stakeholders-update", "within": "30m", "every": "30m"}
            ],
        },
    ],
    "regimes": [
        {
            "name": "dora_art19",
            "basis": "DORA Art. 19(4)",
            "effective_from": "2025-01-17",
            "when": {"moments": ["classified_major"]},
            "stages": [
                {
                    "name": "initial",
                    "within": "4h",
                    "from": "classified_major",
                    "at_most": {"within": "24h", "from": "aware"},
                    "basis": "Art. 19(4)(a)",
                },
                {"name": "intermediate", "within": "72h", "from": "previous"},
                {"name": "final", "within": "1mo", "from": "previous"},
            ],
        }
    ],
}


def test_a_full_configuration_is_read_as_written() -> None:
    config, problems = parse(FULL)
    assert problems == []
    assert config.contact == "the model risk desk"
    assert sorted(config.audiences) == ["affected-users", "ml-lead", "press", "regulator", "support"]
    lead = config.audiences["ml-lead"]
    assert (lead.name, lead.people, lead.teams, lead.external) == ("ML lead", ("maria",), (), False)
    assert lead.describe_channel() == "paging"
    assert config.audiences["support"].name == "support"  # the id when no name is given
    assert config.audiences["support"].teams == ("ml-platform",)
    assert config.audiences["regulator"].describe_channel() == "portal"

    fairness, updates = config.policies
    assert fairness.name == "fairness"
    assert fairness.when.types == ["fairness_violation"]
    assert fairness.when.harm_levels == ["harm_event", "serious"]
    lead_step, users_step = fairness.notify
    assert lead_step.within == Period(delta=timedelta(hours=1))
    assert lead_step.anchor == "opened"
    assert users_step.anchor == "aware"
    assert users_step.holding_template == "affected-users-holding"
    assert users_step.holding_within == Period(delta=timedelta(hours=24))
    (update,) = updates.notify
    assert update.template == "stakeholders-update"
    assert update.every == Period(delta=timedelta(minutes=30))

    (regime,) = config.regimes
    assert (regime.name, regime.basis, regime.effective_from) == (
        "dora_art19",
        "DORA Art. 19(4)",
        date(2025, 1, 17),
    )
    assert regime.when.moments == ["classified_major"]
    initial, intermediate, final = regime.stages
    assert initial.anchor == "classified_major"
    assert initial.within == Period(delta=timedelta(hours=4))
    assert initial.cap == (Period(delta=timedelta(hours=24)), "aware")
    assert initial.basis == "Art. 19(4)(a)"
    assert (intermediate.anchor, intermediate.cap, intermediate.basis) == ("previous", None, "")
    assert final.within == Period(months=1)

    assert config.snapshot() == {
        "audiences": ["affected-users", "ml-lead", "press", "regulator", "support"],
        "policies": ["fairness", "sev1-updates"],
        "regimes": ["dora_art19"],
    }
    assert config.templates_used() == {
        "ml-lead",
        "affected-users",
        "affected-users-holding",
        "stakeholders-update",
    }


def test_no_section_and_an_empty_section_give_an_empty_configuration() -> None:
    problems: list[str] = []
    assert parse_communications({}, PEOPLE, TEAMS, problems) == CommunicationsConfig()
    assert parse(None) == (CommunicationsConfig(), [])


@pytest.mark.parametrize(
    ("audience", "given", "template", "approval"),
    [
        ("ml-lead", {}, "ml-lead", False),
        ("ml-lead", {"approval": True}, "ml-lead", True),
        ("ml-lead", {"template": "legal"}, "legal", False),
        ("support", {"approval": False}, "support", False),
        ("affected-users", {}, "affected-users", True),
        ("affected-users", {"approval": True}, "affected-users", True),
        ("regulator", {}, "regulator", True),
        ("press", {}, "press", True),  # declared external
    ],
)
def test_notify_defaults(audience: str, given: dict[str, Any], template: str, approval: bool) -> None:
    config, problems = parse(with_audiences(policies=[policy({"audience": audience, **given})]))
    assert problems == []
    (step,) = config.policies[0].notify
    assert (step.template, step.approval) == (template, approval)
    assert (step.within, step.anchor, step.every, step.holding_template) == (Period(), "opened", None, None)


def test_an_internal_audience_can_be_declared_external_and_back() -> None:
    audiences = {
        "board": {"people": ["omar"], "external": True},
        "regulator": {"channel": "x", "external": False},
    }
    config, problems = parse({"audiences": audiences})
    assert problems == []
    assert config.audiences["board"].external is True
    assert config.audiences["regulator"].external is False


@pytest.mark.parametrize("audience", ["affected-users", "regulator", "press"])
def test_an_external_audience_cannot_skip_approval(audience: str) -> None:
    problem = one_problem(with_audiences(policies=[policy({"audience": audience, "approval": False})]))
    assert repr(audience) in problem
    assert "approval: false" in problem


def test_a_holding_statement_needs_a_notice_that_waits_for_approval() -> None:
    holding = {"template": "ml-lead", "within": "10m"}
    problem = one_problem(with_audiences(policies=[policy({"audience": "ml-lead", "holding": holding})]))
    assert "holding statement" in problem
    config, problems = parse(
        with_audiences(policies=[policy({"audience": "ml-lead", "approval": True, "holding": holding})])
    )
    assert problems == []
    step = config.policies[0].notify[0]
    assert (step.holding_template, step.holding_within) == ("ml-lead", Period(delta=timedelta(minutes=10)))


def test_an_unknown_audience_in_a_policy_is_named_and_dropped() -> None:
    value = with_audiences(policies=[policy({"audience": "ml-lead"}, {"audience": "board"}, name="fairness")])
    config, problems = parse(value)
    assert problems == [f"{WHERE}: communications: policy 'fairness': unknown audience 'board'"]
    assert [s.audience for s in config.policies[0].notify] == ["ml-lead"]


def test_unknown_people_and_teams_are_named() -> None:
    _, problems = parse(
        {"audiences": {"board": {"people": ["maria", "zoe"], "teams": ["ml-platform", "legal"]}}}
    )
    assert problems == [
        f"{WHERE}: communications: audience 'board': unknown person 'zoe'",
        f"{WHERE}: communications: audience 'board': unknown team 'legal'",
    ]


def test_an_audience_must_be_reachable() -> None:
    problem = one_problem({"audiences": {"board": {"name": "Board"}}})
    assert "audiences.board" in problem
    assert "`people`, `teams` or a `channel`" in problem


@pytest.mark.parametrize("audience_id", ["Legal", "legal team", "-legal", "a" * 65, "légal"])
def test_a_bad_audience_id_is_refused(audience_id: str) -> None:
    problem = one_problem({"audiences": {audience_id: {"channel": "letter"}}})
    assert repr(audience_id) in problem


@pytest.mark.parametrize(
    ("step", "field", "bad"),
    [
        ({"audience": "ml-lead", "within": "soon"}, "policies.0.notify.0.within", "soon"),
        ({"audience": "ml-lead", "every": "often"}, "policies.0.notify.0.every", "often"),
        (
            {"audience": "affected-users", "holding": {"template": "h", "within": "later"}},
            "policies.0.notify.0.holding.within",
            "later",
        ),
    ],
)
def test_a_bad_period_in_a_policy_is_a_problem_naming_it(step: dict[str, Any], field: str, bad: str) -> None:
    problem = one_problem(with_audiences(policies=[policy(step)]))
    assert f"{field}: " in problem
    assert repr(bad) in problem


@pytest.mark.parametrize(
    "stage",
    [
        {"name": "initial", "within": "soon"},
        {"name": "initial", "within": "4h", "at_most": {"within": "soon"}},
    ],
)
def test_a_bad_period_in_a_regime_stage_is_a_problem_naming_it(stage: dict[str, Any]) -> None:
    problem = one_problem({"regimes": [{"name": "dora", "basis": "DORA", "stages": [stage]}]})
    assert "'soon'" in problem


def test_an_unknown_anchor_is_refused() -> None:
    problem = one_problem(with_audiences(policies=[policy({"audience": "ml-lead", "from": "detected"})]))
    assert "policies.0.notify.0.from" in problem


@pytest.mark.parametrize(
    ("value", "location"),
    [
        ({"contacts": "x"}, "contacts"),
        ({"audiences": {"board": {"channel": "x", "email": "a@b"}}}, "audiences.board.email"),
        (
            with_audiences(policies=[policy({"audience": "ml-lead", "within_": "1h"})]),
            "policies.0.notify.0.within_",
        ),
        (
            with_audiences(policies=[policy({"audience": "ml-lead"}, notify_all=True)]),
            "policies.0.notify_all",
        ),
        (
            with_audiences(policies=[policy({"audience": "ml-lead"}, when={"type": ["safety"]})]),
            "policies.0.when.type",
        ),
        (
            {"regimes": [{"name": "r", "basis": "b", "stages": [{"name": "s", "within": "1h", "due": "x"}]}]},
            "regimes.0.stages.0.due",
        ),
    ],
)
def test_unknown_keys_are_named_with_their_path(value: dict[str, Any], location: str) -> None:
    assert one_problem(value) == f"{WHERE}: communications: {location}: unknown key"


def test_duplicate_policy_names_are_refused() -> None:
    steps = [
        policy({"audience": "ml-lead"}, name="fairness"),
        policy({"audience": "support"}, name="fairness"),
    ]
    assert one_problem(with_audiences(policies=steps)) == (
        f"{WHERE}: communications: policy 'fairness' is defined twice"
    )


def test_duplicate_regime_names_are_refused() -> None:
    regime = {"name": "nis2", "basis": "NIS2", "stages": [{"name": "early", "within": "24h"}]}
    assert (
        one_problem({"regimes": [regime, regime]})
        == f"{WHERE}: communications: regime 'nis2' is defined twice"
    )


def test_the_first_stage_cannot_count_from_a_previous_one() -> None:
    stages = [
        {"name": "early", "within": "24h", "from": "previous"},
        {"name": "final", "within": "1mo", "from": "previous"},
    ]
    problem = one_problem({"regimes": [{"name": "nis2", "basis": "NIS2", "stages": stages}]})
    assert problem == f"{WHERE}: communications: regime 'nis2': the first stage has no previous stage"


def test_a_later_stage_may_count_from_the_previous_one() -> None:
    stages = [{"name": "early", "within": "24h"}, {"name": "final", "within": "1mo", "from": "previous"}]
    config, problems = parse({"regimes": [{"name": "nis2", "basis": "NIS2", "stages": stages}]})
    assert problems == []
    assert [s.anchor for s in config.regimes[0].stages] == ["aware", "previous"]


@pytest.mark.parametrize(
    "regime",
    [
        {"name": "nis2", "stages": [{"name": "early", "within": "24h"}]},  # no basis
        {"name": "nis2", "basis": "", "stages": [{"name": "early", "within": "24h"}]},
        {"name": "nis2", "basis": "NIS2", "stages": []},
        {"name": "NIS 2", "basis": "NIS2", "stages": [{"name": "early", "within": "24h"}]},
        {
            "name": "nis2",
            "basis": "NIS2",
            "effective_from": "soon",
            "stages": [{"name": "e", "within": "1h"}],
        },
    ],
)
def test_a_malformed_regime_is_one_problem(regime: dict[str, Any]) -> None:
    assert "regimes.0." in one_problem({"regimes": [regime]})


def test_a_section_that_is_not_a_mapping_is_a_problem() -> None:
    assert "valid dictionary" in one_problem(["ml-lead"])


def test_every_problem_of_a_well_formed_section_is_reported_at_once() -> None:
    value = {
        "audiences": {**AUDIENCES, "board": {"people": ["zoe"], "teams": ["legal"]}},
        "policies": [
            policy({"audience": "regulator", "approval": False}, {"audience": "nobody"}, name="p1"),
            policy({"audience": "ml-lead", "holding": {"template": "x", "within": "1h"}}, name="p1"),
        ],
        "regimes": [
            {"name": "r", "basis": "b", "stages": [{"name": "s", "within": "1h", "from": "previous"}]}
        ],
    }
    _, problems = parse(value)
    assert len(problems) == 7, problems
    assert all(p.startswith(f"{WHERE}: communications: ") for p in problems)
    for needle in [
        "'zoe'",
        "'legal'",
        "approval: false",
        "'nobody'",
        "holding statement",
        "'p1' is defined twice",
    ]:
        assert any(needle in p for p in problems), needle
    assert any("first stage has no previous stage" in p for p in problems)


def test_every_malformed_part_of_a_section_is_reported_at_once() -> None:
    value = {
        "contacts": "x",
        "audiences": {"board": {}},
        "policies": [policy({"audience": "ml-lead", "within": "soon"}), {"name": "q", "notify": []}],
    }
    _, problems = parse(value)
    assert sorted(p.split(": ")[2] for p in problems) == [
        "audiences.board",
        "contacts",
        "policies.0.notify.0.within",
        "policies.1.notify",
    ]
