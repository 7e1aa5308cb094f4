"""Who a policy step pages, and the on-call overview (per rotation, per model, unknown models)."""

from __future__ import annotations

import dataclasses
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.catalog.loader import load_catalog
from app.oncall.config import OncallConfig
from app.oncall.service import first_responders, on_call_now, resolve_targets

ONCALL = """\
people:
  - id: alice
    name: Alice Example
    timezone: Europe/Amsterdam
    contact: [{type: email, address: alice@example.com}]
  - id: bob
    name: Bob Example
    contact: [{type: email, address: bob@example.com}]
  - id: carol
    name: Carol Example
    timezone: America/New_York
    contact: [{type: email, address: carol@example.com}]
rotations:
  - id: primary
    members: [alice, bob]
    handoff: "Mon 09:00"
    timezone: Europe/Amsterdam
    start: "2026-01-05T09:00:00+01:00"
    overrides:
      - {person: carol, start: "2026-06-10T00:00:00Z", end: "2026-06-12T00:00:00Z"}
  - id: secondary
    members: [carol]
    shift: daily
escalation_policies:
  - id: standard
    steps:
      - {notify: ["rotation:primary"]}
      - {notify: ["person:carol"], after: 10m}
  - id: owner-first
    steps:
      - {notify: [owner, "rotation:primary"]}
      - {notify: ["rotation:secondary"], after: 5m}
models:
  - {id: fraud-scorer, owner: alice, team: risk-ml, escalation_policy: owner-first}
  - {id: churn, owner: bob, escalation_policy: standard}
  - {id: sandbox, tier: experimental}
default_escalation_policy: standard
"""
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# Wednesday 3 June 2026: week 21 since the rotation's start, so bob (the second member) is on call.
NOW = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
# Wednesday 10 June 2026: alice's week, but carol holds an override.
OVERRIDDEN = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
ALICE = {"id": "alice", "name": "Alice Example", "timezone": "Europe/Amsterdam"}
BOB = {"id": "bob", "name": "Bob Example", "timezone": "UTC"}
CAROL = {"id": "carol", "name": "Carol Example", "timezone": "America/New_York"}


@pytest.fixture(scope="module")
def oncall(tmp_path_factory: pytest.TempPathFactory) -> OncallConfig:
    base = tmp_path_factory.mktemp("oncall")
    rules, runbooks = base / "rules", base / "runbooks"
    rules.mkdir()
    runbooks.mkdir()
    (rules / "oncall.yaml").write_text(textwrap.dedent(ONCALL), encoding="utf-8")
    return load_catalog(Path(rules), Path(runbooks)).oncall


# --- resolve_targets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "owner", "expected"),
    [
        (("owner",), "alice", ["alice"]),
        (("owner",), "carol", ["carol"]),
        (("person:carol",), None, ["carol"]),
        (("rotation:primary",), None, ["bob"]),
        (("rotation:secondary",), None, ["carol"]),
        (("person:carol", "owner"), "alice", ["carol", "alice"]),
        (("owner", "person:alice", "rotation:primary", "person:bob", "owner"), "alice", ["alice", "bob"]),
        (("rotation:primary", "person:bob"), None, ["bob"]),
    ],
)
def test_resolve_targets(
    oncall: OncallConfig, targets: tuple[str, ...], owner: str | None, expected: list[str]
) -> None:
    assert resolve_targets(oncall, targets, owner, NOW) == (expected, [])


def test_resolve_targets_follows_the_rotation_and_its_overrides(oncall: OncallConfig) -> None:
    assert resolve_targets(oncall, ("rotation:primary",), None, NOW) == (["bob"], [])
    assert resolve_targets(oncall, ("rotation:primary",), None, datetime(2026, 6, 8, 7, 0, tzinfo=UTC)) == (
        ["alice"],
        [],
    )
    assert resolve_targets(oncall, ("rotation:primary",), None, OVERRIDDEN) == (["carol"], [])
    # The override and the owner are the same person: paged once.
    assert resolve_targets(oncall, ("owner", "rotation:primary"), "carol", OVERRIDDEN) == (["carol"], [])


def test_owner_target_without_an_owner(oncall: OncallConfig) -> None:
    assert resolve_targets(oncall, ("owner",), None, NOW) == (
        [],
        ["step targets the model owner, but the model has none"],
    )


def test_unknown_person(oncall: OncallConfig) -> None:
    assert resolve_targets(oncall, ("person:ghost",), None, NOW) == (
        [],
        ["person 'ghost' is not in the on-call file"],
    )
    # An owner frozen onto an incident who has since left the on-call file.
    assert resolve_targets(oncall, ("owner",), "zed", NOW) == (
        [],
        ["person 'zed' is not in the on-call file"],
    )


def test_missing_rotation(oncall: OncallConfig) -> None:
    assert resolve_targets(oncall, ("rotation:gone",), None, NOW) == (
        [],
        ["rotation 'gone' no longer exists"],
    )


