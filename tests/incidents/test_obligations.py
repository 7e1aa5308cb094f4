"""The regulatory clocks, over every combination of what decides them: the shortest applies."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from app.incidents.obligations import Harm, ModelFacts, Obligation, is_overdue, obligations
from app.vocabulary import HARM_LEVELS

AWARE = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)

COMBINATIONS = list(
    itertools.product(
        HARM_LEVELS,  # level
        (False, True),  # death
        (False, True),  # widespread
        (False, True),  # critical infrastructure among the domains
        ("high", "limited", "minimal"),  # risk tier
        ("provider", "deployer"),  # role
        (False, True),  # personal data breach
    )
)


def expected_art73_days(death: bool, widespread: bool, critical: bool) -> int:
    if widespread or critical:
        return 2
    if death:
        return 10
    return 15


@pytest.mark.parametrize(
    ("level", "death", "widespread", "critical", "risk_tier", "role", "breach"), COMBINATIONS
)
def test_the_obligations_of_every_combination(
    level: str, death: bool, widespread: bool, critical: bool, risk_tier: str, role: str, breach: bool
) -> None:
    domains = frozenset({"critical_infrastructure"} if critical else {"fundamental_rights"})
    harm = Harm(
        level=level,
        aware_at=AWARE,
        domains=domains,
        personal_data_breach=breach,
        death=death,
        widespread=widespread,
    )
    found = obligations(harm, ModelFacts(risk_tier=risk_tier, role=role))
    by_stage = {(o.regime, o.stage): o for o in found}

    ai_act = level == "serious" and risk_tier == "high"
    expected = set()
    if ai_act:
        expected.add(("eu_ai_act_art73", "report"))
        if role == "deployer":
            expected.add(("eu_ai_act_art73", "inform_provider"))
    if breach:
        expected.add(("gdpr_art33", "notify_authority"))
    assert set(by_stage) == expected
    assert len(found) == len(expected)

    if ai_act:
        report = by_stage[("eu_ai_act_art73", "report")]
        days = expected_art73_days(death, widespread, critical)
        assert report.due_at == AWARE + timedelta(days=days)
        paragraph = {15: 2, 2: 3, 10: 4}[days]
        assert f"Art. 73({paragraph})" in report.basis
        if role == "deployer":
            inform = by_stage[("eu_ai_act_art73", "inform_provider")]
            assert inform.due_at == AWARE
            assert "Art. 26(5)" in inform.basis
    if breach:
        gdpr = by_stage[("gdpr_art33", "notify_authority")]
        assert gdpr.due_at == AWARE + timedelta(hours=72)
        assert "Art. 33" in gdpr.basis
    assert [o.due_at for o in found] == sorted(o.due_at for o in found)


def test_no_assessment_starts_no_clock() -> None:
    assert obligations(None, ModelFacts(risk_tier="high", role="deployer")) == []


def test_the_defaults_are_a_minimal_risk_provider() -> None:
    harm = Harm(level="serious", aware_at=AWARE, death=True)
    assert obligations(harm, ModelFacts()) == []


def test_past_due_is_overdue() -> None:
    due = Obligation("gdpr_art33", "notify_authority", AWARE, "GDPR Art. 33(1)")
    assert not is_overdue(due.due_at, AWARE)
    assert is_overdue(due.due_at, AWARE + timedelta(seconds=1))
    assert not is_overdue(due.due_at, AWARE - timedelta(days=1))
    assert not is_overdue(None, AWARE + timedelta(days=400))  # waits for a moment still to come
