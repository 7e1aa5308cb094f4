"""The on-call sections of the rules directory: loading, merging across files, and validation
problems reported all at once with file and line."""

from __future__ import annotations

import shutil
import textwrap
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from app.catalog.loader import Catalog, ConfigError, load_catalog
from app.cli import main
from app.oncall.config import Policy, Step
from app.oncall.rotation import Override
from app.paging.service import urgency_of

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE = """\
people:
  - id: alice
    name: Alice Example
    timezone: Europe/Amsterdam
    contact:
      - {type: email, address: alice@example.com}
      - {type: webhook, url: http://127.0.0.1:9999/alice}
  - id: bob
    name: Bob Example
    contact:
      - {type: slack, webhook_url: https://hooks.slack.com/services/T0/B0/XXX}
      - {type: pagerduty, routing_key: 0123456789abcdef0123456789abcdef}
rotations:
  - id: risk-ml-primary
    members: [alice, bob]
    shift: weekly              # or daily, or a duration such as 12h
    handoff: "Mon 09:00"
    timezone: Europe/Amsterdam
    overrides:
      - {person: bob, start: "2026-12-24T00:00:00Z", end: "2026-12-27T00:00:00Z"}
escalation_policies:
  - id: risk-ml-default
    steps:
      - {notify: ["rotation:risk-ml-primary"], after: 0m}
      - {notify: ["person:bob"], after: 10m}
    repeat: 1
models:
  - id: fraud-scorer
    owner: alice
    team: risk-ml
    escalation_policy: risk-ml-default
    tier: production
default_escalation_policy: risk-ml-default
"""

# A valid base that the cases below add one broken item to.
BASE = """\
people:
  - id: alice
    timezone: Europe/Amsterdam
    contact:
      - {type: email, address: alice@example.com}
  - id: bob
    contact:
      - {type: slack, webhook_url: https://hooks.slack.com/services/T0/B0/XXX}
rotations:
  - id: primary
    members: [alice, bob]
escalation_policies:
  - id: standard
    steps:
      - {notify: [owner]}
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    return directory


@pytest.fixture
def runbooks(tmp_path: Path) -> Path:
    directory = tmp_path / "runbooks"
    directory.mkdir()
    return directory


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def at_line(path: Path, needle: str) -> str:
    """`file:line: ` of the first line of `path` containing `needle`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return f"{path}:{number}: "
    raise AssertionError(f"{needle!r} not in {path}")


def problems_of(rules: Path, runbooks: Path) -> list[str]:
    with pytest.raises(ConfigError) as excinfo:
        load_catalog(rules, runbooks)
    return excinfo.value.problems


def load(rules: Path, runbooks: Path) -> Catalog:
    return load_catalog(rules, runbooks)


# --- the example ----------------------------------------------------------------------------------


