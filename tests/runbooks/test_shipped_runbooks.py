"""The shipped runbooks: each loads, opens with containment, has an owner and a review date, is
written for known incident types, and the default runbook of each type is its generic one."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from app.runbooks.library import Runbook, load_library, parse_runbook
from app.runbooks.selection import choose
from app.vocabulary import INCIDENT_TYPES, UNCLASSIFIED
from tests.support import ROOT

RUNBOOKS = ROOT / "runbooks"
SHIPPED = sorted(RUNBOOKS.glob("*.md"))
SECTIONS = ["containment", "diagnosis", "recovery", "communication", "post-incident"]
KNOWN_TYPES = {*INCIDENT_TYPES, UNCLASSIFIED}

# Rules name these ids; renaming one breaks every rule that points at it.
NAMED_BY_RULES = {
    "llm-hallucination",
    "prompt-injection",
    "pii-leakage",
    "training-serving-skew",
    "missing-ground-truth",
    "vendor-model-change",
    "third-party-model-api",
}

# The runbook an incident of each type gets when its rule (or a person's report) names none.
GENERIC = {
    "technical_failure": "model-serving-errors",
    "performance_degradation": "model-performance-degradation",
    "fairness_violation": "fairness-violation",
    "safety": "harmful-output",
    "ethical": "ethical-concern",
    UNCLASSIFIED: "unclassified-alert",
}


@pytest.fixture(scope="module")
def library() -> dict[str, Runbook]:
    runbooks, problems = load_library(RUNBOOKS)
    assert problems == []
    return runbooks


def front_matter_ids() -> list[str]:
    """The `id` written in each file, read apart from the loader (which drops a duplicate)."""
    ids = []
    for path in SHIPPED:
        meta = yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])
        ids.append(meta["id"])
    return ids


def test_every_file_loads(library: dict[str, Runbook]) -> None:
    assert len(SHIPPED) >= 17
    assert sorted(book.path.name for book in library.values()) == [path.name for path in SHIPPED]


def test_ids_are_unique_and_name_their_files() -> None:
    ids = front_matter_ids()
    assert len(ids) == len(set(ids))
    assert ids == [path.stem for path in SHIPPED]


def test_the_runbooks_rules_name_exist(library: dict[str, Runbook]) -> None:
    assert set(library) >= NAMED_BY_RULES


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_containment_comes_first_with_steps(path: Path) -> None:
    book = parse_runbook(path)

    assert next(iter(book.sections)) == "containment"
    assert [name for name in book.sections if name in SECTIONS] == SECTIONS
    assert all(book.sections[name].strip() for name in SECTIONS)
    assert len(book.containment) >= 3
    assert "```" not in book.sections["containment"]
    assert all(len(step) >= 15 for step in book.containment)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_owner_and_review_date(path: Path) -> None:
    book = parse_runbook(path)

    assert book.owner
    assert isinstance(book.last_reviewed, date)
    assert date(2026, 1, 1) <= book.last_reviewed <= date.today()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_types_are_incident_types(path: Path) -> None:
    book = parse_runbook(path)

    assert book.types
    assert set(book.types) <= KNOWN_TYPES
    assert book.models == ()  # the shipped set is generic: no runbook is for one model only


def test_only_the_triage_runbook_is_for_unclassified_alerts(library: dict[str, Runbook]) -> None:
    assert [book.id for book in library.values() if UNCLASSIFIED in book.types] == ["unclassified-alert"]
    assert library["unclassified-alert"].types == (UNCLASSIFIED,)


def default_runbook(library: dict[str, Runbook], type_: str) -> str | None:
    choice = choose(library, rule="reported", rule_runbook=None, model=None, type_=type_)
    return choice.runbook.id if choice is not None and choice.runbook is not None else None


@pytest.mark.parametrize("type_", sorted(KNOWN_TYPES))
def test_every_type_has_a_default_runbook(library: dict[str, Runbook], type_: str) -> None:
    chosen = default_runbook(library, type_)

    assert chosen is not None
    assert type_ in library[chosen].types


@pytest.mark.parametrize(("type_", "generic"), sorted(GENERIC.items()))
def test_the_default_is_the_generic_runbook(library: dict[str, Runbook], type_: str, generic: str) -> None:
    assert default_runbook(library, type_) == generic


def test_each_type_names_its_general_runbook_once(library: dict[str, Runbook]) -> None:
    claimed = sorted((t, book.id) for book in library.values() for t in book.default_for)
    assert claimed == sorted(GENERIC.items())


def test_specific_runbooks_list_their_types_without_becoming_a_default(library: dict[str, Runbook]) -> None:
    defaults = {default_runbook(library, type_) for type_ in KNOWN_TYPES}

    for runbook_id in NAMED_BY_RULES:
        assert library[runbook_id].types
        assert runbook_id not in defaults
