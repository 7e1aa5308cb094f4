"""Prometheus series of the communication protocol; gauges are computed from the database.

Audiences and organisation-defined regimes come from the `communications:` section, so their
series exist at 0 once `watch` is given the section in force (re-read at each scrape).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter

from app.communications import repository
from app.db import Database, utcnow
from app.metrics.db_gauge import DbGauge, LabelSets
from app.protocol.config import CommunicationsConfig
from app.vocabulary import CANCELLED, EU_AI_ACT_ART73, GDPR_ART33, SENT

OUTCOMES = (SENT, "recorded", "holding", CANCELLED)
SHIPPED_REGIMES = (EU_AI_ACT_ART73, GDPR_ART33)

COMMUNICATIONS = Counter(
    "bridge_communications",
    "Notices to audiences by outcome: sent (through paging), recorded (sent another way), "
    "holding (a holding statement went out), cancelled",
    ["audience", "outcome"],
)
COMMUNICATIONS_OVERDUE = DbGauge(
    "bridge_communications_overdue", "Notices past their due time and not sent", ["audience"]
)
OBLIGATIONS_OPEN = DbGauge(
    "bridge_obligations_open",
    "Regulatory reports not yet made",
    ["regime"],
    known=[(regime,) for regime in SHIPPED_REGIMES],
)
OBLIGATIONS_OVERDUE = DbGauge(
    "bridge_obligations_overdue",
    "Regulatory reports past their due time and not made",
    ["regime"],
    known=[(regime,) for regime in SHIPPED_REGIMES],
)


def watch(db: Database, config: Callable[[], CommunicationsConfig] | None = None) -> None:
    """Compute the gauges from this database at every scrape; `config`: the section in force."""

    def audiences() -> LabelSets:
        known = sorted(config().audiences) if config is not None else []
        for audience in known:  # the counter too: a new audience's first notice is seen by rate()
            for outcome in OUTCOMES:
                COMMUNICATIONS.labels(audience, outcome)
        return [(audience,) for audience in known]

    def regimes() -> LabelSets:
        defined = [r.name for r in config().regimes] if config is not None else []
        return [(regime,) for regime in (*SHIPPED_REGIMES, *defined)]

    COMMUNICATIONS_OVERDUE.known = audiences
    OBLIGATIONS_OPEN.known = OBLIGATIONS_OVERDUE.known = regimes
    audiences()
    COMMUNICATIONS_OVERDUE.read_from(db, lambda s: repository.count_overdue_notices(s, utcnow()))
    OBLIGATIONS_OPEN.read_from(db, repository.count_open_obligations)
    OBLIGATIONS_OVERDUE.read_from(db, lambda s: repository.count_overdue_obligations(s, utcnow()))