def test_the_example_loads_as_written(rules: Path, runbooks: Path) -> None:
    write(rules, "oncall.yaml", EXAMPLE)

    config = load(rules, runbooks)

    assert config.ruleset.rules == ()
    oncall = config.oncall
    assert list(oncall.people) == ["alice", "bob"]
    alice, bob = oncall.people["alice"], oncall.people["bob"]
    assert (alice.name, alice.timezone) == ("Alice Example", "Europe/Amsterdam")
    assert [c.type for c in alice.contact] == ["email", "webhook"]
    assert alice.contact[0].model_dump() == {
        "type": "email",
        "address": "alice@example.com",
        "urgency": ["high", "low"],
    }
    assert alice.contact[1].model_dump() == {
        "type": "webhook",
        "url": "http://127.0.0.1:9999/alice",
        "secret": None,
        "urgency": ["high", "low"],
    }
    assert (bob.name, bob.timezone) == ("Bob Example", "UTC")
    assert [c.type for c in bob.contact] == ["slack", "pagerduty"]
    assert bob.contact[1].model_dump() == {
        "type": "pagerduty",
        "routing_key": "0123456789abcdef0123456789abcdef",
        "urgency": ["high"],  # a phone call only for what is urgent
    }

    assert list(oncall.rotations) == ["risk-ml-primary"]
    rotation = oncall.rotations["risk-ml-primary"]
    assert rotation.members == ("alice", "bob")
    assert (rotation.shift, rotation.handoff_day, rotation.handoff_time) == ("weekly", 0, time(9, 0))
    assert rotation.tz.key == "Europe/Amsterdam"
    assert rotation.start is None
    assert rotation.overrides == (
        Override("bob", datetime(2026, 12, 24, tzinfo=UTC), datetime(2026, 12, 27, tzinfo=UTC)),
    )

    assert oncall.policies == {
        "risk-ml-default": Policy(
            "risk-ml-default",
            (
                Step(("rotation:risk-ml-primary",), timedelta(0)),
                Step(("person:bob",), timedelta(minutes=10)),
            ),
            repeat=1,
            repeat_delay=timedelta(minutes=10),
        )
    }
    model = oncall.models["fraud-scorer"]
    assert (model.owner, model.team, model.escalation_policy, model.tier) == (
        "alice",
        "risk-ml",
        "risk-ml-default",
        "production",
    )
    assert oncall.teams == {}
    assert oncall.default_policy == "risk-ml-default"
    assert oncall.high_urgency == frozenset({"SEV1", "SEV2"})


def test_the_shipped_oncall_file_loads(rules: Path, runbooks: Path) -> None:
    shutil.copy(ROOT / "rules" / "oncall.yaml", rules / "oncall.yaml")

    oncall = load(rules, runbooks).oncall

    assert {"alice", "bob"} <= set(oncall.people)  # rules/communications.yaml names them
    assert "risk-ml-oncall" in oncall.rotations
    assert oncall.default_policy in oncall.policies


def test_sections_split_across_files_are_merged(rules: Path, runbooks: Path) -> None:
    write(
        rules,
        "10-people.yaml",
        """\
        people:
          - id: alice
            contact: [{type: email, address: alice@example.com}]
        """,
    )
    write(
        rules,
        "20-more-people.yml",
        """\
        people:
          - id: bob
            contact: [{type: email, address: bob@example.com}]
        rotations:
          - id: primary
            members: [alice, bob]
            shift: 12h
            start: "2026-01-01T06:00:00+01:00"
        """,
    )
    write(
        rules,
        "30-policies.yaml",
        """\
        escalation_policies:
          - id: standard
            steps:
              - {notify: ["rotation:primary"]}
              - {notify: [owner, "person:bob"], after: 15m}
            repeat: 2
            repeat_delay: 30m
        models:
          - {id: fraud-scorer, owner: alice, escalation_policy: standard}
          - {id: churn, owner: bob, escalation_policy: standard}
        teams:
          - id: risk-ml
            name: Risk ML
            fallback: [{type: email, address: risk-ml@example.com}]
        default_escalation_policy: standard
        """,
    )

    config = load(rules, runbooks)

    oncall = config.oncall
    assert len(config.files) == 3
    assert list(oncall.people) == ["alice", "bob"]
    assert oncall.rotations["primary"].shift == "12h"
    assert oncall.rotations["primary"].start == datetime(2026, 1, 1, 5, 0, tzinfo=UTC)
    policy = oncall.policies["standard"]
    assert policy.steps[1] == Step(("owner", "person:bob"), timedelta(minutes=15))
    assert (policy.repeat, policy.repeat_delay) == (2, timedelta(minutes=30))
    assert list(oncall.models) == ["fraud-scorer", "churn"]
    assert oncall.teams["risk-ml"].fallback[0].model_dump()["address"] == "risk-ml@example.com"
    assert oncall.default_policy == "standard"