def test_problems_do_not_stop_the_other_targets(oncall: OncallConfig) -> None:
    people, problems = resolve_targets(
        oncall, ("rotation:gone", "person:ghost", "owner", "person:carol"), None, NOW
    )
    assert people == ["carol"]
    assert problems == [
        "rotation 'gone' no longer exists",
        "person 'ghost' is not in the on-call file",
        "step targets the model owner, but the model has none",
    ]


def test_a_rotation_removed_on_reload(oncall: OncallConfig) -> None:
    reloaded = dataclasses.replace(oncall, rotations={})
    assert resolve_targets(reloaded, ("rotation:primary", "person:alice"), None, NOW) == (
        ["alice"],
        ["rotation 'primary' no longer exists"],
    )


# --- first_responders -----------------------------------------------------------------------------


def test_first_responders(oncall: OncallConfig) -> None:
    assert first_responders(oncall, "alice", "owner-first", NOW) == ["alice", "bob"]
    assert first_responders(oncall, "bob", "owner-first", NOW) == ["bob"]
    assert first_responders(oncall, "alice", "standard", NOW) == ["bob"]  # step 1 only
    assert first_responders(oncall, "alice", "standard", OVERRIDDEN) == ["carol"]
    assert first_responders(oncall, None, "owner-first", NOW) == ["bob"]


@pytest.mark.parametrize("policy", [None, "", "ghost"])
def test_first_responders_without_a_known_policy(oncall: OncallConfig, policy: str | None) -> None:
    assert first_responders(oncall, "alice", policy, NOW) == []


# --- on_call_now ----------------------------------------------------------------------------------


def test_on_call_now(oncall: OncallConfig) -> None:
    overview = on_call_now(oncall, NOW)

    assert overview == {
        "at": NOW,
        "rotations": [
            {
                "id": "primary",
                "on_call": BOB,
                "override": False,
                "shift_start": datetime(2026, 6, 1, 9, 0, tzinfo=AMSTERDAM),
                "shift_end": datetime(2026, 6, 8, 9, 0, tzinfo=AMSTERDAM),
            },
            {
                "id": "secondary",
                "on_call": CAROL,
                "override": False,
                "shift_start": datetime(2026, 6, 3, 9, 0, tzinfo=UTC),
                "shift_end": datetime(2026, 6, 4, 9, 0, tzinfo=UTC),
            },
        ],
        "models": [
            {
                "id": "fraud-scorer",
                "owner": ALICE,
                "team": "risk-ml",
                "escalation_policy": "owner-first",
                "paged_first": [ALICE, BOB],
            },
            {
                "id": "churn",
                "owner": BOB,
                "team": None,
                "escalation_policy": "standard",
                "paged_first": [BOB],
            },
            {
                "id": "sandbox",
                "owner": None,
                "team": None,
                "escalation_policy": "standard",  # the default policy
                "paged_first": [BOB],
            },
        ],
        "unknown_models": {"escalation_policy": "standard", "paged_first": [BOB]},
    }


def test_on_call_now_during_an_override(oncall: OncallConfig) -> None:
    overview = on_call_now(oncall, OVERRIDDEN)

    primary = overview["rotations"][0]
    assert primary["id"] == "primary"
    assert primary["on_call"] == CAROL
    assert primary["override"] is True
    # The regular shift is still reported.
    assert primary["shift_start"] == datetime(2026, 6, 8, 7, 0, tzinfo=UTC)
    assert primary["shift_end"] == datetime(2026, 6, 15, 7, 0, tzinfo=UTC)
    assert overview["unknown_models"]["paged_first"] == [CAROL]
    fraud = overview["models"][0]
    assert fraud["paged_first"] == [ALICE, CAROL]


def test_on_call_now_override_ends_exclusively(oncall: OncallConfig) -> None:
    overview = on_call_now(oncall, datetime(2026, 6, 12, 0, 0, tzinfo=UTC))

    primary = overview["rotations"][0]
    assert (primary["on_call"], primary["override"]) == (ALICE, False)


def test_on_call_now_without_a_default_policy(oncall: OncallConfig) -> None:
    bare = dataclasses.replace(oncall, default_policy=None)

    overview = on_call_now(bare, NOW)

    assert overview["unknown_models"] == {"escalation_policy": None, "paged_first": []}
    sandbox = overview["models"][2]
    assert (sandbox["id"], sandbox["escalation_policy"], sandbox["paged_first"]) == ("sandbox", None, [])


def test_on_call_now_of_an_empty_config() -> None:
    assert on_call_now(OncallConfig(), NOW) == {
        "at": NOW,
        "rotations": [],
        "models": [],
        "unknown_models": {"escalation_policy": None, "paged_first": []},
    }


def test_on_call_now_names_someone_missing_from_the_people(oncall: OncallConfig) -> None:
    people = {k: v for k, v in oncall.people.items() if k != "alice"}
    partial = dataclasses.replace(oncall, people=people)

    fraud = on_call_now(partial, NOW)["models"][0]

    assert fraud["owner"] == {"id": "alice", "name": "", "timezone": None}
    assert fraud["paged_first"] == [BOB]  # alice can no longer be paged
