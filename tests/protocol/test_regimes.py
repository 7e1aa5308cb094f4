"""Regulatory clocks: the shipped EU AI Act and GDPR ones, and organisation-defined regimes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.incidents.obligations import (
    Harm,
    ModelFacts,
    Obligation,
    all_obligations,
    obligations,
    regime_stages,
)
from app.protocol.config import RegimeDef, parse_communications
from app.protocol.plan import Facts
from app.sections import Located

AWARE = datetime(2026, 1, 31, 12, tzinfo=UTC)
OPENED = AWARE - timedelta(hours=2)

# level, widespread, critical infrastructure, death, personal data breach, risk tier, role
TABLE = list(
    itertools.product(
        ("serious", "harm_event", "near_miss"),
        (False, True),
        (False, True),
        (False, True),
        (False, True),
        ("high", "minimal"),
        ("provider", "deployer"),
    )
)


def expected_obligations(
    level: str, widespread: bool, critical: bool, death: bool, breach: bool, tier: str, role: str
) -> dict[tuple[str, str], tuple[datetime, str]]:
    """What the law says, written out: the shortest Art. 73 clock that applies wins."""
    expected: dict[tuple[str, str], tuple[datetime, str]] = {}
    if level == "serious" and tier == "high":
        clocks = [(timedelta(days=15), "Art. 73(2)")]
        if widespread or critical:
            clocks.append((timedelta(days=2), "Art. 73(3)"))
        if death:
            clocks.append((timedelta(days=10), "Art. 73(4)"))
        delay, article = sorted(clocks)[0]
        expected[("eu_ai_act_art73", "report")] = (AWARE + delay, article)
        if role == "deployer":
            expected[("eu_ai_act_art73", "inform_provider")] = (AWARE, "Art. 26(5)")
    if breach:
        expected[("gdpr_art33", "notify_authority")] = (AWARE + timedelta(hours=72), "GDPR Art. 33(1)")
    return expected


@pytest.mark.parametrize(("level", "widespread", "critical", "death", "breach", "tier", "role"), TABLE)
def test_the_shipped_clocks_over_every_combination(
    level: str, widespread: bool, critical: bool, death: bool, breach: bool, tier: str, role: str
) -> None:
    domains = {"health_safety", "critical_infrastructure"} if critical else {"health_safety"}
    harm = Harm(
        level=level,
        aware_at=AWARE,
        domains=frozenset(domains),
        personal_data_breach=breach,
        death=death,
        widespread=widespread,
    )
    found = obligations(harm, ModelFacts(risk_tier=tier, role=role))
    expected = expected_obligations(level, widespread, critical, death, breach, tier, role)
    assert {(o.regime, o.stage): o.due_at for o in found} == {k: due for k, (due, _) in expected.items()}
    assert len(found) == len(expected)
    for o in found:
        assert expected[(o.regime, o.stage)][1] in o.basis
    dues = [o.due_at for o in found]
    assert dues == sorted(d for d in dues if d is not None)


@pytest.mark.parametrize(
    ("widespread", "critical", "death", "days"),
    [
        (False, False, False, 15),
        (False, False, True, 10),
        (True, False, False, 2),
        (False, True, False, 2),
        (True, False, True, 2),
        (False, True, True, 2),
    ],
)
def test_named_art73_cases(widespread: bool, critical: bool, death: bool, days: int) -> None:
    domains = frozenset({"critical_infrastructure"} if critical else set())
    harm = Harm("serious", AWARE, domains, death=death, widespread=widespread)
    (report,) = obligations(harm, ModelFacts(risk_tier="high"))
    assert report.due_at == AWARE + timedelta(days=days)


def test_no_assessment_no_obligations() -> None:
    assert obligations(None, ModelFacts(risk_tier="high", role="deployer")) == []


@pytest.mark.parametrize(
    ("tier", "role"), list(itertools.product(("high", "limited", "minimal"), ("provider", "deployer")))
)
def test_gdpr_runs_whatever_the_model(tier: str, role: str) -> None:
    harm = Harm("none", AWARE, personal_data_breach=True)
    assert obligations(harm, ModelFacts(tier, role)) == [
        Obligation(
            "gdpr_art33",
            "notify_authority",
            AWARE + timedelta(hours=72),
            "GDPR Art. 33(1): notify the supervisory authority of a personal data breach without undue "
            "delay and, where feasible, within 72 hours of becoming aware of it.",
        )
    ]


NIS2: dict[str, Any] = {
    "name": "nis2_art23",
    "basis": "NIS2 Art. 23(4)",
    "effective_from": "2024-10-18",
    "when": {"moments": ["significant"]},
    "stages": [
        {"name": "early_warning", "within": "24h", "from": "aware", "basis": "Art. 23(4)(a)"},
        {"name": "notification", "within": "72h", "from": "aware"},
        {"name": "final_report", "within": "1mo", "from": "previous"},
    ],
}

DORA_INITIAL = {
    "name": "initial",
    "within": "4h",
    "from": "classified_major",
    "at_most": {"within": "24h", "from": "aware"},
}
DORA: dict[str, Any] = {
    "name": "dora_art19",
    "basis": "DORA Art. 19(4)",
    "when": {"moments": ["classified_major"]},
    "stages": [DORA_INITIAL, {"name": "intermediate", "within": "72h", "from": "previous"}],
}


def regime(spec: dict[str, Any]) -> RegimeDef:
    problems: list[str] = []
    config = parse_communications(
        {"communications": [Located({"regimes": [spec]}, "c.yaml:1")]}, set(), set(), problems
    )
    assert problems == []
    (parsed,) = config.regimes
    return parsed


def facts(aware: datetime | None = AWARE, **moments: datetime) -> Facts:
    anchors = {"opened": OPENED} if aware is None else {"opened": OPENED, "aware": aware}
    return Facts(type="technical_failure", severity="SEV1", anchors=anchors, moments=moments)


def dues(found: list[Obligation]) -> dict[str, datetime | None]:
    return {o.stage: o.due_at for o in found}


def test_nis2_counts_from_awareness_and_the_final_report_waits_for_the_notification() -> None:
    nis2 = regime(NIS2)
    found = regime_stages(nis2, facts(significant=AWARE), {})
    assert [o.regime for o in found] == ["nis2_art23"] * 3
    assert dues(found) == {
        "early_warning": AWARE + timedelta(hours=24),
        "notification": AWARE + timedelta(hours=72),
        "final_report": None,
    }
    assert found[0].basis == "Art. 23(4)(a)"
    assert found[1].basis == "NIS2 Art. 23(4): notification, within 3d of aware."
    # The early warning going out does not start the final report's month.
    early_only = regime_stages(nis2, facts(significant=AWARE), {"early_warning": AWARE})
    assert dues(early_only)["final_report"] is None


@pytest.mark.parametrize(
    ("notified", "final_due"),
    [
        (datetime(2026, 2, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 9, tzinfo=UTC)),
        (datetime(2026, 1, 31, 20, tzinfo=UTC), datetime(2026, 2, 28, 20, tzinfo=UTC)),
        (datetime(2026, 12, 31, 9, tzinfo=UTC), datetime(2027, 1, 31, 9, tzinfo=UTC)),
    ],
)
def test_nis2_final_report_is_one_month_after_the_notification(
    notified: datetime, final_due: datetime
) -> None:
    reported = {"early_warning": AWARE, "notification": notified}
    assert dues(regime_stages(regime(NIS2), facts(significant=AWARE), reported))["final_report"] == final_due


@pytest.mark.parametrize(
    ("classified_after", "initial_after"),
    [
        (timedelta(hours=2), timedelta(hours=6)),  # classification early: 4 h after it
        (timedelta(hours=20), timedelta(hours=24)),  # both clocks agree
        (timedelta(hours=22), timedelta(hours=24)),  # classification late: the cap wins
        (timedelta(days=3), timedelta(hours=24)),
    ],
)
def test_dora_initial_notification_is_capped_at_24h_after_awareness(
    classified_after: timedelta, initial_after: timedelta
) -> None:
    found = regime_stages(regime(DORA), facts(classified_major=AWARE + classified_after), {})
    assert dues(found) == {"initial": AWARE + initial_after, "intermediate": None}


def test_dora_intermediate_counts_from_the_initial_report() -> None:
    sent = AWARE + timedelta(hours=5)
    found = regime_stages(regime(DORA), facts(classified_major=AWARE), {"initial": sent})
    assert dues(found)["intermediate"] == sent + timedelta(hours=72)


def test_dora_before_classification_applies_nothing_when_it_requires_the_moment() -> None:
    assert regime_stages(regime(DORA), facts(), {}) == []


def test_before_the_moment_is_recorded_the_cap_alone_gives_the_due_time() -> None:
    unconditional = regime({**DORA, "when": {}})
    assert dues(regime_stages(unconditional, facts(), {})) == {
        "initial": AWARE + timedelta(hours=24),
        "intermediate": None,
    }


def test_a_cap_whose_anchor_is_unknown_leaves_the_stage_clock() -> None:
    capped = regime(
        {
            "name": "r",
            "basis": "b",
            "stages": [
                {"name": "s", "within": "4h", "from": "opened", "at_most": {"within": "1h", "from": "x"}}
            ],
        }
    )
    assert dues(regime_stages(capped, facts(), {})) == {"s": OPENED + timedelta(hours=4)}


@pytest.mark.parametrize(
    ("aware", "applies"),
    [
        (datetime(2024, 10, 17, 23, 59, tzinfo=UTC), False),
        (datetime(2024, 10, 18, 0, 0, tzinfo=UTC), True),
        (datetime(2025, 6, 1, 0, 0, tzinfo=UTC), True),
    ],
)
def test_a_regime_applies_only_to_incidents_aware_from_its_effective_date(
    aware: datetime, applies: bool
) -> None:
    found = regime_stages(regime(NIS2), facts(aware, significant=aware), {})
    assert [o.stage for o in found] == (["early_warning", "notification", "final_report"] if applies else [])


def test_a_regime_whose_condition_does_not_hold_gives_nothing() -> None:
    assert regime_stages(regime(NIS2), facts(classified_major=AWARE), {}) == []
    typed = regime({**NIS2, "when": {"types": ["safety"]}})
    assert regime_stages(typed, facts(significant=AWARE), {}) == []


def test_a_regime_without_awareness_gives_nothing() -> None:
    assert regime_stages(regime({**NIS2, "effective_from": None}), facts(None, significant=AWARE), {}) == []


def test_all_obligations_lists_the_shipped_ones_then_each_regime_with_its_own_reports() -> None:
    harm = Harm("serious", AWARE, personal_data_breach=True)
    notified = AWARE + timedelta(days=1)
    reported = {("dora_art19", "notification"): notified, ("nis2_art23", "early_warning"): AWARE}
    found = all_obligations(
        harm,
        ModelFacts(risk_tier="high", role="deployer"),
        (regime(NIS2), regime(DORA)),
        facts(significant=AWARE, classified_major=AWARE),
        reported,
    )
    assert [(o.regime, o.stage) for o in found] == [
        ("eu_ai_act_art73", "inform_provider"),
        ("gdpr_art33", "notify_authority"),
        ("eu_ai_act_art73", "report"),
        ("nis2_art23", "early_warning"),
        ("nis2_art23", "notification"),
        ("nis2_art23", "final_report"),
        ("dora_art19", "initial"),
        ("dora_art19", "intermediate"),
    ]
    # Another regime's report of a stage with the same name does not start NIS2's final report.
    assert found[5].due_at is None
    assert found[6].due_at == AWARE + timedelta(hours=4)


def test_all_obligations_without_assessment_still_runs_the_regimes() -> None:
    found = all_obligations(None, ModelFacts(), (regime(NIS2),), facts(significant=AWARE), {})
    assert [o.stage for o in found] == ["early_warning", "notification", "final_report"]