def test_rules_and_oncall_sections_share_a_file(rules: Path, runbooks: Path) -> None:
    write(
        rules,
        "rules.yaml",
        EXAMPLE
        + """\
rules:
  - name: accuracy-drop
    matchers: ['alertname="ModelAccuracyDrop"']
    type: performance_degradation
    severity: SEV2
""",
    )

    config = load(rules, runbooks)

    assert [r.name for r in config.ruleset.rules] == ["accuracy-drop"]
    assert "fraud-scorer" in config.oncall.models


def test_a_rules_dir_without_oncall_sections_has_an_empty_oncall(rules: Path, runbooks: Path) -> None:
    write(rules, "rules.yaml", "rules: []\n")

    oncall = load(rules, runbooks).oncall

    assert (oncall.people, oncall.rotations, oncall.policies, oncall.models) == ({}, {}, {}, {})
    assert oncall.default_policy is None


# --- paging section -------------------------------------------------------------------------------


def test_paging_high_urgency_changes_urgency(rules: Path, runbooks: Path) -> None:
    write(rules, "oncall.yaml", EXAMPLE)
    default = load(rules, runbooks).oncall
    assert [urgency_of(default, s) for s in ("SEV1", "SEV2", "SEV3", "SEV4")] == [
        "high",
        "high",
        "low",
        "low",
    ]

    write(rules, "paging.yaml", "paging: {high_urgency: [SEV1]}\n")
    oncall = load(rules, runbooks).oncall

    assert oncall.high_urgency == frozenset({"SEV1"})
    assert [urgency_of(oncall, s) for s in ("SEV1", "SEV2", "SEV3", "SEV4")] == ["high", "low", "low", "low"]


def test_paging_high_urgency_may_be_empty(rules: Path, runbooks: Path) -> None:
    write(rules, "paging.yaml", "paging: {high_urgency: []}\n")

    oncall = load(rules, runbooks).oncall

    assert urgency_of(oncall, "SEV1") == "low"


def test_paging_section_problems(rules: Path, runbooks: Path) -> None:
    path = write(rules, "paging.yaml", "paging: {high_urgency: [SEV5], low: [SEV4]}\n")

    problems = problems_of(rules, runbooks)

    assert len(problems) == 2, problems
    assert all(p.startswith(f"{path}: paging: ") for p in problems)
    assert any("high_urgency.0" in p for p in problems)
    assert any("low: unknown key" in p for p in problems)


# --- one broken item at a time --------------------------------------------------------------------

