"""Incident histories with known answers, written straight into the app's database.

The main history spans June 2026, ISO weeks 23 to 26 (2026-06-01 is a Monday); week 25 is
empty. Every due time is either long past (2026) or far ahead (2099), so what is overdue does
not depend on the day the tests run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from app.db import Database
from app.models import (
    Communication,
    HarmAssessment,
    Incident,
    Obligation,
    Review,
    ReviewAction,
)

SINCE = "2026-06-01T00:00:00Z"  # Monday of 2026-W23
UNTIL = "2026-06-29T00:00:00Z"  # Monday of 2026-W27 (excluded)
PAST = datetime(2026, 7, 1, tzinfo=UTC)  # overdue whenever the tests run
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)  # never due while the tests run
S = timedelta(seconds=1)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 6, day, hour, tzinfo=UTC)


def database(client: TestClient) -> Database:
    db: Database = client.app.state.runtime.db  # type: ignore[attr-defined]
    return db


def incident(
    name: str,
    opened_at: datetime,
    type_: str = "performance_degradation",
    severity: str = "SEV3",
    *,
    peak: str | None = None,
    model: str | None = "fraud-scorer",
    team: str | None = "risk-ml",
    detect: float | None = None,
    ack: float | None = None,
    contain: float | None = None,
    resolve: float | None = None,
    **extra: Any,
) -> Incident:
    """An incident whose times are given in seconds: `detect` before opening, the rest after it."""

    def after(seconds: float | None) -> datetime | None:
        return None if seconds is None else opened_at + seconds * S

    return Incident(
        key=f"test/{name}",
        rule="test",
        status="resolved" if resolve is not None else ("acknowledged" if ack is not None else "triggered"),
        type=type_,
        severity=severity,
        peak_severity=peak or severity,
        title=f"incident {name}",
        model=model,
        team=team,
        labels={},
        opened_at=opened_at,
        last_alert_at=opened_at,
        updated_at=opened_at,
        impact_started_at=None if detect is None else opened_at - detect * S,
        acknowledged_at=after(ack),
        contained_at=after(contain),
        resolved_at=after(resolve),
        **extra,
    )


def review(incident_id: int, status: str, due_at: datetime, users_notified: bool | None = None) -> Review:
    data: dict[str, Any] = {"summary": "", "harm_assessment": {"users_notified": users_notified}}
    return Review(
        incident_id=incident_id,
        status=status,
        owner="alice",
        due_at=due_at,
        data=data,
        created_at=at(1),
        updated_at=at(1),
    )


def action(incident_id: int, status: str, due_at: datetime) -> ReviewAction:
    return ReviewAction(
        incident_id=incident_id,
        title="an improvement",
        owner="alice",
        due_at=due_at,
        priority="medium",
        status=status,
        reason="not worth it" if status == "wont_do" else None,
        created_by="alice",
        created_at=at(1),
        updated_at=at(1),
        done_at=at(2) if status == "done" else None,
    )


def notice(
    incident_id: int,
    audience: str,
    status: str,
    due_at: datetime,
    sent_at: datetime | None = None,
    *,
    holding: bool = False,
    sequence: int = 1,
) -> Communication:
    key = f"policy/{audience}" + ("/holding" if holding else "")
    return Communication(
        incident_id=incident_id,
        key=key,
        sequence=sequence,
        policy="policy",
        audience=audience,
        template=audience,
        channel="letter",
        approval=True,
        holding=holding,
        status=status,
        due_at=due_at,
        sent_at=sent_at,
        sent_by="alice" if sent_at else None,
        created_at=at(1),
        updated_at=at(1),
    )


def obligation(
    incident_id: int,
    regime: str,
    status: str,
    due_at: datetime | None,
    initial_at: datetime | None = None,
    completed_at: datetime | None = None,
) -> Obligation:
    return Obligation(
        incident_id=incident_id,
        regime=regime,
        stage="report",
        due_at=due_at,
        basis="a rule",
        status=status,
        initial_at=initial_at,
        completed_at=completed_at,
        created_at=at(1),
        updated_at=at(1),
    )


def harm(incident_id: int, version: int, level: str, aware_at: datetime) -> HarmAssessment:
    return HarmAssessment(
        incident_id=incident_id,
        version=version,
        data={"level": level, "domains": [], "aware_at": aware_at.isoformat()},
        by="alice",
        reason="",
        at=aware_at,
    )


def add(db: Database, *rows: Any) -> None:
    with db.session(write=True) as session:
        session.add_all(rows)


def add_incidents(db: Database, **incidents: Incident) -> dict[str, int]:
    with db.session(write=True) as session:
        session.add_all(incidents.values())
        session.flush()
        return {name: row.id for name, row in incidents.items()}


def june(db: Database) -> dict[str, int]:
    """The main history (see the module's docstring and tests/stats/test_api.py for the answers).

    In range: A, B (week 23), C, D (week 24), E (week 26). Out of it: F (before), G (at `until`,
    which is excluded), H (a duplicate of A, left out of every statistic). D is restricted to its
    owner alice.
    """
    ids = add_incidents(
        db,
        A=incident("A", at(1), severity="SEV2", detect=300, ack=60, contain=600, resolve=3600),
        B=incident("B", at(2), severity="SEV3", peak="SEV1", ack=120, contain=1200, resolve=7200),
        C=incident(
            "C",
            at(10),
            "technical_failure",
            model="churn-model",
            team="growth",
            detect=900,
            ack=300,
            resolve=600,
        ),
        D=incident(
            "D",
            at(11),
            "fairness_violation",
            "SEV2",
            model="credit-scorer",
            detect=60,
            ack=30,
            contain=1800,
            resolve=172800,
            restricted=True,
            owner="alice",
        ),
        E=incident("E", at(22), "technical_failure", "SEV4", model="churn-model", team="growth", ack=900),
        F=incident("F", datetime(2026, 5, 31, 23, 59, tzinfo=UTC), detect=5, ack=5, resolve=5),
        G=incident("G", datetime(2026, 6, 29, tzinfo=UTC), detect=5, ack=5, resolve=5),
    )
    ids.update(add_incidents(db, H=incident("H", at(1, 11), ack=1, resolve=1, duplicate_of=ids["A"])))
    a, b, c, d, e, f = (ids[k] for k in "ABCDEF")
    aware_b, aware_d = at(2), at(11) + 600 * S
    add(
        db,
        # Reviews: A, B and D need one (SEV2; peak SEV1; SEV2 and fairness); C's is voluntary.
        review(a, "approved", PAST),
        review(b, "in_review", at(20)),  # overdue
        review(d, "draft", FUTURE),
        review(c, "draft", at(20), users_notified=True),  # overdue, but not required: not counted
        # Actions: open 4 (2 overdue), done 1; F's is out of range.
        action(a, "done", at(5)),
        action(a, "open", at(5)),
        action(a, "in_progress", FUTURE),
        action(c, "open", at(20)),
        action(d, "open", FUTURE),
        action(d, "wont_do", at(5)),
        action(f, "open", at(5)),
        # Notices: due 8 (7 sent, 1 unsent past due), on time 6.
        notice(a, "ml-lead", "sent", at(1, 12), at(1, 12)),  # exactly on time
        notice(a, "ml-lead", "sent", at(1, 13), at(1, 14), sequence=2),  # late
        notice(a, "ml-lead", "cancelled", at(1, 15), sequence=3),  # not counted
        notice(a, "ml-lead", "pending", at(1, 16), sequence=4),  # unsent, past due: late
        notice(a, "ml-lead", "pending", FUTURE, sequence=5),  # not yet due: not counted
        notice(b, "affected-users", "sent", at(3), aware_b + 100 * S, holding=True),
        notice(b, "affected-users", "sent", at(5), aware_b + 3600 * S),
        notice(d, "affected-users", "sent", at(12), aware_d + 60 * S, holding=True),
        notice(d, "affected-users", "sent", at(14), aware_d + 7200 * S),
        notice(d, "affected-users", "sent", at(16), aware_d + 9000 * S, sequence=2),  # not the first
        notice(f, "ml-lead", "pending", at(1)),  # out of range
        # Reports: due 4, on time 2.
        obligation(a, "eu_ai_act_art73", "initial_sent", at(3), initial_at=at(3)),  # exactly on time
        obligation(b, "gdpr_art33", "open", at(5)),  # open, past due: late
        obligation(b, "eu_ai_act_art73", "not_applicable", at(5)),  # not counted
        obligation(c, "eu_ai_act_art73", "complete", at(12), completed_at=at(13)),  # late
        obligation(d, "eu_ai_act_art73", "complete", at(20), initial_at=at(19), completed_at=at(21)),
        obligation(e, "eu_ai_act_art73", "open", FUTURE),  # not yet due: not counted
        # Harm: B serious, C serious (users told per its review), D harm_event (version 2), E harm_event.
        harm(b, 1, "serious", aware_b),
        harm(c, 1, "serious", at(10)),
        harm(d, 1, "near_miss", at(11)),
        harm(d, 2, "harm_event", aware_d),
        harm(e, 1, "harm_event", at(22)),
    )
    return ids
