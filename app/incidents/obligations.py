"""Regulatory clocks: which reports an incident's harm assessment starts, and when each is due.

Pure: it takes the current assessment, the model's registry facts and the organisation's own
regimes and returns obligations; no database, no clock of its own. The shipped clocks are the
ones the EU AI Act (Art. 73 and Art. 26(5)) and the GDPR (Art. 33) set; organisations add theirs
(NIS2, DORA, ...) in the `communications:` section. They are what an organisation tracks, not
legal advice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.protocol.config import PREVIOUS, RegimeDef
from app.protocol.plan import Facts, matches
from app.vocabulary import (
    CRITICAL_INFRASTRUCTURE,
    DEPLOYER,
    EU_AI_ACT_ART73,
    GDPR_ART33,
    HIGH_RISK,
    INFORM_PROVIDER,
    NOTIFY_AUTHORITY,
    REPORT,
    SERIOUS,
)


@dataclass(frozen=True)
class Harm:
    """What the clocks need of a harm assessment."""

    level: str
    aware_at: datetime
    domains: frozenset[str] = frozenset()
    personal_data_breach: bool = False
    death: bool = False
    widespread: bool = False


@dataclass(frozen=True)
class ModelFacts:
    """The model's registry facts (the on-call file's `risk_tier` and `role`)."""

    risk_tier: str = "minimal"
    role: str = "provider"


@dataclass(frozen=True)
class Obligation:
    regime: str
    stage: str
    due_at: datetime | None  # None: counts from a moment still to come (a previous stage's report)
    basis: str


# Art. 73: each clock that applies, with the sentence that cites it; the shortest one wins.
ART73_GENERAL = (
    timedelta(days=15),
    "EU AI Act Art. 73(2): report a serious incident to the market surveillance authority "
    "no later than 15 days after becoming aware of it.",
)
ART73_WIDESPREAD = (
    timedelta(days=2),
    "EU AI Act Art. 73(3): a widespread infringement, or a serious incident disrupting critical "
    "infrastructure, is reported no later than 2 days after becoming aware of it.",
)
ART73_DEATH = (
    timedelta(days=10),
    "EU AI Act Art. 73(4): a serious incident involving a person's death is reported no later "
    "than 10 days after becoming aware of it.",
)
ART26_INFORM = (
    "EU AI Act Art. 26(5): a deployer that identifies a serious incident informs the provider immediately."
)
GDPR_BREACH = (
    timedelta(hours=72),
    "GDPR Art. 33(1): notify the supervisory authority of a personal data breach without undue "
    "delay and, where feasible, within 72 hours of becoming aware of it.",
)


def art73_clock(harm: Harm) -> tuple[timedelta, str]:
    """The Art. 73 deadline that applies to a serious incident: the shortest of those that apply."""
    clocks = [ART73_GENERAL]
    if harm.widespread or CRITICAL_INFRASTRUCTURE in harm.domains:
        clocks.append(ART73_WIDESPREAD)
    if harm.death:
        clocks.append(ART73_DEATH)
    return min(clocks, key=lambda clock: clock[0])


def obligations(harm: Harm | None, model: ModelFacts) -> list[Obligation]:
    """The shipped regimes' reports the assessment starts, soonest due first; none without one."""
    if harm is None:
        return []
    found: list[Obligation] = []
    if harm.level == SERIOUS and model.risk_tier == HIGH_RISK:
        if model.role == DEPLOYER:
            found.append(Obligation(EU_AI_ACT_ART73, INFORM_PROVIDER, harm.aware_at, ART26_INFORM))
        delay, basis = art73_clock(harm)
        found.append(Obligation(EU_AI_ACT_ART73, REPORT, harm.aware_at + delay, basis))
    if harm.personal_data_breach:
        delay, basis = GDPR_BREACH
        found.append(Obligation(GDPR_ART33, NOTIFY_AUTHORITY, harm.aware_at + delay, basis))
    return sorted(found, key=lambda o: o.due_at or harm.aware_at)


def _anchor(name: str, facts: Facts, previous: datetime | None) -> datetime | None:
    if name == PREVIOUS:
        return previous
    return facts.anchors.get(name) or facts.moments.get(name)


def regime_stages(regime: RegimeDef, facts: Facts, reported: dict[str, datetime]) -> list[Obligation]:
    """An organisation-defined regime's stages, when its condition holds.

    `reported` maps a stage to when its first report went out: a stage may count from the
    previous stage's report. A stage may also have a cap (DORA's initial notification: 4 hours
    after classification, and at most 24 hours after awareness): the earlier of the two wins.
    """
    aware = facts.anchors.get("aware")
    if aware is None or not matches(regime.when, facts):
        return []
    if regime.effective_from is not None and aware.date() < regime.effective_from:
        return []
    found: list[Obligation] = []
    previous: datetime | None = None
    for stage in regime.stages:
        start = _anchor(stage.anchor, facts, previous)
        due = stage.within.after(start) if start is not None else None
        if stage.cap is not None:
            cap_start = _anchor(stage.cap[1], facts, previous)
            if cap_start is not None:
                capped = stage.cap[0].after(cap_start)
                due = capped if due is None else min(due, capped)
        basis = stage.basis or f"{regime.basis}: {stage.name}, within {stage.within} of {stage.anchor}."
        found.append(Obligation(regime.name, stage.name, due, basis))
        previous = reported.get(stage.name)
    return found


def all_obligations(
    harm: Harm | None,
    model: ModelFacts,
    regimes: tuple[RegimeDef, ...],
    facts: Facts,
    reported: dict[tuple[str, str], datetime],
) -> list[Obligation]:
    """The shipped regimes' obligations and the organisation's own, in that order."""
    found = obligations(harm, model)
    for regime in regimes:
        done = {stage: at for (name, stage), at in reported.items() if name == regime.name}
        found.extend(regime_stages(regime, facts, done))
    return found


def is_overdue(due_at: datetime | None, now: datetime) -> bool:
    return due_at is not None and now > due_at