CASES = {
    "unknown rotation member": (
        """\
        rotations:
          - id: other
            members: [alice]
          - id: broken
            members: [alice, carol]
        """,
        "rotation 'broken': unknown person 'carol'",
    ),
    "unknown override person": (
        """\
        rotations:
          - id: broken
            members: [alice, bob]
            overrides:
              - {person: dave, start: "2026-12-24T00:00:00Z", end: "2026-12-27T00:00:00Z"}
        """,
        "rotation 'broken': unknown person 'dave'",
    ),
    "override ending before it starts": (
        """\
        rotations:
          - id: broken
            members: [alice]
            overrides:
              - {person: bob, start: "2026-12-27T00:00:00Z", end: "2026-12-24T00:00:00Z"}
        """,
        ("rotation 'broken': overrides.0: ", "override end must be after its start"),
    ),
    "override without a time zone": (
        """\
        rotations:
          - id: broken
            members: [alice]
            overrides:
              - {person: bob, start: "2026-12-24T00:00:00", end: "2026-12-27T00:00:00Z"}
        """,
        "rotation 'broken': overrides.0.start",
    ),
    "unknown rotation time zone": (
        """\
        rotations:
          - id: broken
            members: [alice]
            timezone: Moon/Crater
        """,
        "rotation 'broken': unknown time zone 'Moon/Crater'",
    ),
    "shift too short": (
        """\
        rotations:
          - id: broken
            members: [alice]
            shift: 5s
        """,
        ("rotation 'broken': shift: ", "shift must be daily, weekly or a duration of at least 1m"),
    ),
    "shift not a duration": (
        """\
        rotations:
          - id: broken
            members: [alice]
            shift: fortnightly
        """,
        ("rotation 'broken': shift: ", "invalid duration 'fortnightly'"),
    ),
    "unknown handoff weekday": (
        """\
        rotations:
          - id: broken
            members: [alice]
            handoff: "Funday 09:00"
        """,
        "rotation 'broken': unknown weekday in handoff 'Funday 09:00'",
    ),
    "weekday on a daily handoff": (
        """\
        rotations:
          - id: broken
            members: [alice]
            shift: daily
            handoff: "Mon 09:00"
        """,
        "rotation 'broken': a weekday in handoff only makes sense for weekly shifts",
    ),
    "rotation without members": (
        """\
        rotations:
          - id: broken
            members: []
        """,
        ("rotation 'broken': members: ", None),
    ),
    "policy naming an unknown rotation": (
        """\
        escalation_policies:
          - id: broken
            steps:
              - {notify: ["rotation:ghost"]}
        """,
        "escalation policy 'broken': unknown rotation 'ghost'",
    ),
    "policy naming an unknown person": (
        """\
        escalation_policies:
          - id: broken
            steps:
              - {notify: ["rotation:primary"]}
              - {notify: ["person:zed"], after: 5m}
        """,
        "escalation policy 'broken': unknown person 'zed'",
    ),
    "after decreasing": (
        """\
        escalation_policies:
          - id: broken
            steps:
              - {notify: [owner], after: 10m}
              - {notify: ["person:bob"], after: 5m}
        """,
        "escalation policy 'broken': step 2 `after` is earlier than the step before it",
    ),
    "policy without steps": (
        """\
        escalation_policies:
          - id: broken
            steps: []
        """,
        ("escalation policy 'broken': steps: ", None),
    ),
    "repeat_delay too short": (
        """\
        escalation_policies:
          - id: broken
            steps: [{notify: [owner]}]
            repeat: 1
            repeat_delay: 30s
        """,
        ("escalation policy 'broken': repeat_delay: ", "repeat_delay must be at least 1m"),
    ),
    "production model without owner": (
        """\
        models:
          - id: broken
            escalation_policy: standard
            tier: production
        """,
        "model 'broken': a production model needs an owner and an escalation_policy",
    ),
    "production model without escalation policy": (
        """\
        models:
          - id: broken
            owner: alice
        """,
        "model 'broken': a production model needs an owner and an escalation_policy",
    ),
    "unknown owner": (
        """\
        models:
          - id: broken
            owner: zed
            escalation_policy: standard
        """,
        "model 'broken': unknown owner 'zed'",
    ),
    "unknown policy": (
        """\
        models:
          - id: broken
            owner: alice
            escalation_policy: ghost
        """,
        "model 'broken': unknown escalation policy 'ghost'",
    ),
    "unknown tier": (
        """\
        models:
          - id: broken
            owner: alice
            escalation_policy: standard
            tier: prod
        """,
        "model 'broken': tier:",
    ),
    "contact of unknown type": (
        """\
        people:
          - id: broken
            contact:
              - {type: pager, number: "555-0100"}
        """,
        ("person 'broken': contact.0: ", None),
    ),
    "routing key too short": (
        """\
        people:
          - id: broken
            contact:
              - {type: email, address: broken@example.com}
              - {type: pagerduty, routing_key: 0123456789abcdef0123456789abcde}
        """,
        ("person 'broken': contact.1.pagerduty.routing_key: ", None),
    ),
    "routing key too long": (
        """\
        people:
          - id: broken
            contact:
              - {type: pagerduty, routing_key: 0123456789abcdef0123456789abcdef0}
        """,
        ("person 'broken': contact.0.pagerduty.routing_key: ", None),
    ),
    "email without @": (
        """\
        people:
          - id: broken
            contact:
              - {type: email, address: broken.example.com}
        """,
        ("person 'broken': contact.0.email.address: ", None),
    ),
    "person without contact": (
        """\
        people:
          - id: broken
            contact: []
        """,
        ("person 'broken': contact: ", None),
    ),
    "unknown key in a person": (
        """\
        people:
          - id: broken
            phone: "555-0100"
            contact: [{type: email, address: broken@example.com}]
        """,
        "person 'broken': phone: unknown key",
    ),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_one_problem_with_file_and_line(
    rules: Path, runbooks: Path, text: str, expected: str | tuple[str, str | None]
) -> None:
    write(rules, "00-base.yaml", BASE)
    path = write(rules, "50-case.yaml", text)

    problems = problems_of(rules, runbooks)

    assert len(problems) == 1, problems
    if isinstance(expected, str):  # all of it is our own text
        assert problems[0].startswith(at_line(path, "- id: broken") + expected), problems
        return
    # (where, what and which field; then our own text, or None where pydantic explains)
    prefix, ours = expected
    problem = problems[0]
    assert problem.startswith(at_line(path, "- id: broken") + prefix), problems
    rest = problem.removeprefix(at_line(path, "- id: broken") + prefix)
    assert rest.strip(), problem
    if ours is not None:  # possibly behind pydantic's "Value error, " wrapper, never further
        assert 0 <= rest.find(ours) <= len("Value error, "), problem


@pytest.mark.parametrize("target", ["team:risk-ml", "person:", "rotation:", "alice", "owner:alice", ":x"])
def test_target_of_bad_form(rules: Path, runbooks: Path, target: str) -> None:
    write(rules, "00-base.yaml", BASE)
    path = write(
        rules,
        "50-case.yaml",
        f"""\
        escalation_policies:
          - id: broken
            steps:
              - {{notify: [owner, "{target}"]}}
        """,
    )

    problems = problems_of(rules, runbooks)

    assert problems == [
        f"{at_line(path, '- id: broken')}escalation policy 'broken': target {target!r} must be "
        "'owner', 'person:<id>' or 'rotation:<id>'"
    ]


@pytest.mark.parametrize("tier", ["experimental", "development", "staging"])
def test_a_non_production_model_needs_no_owner_or_policy(rules: Path, runbooks: Path, tier: str) -> None:
    write(rules, "00-base.yaml", BASE)
    write(rules, "50-models.yaml", f"models:\n  - {{id: sandbox, tier: {tier}}}\n")

    model = load(rules, runbooks).oncall.models["sandbox"]

    assert (model.owner, model.escalation_policy, model.tier) == (None, None, tier)


def test_a_model_without_tier_is_production(rules: Path, runbooks: Path) -> None:
    write(rules, "00-base.yaml", BASE)
    path = write(rules, "50-models.yaml", "models:\n  - {id: sandbox}\n")

    assert problems_of(rules, runbooks) == [
        f"{path}:2: model 'sandbox': a production model needs an owner and an escalation_policy"
    ]


def test_default_policy_naming_an_unknown_policy(rules: Path, runbooks: Path) -> None:
    write(rules, "00-base.yaml", BASE)
    path = write(rules, "50-default.yaml", "default_escalation_policy: ghost\n")

    problems = problems_of(rules, runbooks)

    assert len(problems) == 1
    assert problems[0].startswith(str(path))
    assert problems[0].endswith("default_escalation_policy names unknown policy 'ghost'")


def test_person_with_unknown_time_zone_is_reported(rules: Path, runbooks: Path) -> None:
    write(rules, "00-base.yaml", BASE)
    write(rules, "50-case.yaml", CAROL_ON_MARS)

    problems = problems_of(rules, runbooks)

    assert len(problems) == 1
    assert "person 'carol'" in problems[0]
    assert "unknown time zone 'Mars/Base'" in problems[0]


CAROL_ON_MARS = """\
people:
  - id: carol
    timezone: Mars/Base
    contact: [{type: email, address: carol@example.com}]
"""


def test_person_with_unknown_time_zone_carries_file_and_line(rules: Path, runbooks: Path) -> None:
    write(rules, "00-base.yaml", BASE)
    path = write(rules, "50-case.yaml", CAROL_ON_MARS)

    problems = problems_of(rules, runbooks)

    assert problems[0].startswith(at_line(path, "- id: carol"))


# --- across files ---------------------------------------------------------------------------------


def test_duplicate_person_across_two_files(rules: Path, runbooks: Path) -> None:
    first = write(rules, "10-a.yaml", "people:\n  - {id: alice, contact: [{type: email, address: a@x.io}]}\n")
    second = write(
        rules,
        "20-b.yaml",
        "people:\n  - {id: bob, contact: [{type: email, address: b@x.io}]}\n"
        "  - {id: alice, contact: [{type: email, address: a2@x.io}]}\n",
    )

    assert problems_of(rules, runbooks) == [f"{second}:3: duplicate person id 'alice' (first at {first}:2)"]


@pytest.mark.parametrize(
    ("section", "item"),
    [
        ("rotations", "{id: primary, members: [alice]}"),
        ("escalation_policies", "{id: standard, steps: [{notify: [owner]}]}"),
        ("models", "{id: fraud, tier: experimental}"),
    ],
)
def test_duplicate_ids_in_other_sections(rules: Path, runbooks: Path, section: str, item: str) -> None:
    write(rules, "10-a.yaml", "people:\n  - {id: alice, contact: [{type: email, address: a@x.io}]}\n")
    first = write(rules, "20-b.yaml", f"{section}:\n  - {item}\n")
    second = write(rules, "30-c.yaml", f"{section}:\n  - {item}\n")

    problems = problems_of(rules, runbooks)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{second}:2: duplicate ")
    assert problems[0].endswith(f"(first at {first}:2)")


def test_default_policy_set_in_two_files(rules: Path, runbooks: Path) -> None:
    first = write(rules, "10-a.yaml", EXAMPLE)
    second = write(rules, "20-b.yaml", "default_escalation_policy: risk-ml-default\n")

    assert problems_of(rules, runbooks) == [
        f"{second}: section 'default_escalation_policy' is already set in {first}"
    ]


def test_unknown_top_level_section(rules: Path, runbooks: Path) -> None:
    write(rules, "00-base.yaml", BASE)
    path = write(rules, "50-typo.yaml", "rotation:\n  - {id: secondary, members: [bob]}\n")

    problems = problems_of(rules, runbooks)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: unknown top-level section 'rotation' (known: ")
    assert "rotations" in problems[0]


def test_a_list_section_that_is_not_a_list(rules: Path, runbooks: Path) -> None:
    path = write(rules, "oncall.yaml", "people: {id: alice}\n")

    assert problems_of(rules, runbooks) == [f"{path}: section 'people' must be a list"]


# --- every problem at once ------------------------------------------------------------------------

BROKEN = """\
people:
  - id: alice
    contact:
      - {type: email, address: alice@example.com}
  - id: bob
    contact:
      - {type: email, address: bob.example.com}
  - id: carol
    contact:
      - {type: fax, number: "1"}
      - {type: pagerduty, routing_key: tooshort}
rotations:
  - id: rot-members
    members: [alice, zed]
    overrides:
      - {person: yan, start: "2026-12-24T00:00:00Z", end: "2026-12-27T00:00:00Z"}
  - id: rot-zone
    members: [alice]
    timezone: Moon/Crater
  - id: rot-shift
    members: [alice]
    shift: 5s
  - id: rot-fortnight
    members: [alice]
    shift: fortnightly
escalation_policies:
  - id: pol
    steps:
      - {notify: ["rotation:ghost", "person:zed", "team:x"], after: 10m}
      - {notify: [owner], after: 5m}
models:
  - id: no-owner
    escalation_policy: pol
  - id: no-policy
    owner: alice
  - id: lab
    tier: experimental
  - id: strangers
    owner: zed
    escalation_policy: ghost
default_escalation_policy: nope
"""


def test_every_problem_is_reported_at_once_with_file_and_line(rules: Path, runbooks: Path) -> None:
    path = write(rules, "oncall.yaml", BROKEN)

    problems = problems_of(rules, runbooks)

    expected = [
        ("- id: bob", "person 'bob': contact.0.email.address"),
        ("- id: carol", "person 'carol': contact.0: "),
        ("- id: carol", "person 'carol': contact.1.pagerduty.routing_key"),
        ("- id: rot-members", "rotation 'rot-members': unknown person 'zed'"),
        ("- id: rot-members", "rotation 'rot-members': unknown person 'yan'"),
        ("- id: rot-zone", "rotation 'rot-zone': unknown time zone 'Moon/Crater'"),
        ("- id: rot-shift", "rotation 'rot-shift': shift: "),
        ("- id: rot-fortnight", "rotation 'rot-fortnight': shift: "),
        ("- id: pol", "escalation policy 'pol': unknown rotation 'ghost'"),
        ("- id: pol", "escalation policy 'pol': unknown person 'zed'"),
        ("- id: pol", "escalation policy 'pol': target 'team:x' must be"),
        ("- id: pol", "escalation policy 'pol': step 2 `after` is earlier"),
        ("- id: no-owner", "model 'no-owner': a production model needs an owner"),
        ("- id: no-policy", "model 'no-policy': a production model needs an owner"),
        ("- id: strangers", "model 'strangers': unknown owner 'zed'"),
        ("- id: strangers", "model 'strangers': unknown escalation policy 'ghost'"),
    ]
    for needle, fragment in expected:
        prefix = at_line(path, needle)
        assert any(p.startswith(prefix + fragment) for p in problems), (prefix + fragment, problems)
    assert f"{path}: default_escalation_policy names unknown policy 'nope'" in problems
    assert len(problems) == len(expected) + 1, problems
    # Our own explanations of the shift errors, whatever pydantic wraps them in.
    assert any(
        p.startswith(at_line(path, "- id: rot-shift")) and "shift must be daily, weekly" in p
        for p in problems
    )
    assert any(
        p.startswith(at_line(path, "- id: rot-fortnight")) and "invalid duration" in p for p in problems
    )
    assert not any("'lab'" in p for p in problems)


def test_check_rules_prints_the_oncall_problems(
    rules: Path, runbooks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(rules, "oncall.yaml", BROKEN)

    code = main(["check-rules", str(rules), "--runbooks", str(runbooks)])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[:-1] == problems_of(rules, runbooks)
    assert lines[-1] == f"{len(lines) - 1} problem(s) found"
    assert any("rotation 'rot-members': unknown person 'zed'" in line for line in lines)
    assert any("default_escalation_policy names unknown policy 'nope'" in line for line in lines)


def test_check_rules_accepts_the_example(
    rules: Path, runbooks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(rules, "oncall.yaml", EXAMPLE)

    code = main(["check-rules", str(rules), "--runbooks", str(runbooks)])

    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith("ok: 0 rules in 1 files")
    assert err == ""


@pytest.mark.parametrize(("field", "value"), [("risk_tier", "extreme"), ("role", "importer")])
def test_a_model_risk_tier_and_role_are_checked(rules: Path, runbooks: Path, field: str, value: str) -> None:
    path = write(rules, "10-a.yaml", f"models:\n  - {{id: scorer, tier: experimental, {field}: {value}}}\n")

    problems = problems_of(rules, runbooks)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:2:")
    assert field in problems[0]
