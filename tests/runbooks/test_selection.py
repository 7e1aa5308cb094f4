"""Choosing a runbook (pure): the rule's, the model's and type's, the type's, the alert's URL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from app.runbooks import selection
from app.runbooks.library import Runbook
from app.runbooks.selection import ANNOTATION_REASON, Choice, choose, index_of, reference


def book(id_: str, types: tuple[str, ...] = (), models: tuple[str, ...] = ()) -> Runbook:
    return Runbook(
        id=id_,
        title=id_.replace("-", " ").title(),
        body="",
        path=Path(f"/runbooks/{id_}.md"),
        types=types,
        models=models,
        revision=hashlib.sha256(id_.encode()).hexdigest()[:12],
    )


LIBRARY = {
    b.id: b
    for b in (
        book("named", ("safety",)),
        book("perf-general", ("performance_degradation",)),
        book("a-perf-general", ("performance_degradation", "technical_failure")),
        book("fraud-perf", ("performance_degradation",), ("fraud-scorer",)),
        book("a-fraud-perf", ("performance_degradation",), ("fraud-scorer", "churn")),
        book("fraud-serving", ("technical_failure",), ("fraud-scorer",)),
        book("triage", ("unclassified",)),
        book("model-only", (), ("fraud-scorer",)),
    )
}


def pick(
    *,
    rule: str = "some-rule",
    rule_runbook: str | None = None,
    model: str | None = None,
    type_: str = "performance_degradation",
    runbook_url: str | None = None,
    library: dict[str, Runbook] | None = None,
) -> Choice | None:
    return choose(
        LIBRARY if library is None else library,
        rule=rule,
        rule_runbook=rule_runbook,
        model=model,
        type_=type_,
        runbook_url=runbook_url,
    )


def test_the_rules_runbook_comes_first() -> None:
    choice = pick(
        rule="accuracy-drop", rule_runbook="named", model="fraud-scorer", runbook_url="https://x.example"
    )
    assert choice == Choice(LIBRARY["named"], None, "named by rule accuracy-drop")


def test_a_runbook_written_for_the_model_and_type_comes_next_ties_by_id() -> None:
    choice = pick(model="fraud-scorer", runbook_url="https://x.example")
    assert choice == Choice(
        LIBRARY["a-fraud-perf"], None, "written for model fraud-scorer and type performance_degradation"
    )
    assert pick(model="churn") == Choice(
        LIBRARY["a-fraud-perf"], None, "written for model churn and type performance_degradation"
    )


def test_a_model_runbook_of_another_type_is_not_chosen() -> None:
    # model-only names no type, fraud-* are written for other types: nothing for ethical.
    assert pick(model="fraud-scorer", type_="ethical") is None


def test_then_a_runbook_for_the_type_that_names_no_model_ties_by_id() -> None:
    assert pick() == Choice(LIBRARY["a-perf-general"], None, "written for performance_degradation incidents")
    # A model nobody wrote for gets the general one, never another model's runbook.
    assert pick(model="credit-risk") == Choice(
        LIBRARY["a-perf-general"], None, "written for performance_degradation incidents"
    )
    assert pick(type_="technical_failure", model="churn") == Choice(
        LIBRARY["a-perf-general"], None, "written for technical_failure incidents"
    )


def test_unclassified_incidents_get_the_triage_runbook() -> None:
    assert pick(rule="unclassified", type_="unclassified", runbook_url="https://x.example") == Choice(
        LIBRARY["triage"], None, "written for unclassified incidents"
    )


@pytest.mark.parametrize("url", ["https://wiki.example/FeatureDrift", "http://wiki.example/x"])
def test_then_the_alerts_own_http_runbook_url(url: str) -> None:
    assert pick(type_="ethical", runbook_url=url) == Choice(None, url, ANNOTATION_REASON)


@pytest.mark.parametrize("url", [None, "", "javascript:alert(1)", "data:text/html,x", "/relative", "ftp://x"])
def test_else_none(url: str | None) -> None:
    assert pick(type_="ethical", runbook_url=url) is None


def test_a_rule_runbook_missing_from_the_library_falls_through() -> None:
    # The catalog refuses such rules; should one slip through, the incident still gets the best fit.
    assert pick(rule_runbook="gone") == Choice(
        LIBRARY["a-perf-general"], None, "written for performance_degradation incidents"
    )


def test_an_empty_library() -> None:
    assert pick(library={}, rule_runbook="x", model="m", runbook_url="https://x.example") == Choice(
        None, "https://x.example", ANNOTATION_REASON
    )


def test_what_an_incident_stores() -> None:
    named = LIBRARY["named"]
    assert reference(pick(rule="r", rule_runbook="named"), "https://bridge.example") == {
        "id": "named",
        "title": named.title,
        "url": "https://bridge.example/runbooks/named",
        "reason": "named by rule r",
        "revision": named.revision,
    }
    assert reference(pick(type_="ethical", runbook_url="https://w.example/x"), "https://b") == {
        "id": None,
        "title": None,
        "url": "https://w.example/x",
        "reason": ANNOTATION_REASON,
        "revision": None,
    }
    assert reference(None, "https://b") is None


def test_the_index_is_built_once_per_library_object(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[int] = []
    real = selection.Index.build.__func__  # type: ignore[attr-defined]

    def counting(cls: type[selection.Index], library: dict[str, Runbook]) -> selection.Index:
        builds.append(len(library))
        built: selection.Index = real(cls, library)
        return built

    monkeypatch.setattr(selection.Index, "build", classmethod(counting))
    first, second = dict(LIBRARY), dict(LIBRARY)
    for _ in range(5):
        pick(library=first, model="fraud-scorer")
    assert builds == [len(LIBRARY)]
    assert index_of(first) is index_of(first)
    pick(library=second)  # a reload: a new dict, a new index
    assert builds == [len(LIBRARY), len(LIBRARY)]
    assert pick(library=second, model="fraud-scorer") == pick(library=first, model="fraud-scorer")


def test_a_types_general_runbook_wins_over_a_smaller_id() -> None:
    general = Runbook(
        id="z-general",
        title="Z",
        body="",
        path=Path("/runbooks/z.md"),
        types=("performance_degradation",),
        default_for=("performance_degradation",),
    )
    library = {**LIBRARY, general.id: general}
    chosen = pick(type_="performance_degradation", library=library)
    assert chosen is not None and chosen.runbook is general
    assert chosen.reason == "written for performance_degradation incidents"
    # Only for the types it claims: for its other types the smallest id still wins.
    other = pick(type_="technical_failure", library=library)
    assert other is not None and other.runbook is LIBRARY["a-perf-general"]
