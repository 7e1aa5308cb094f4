"""The harm assessment moves the protocol: the affected users' notice (and its holding statement)
and the regulatory reports appear, move and are set aside as the assessment changes.

Incidents here are reported by a person (POST /api/v1/incidents), so no rule starts them with an
assessment of its own: each clock below starts with the PUT .../harm the test makes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.communications.conftest import (
    assess,
    entries,
    incident_of,
    iso,
    notice,
    notices,
    notices_of,
    obligation,
    obligations,
    past,
    report_incident,
    when,
)
from tests.paging.conftest import alert_body, fire_one, wait_settled

ART73 = "eu_ai_act_art73"
GDPR = "gdpr_art33"
USERS = ("fairness-users", "affected-users")


def fairness_incident(client: TestClient, model: str = "credit-scorer") -> int:
    incident_id: int = report_incident(client, "fairness_violation", "SEV2", model)["id"]
    wait_settled(client)
    return incident_id


def statuses(client: TestClient, incident_id: int) -> list[tuple[str, str, bool, int, str]]:
    return sorted(
        (n["policy"], n["audience"], n["holding"], n["sequence"], n["status"])
        for n in notices(client, incident_id)
    )


def test_before_any_assessment_only_the_legal_notice_is_owed(protocol_client: TestClient) -> None:
    incident_id = fairness_incident(protocol_client)

    assert statuses(protocol_client, incident_id) == [("fairness", "legal", False, 1, "pending")]
    listing = obligations(protocol_client, incident_id)
    assert listing["items"] == []
    assert listing["evidence_hold"] == {"active": False, "message": "", "regimes": []}


def test_serious_harm_opens_the_users_notice_and_the_art73_report_counted_from_awareness(
    protocol_client: TestClient,
) -> None:
    incident_id = fairness_incident(protocol_client)
    aware = past(hours=5)  # the organisation knew before it said so: clocks count from then

    assessed = assess(protocol_client, incident_id, "serious", aware_at=iso(aware))
    assert when(assessed["aware_at"]) == aware

    users = notice(protocol_client, incident_id, *USERS)
    assert users["status"] == "pending"
    assert users["approval"] is True
    assert users["template"] == "affected-users"
    assert when(users["due_at"]) == aware + timedelta(hours=72)
    holding = notice(protocol_client, incident_id, *USERS, holding=True)
    assert holding["status"] == "pending"
    assert holding["approval"] is False  # pre-approved: it goes out while the full notice waits
    assert holding["template"] == "affected-users-holding"
    assert when(holding["due_at"]) == aware + timedelta(hours=24)
    assert f"by {aware + timedelta(hours=72):%Y-%m-%d %H:%M} UTC" in holding["text"]

    report = obligation(protocol_client, incident_id, ART73, "report")
    assert report["status"] == "open"
    assert report["overdue"] is False
    assert when(report["due_at"]) == aware + timedelta(days=15)
    assert report["basis"].startswith("EU AI Act Art. 73(2):")
    assert len(obligations(protocol_client, incident_id)["items"]) == 1
    hold = obligations(protocol_client, incident_id)["evidence_hold"]
    assert hold["active"] is True
    assert hold["regimes"] == [ART73]
    assert hold["message"].startswith("Evidence hold: a serious-incident report is still owed")
    (opened,) = entries(protocol_client, incident_id, "obligation_opened")
    assert opened["message"] == f"{ART73} report: due {aware + timedelta(days=15):%Y-%m-%d %H:%M} UTC"


def test_the_art73_clock_follows_each_new_version_of_the_assessment(protocol_client: TestClient) -> None:
    incident_id = fairness_incident(protocol_client)
    aware = past(hours=2)
    assess(protocol_client, incident_id, "serious", aware_at=iso(aware))
    report_id = obligation(protocol_client, incident_id, ART73, "report")["id"]

    assess(
        protocol_client,
        incident_id,
        "serious",
        aware_at=iso(aware),
        widespread=True,
        member_states=["NL", "BE"],
    )
    widespread = obligation(protocol_client, incident_id, ART73, "report")
    assert when(widespread["due_at"]) == aware + timedelta(days=2)
    assert widespread["basis"].startswith("EU AI Act Art. 73(3):")

    assess(protocol_client, incident_id, "serious", aware_at=iso(aware), death=True)
    death = obligation(protocol_client, incident_id, ART73, "report")
    assert when(death["due_at"]) == aware + timedelta(days=10)
    assert death["basis"].startswith("EU AI Act Art. 73(4):")

    assess(
        protocol_client,
        incident_id,
        "serious",
        aware_at=iso(aware),
        death=True,
        domains=["critical_infrastructure"],
    )
    assert when(obligation(protocol_client, incident_id, ART73, "report")["due_at"]) == aware + timedelta(
        days=2
    )

    assess(protocol_client, incident_id, "serious", aware_at=iso(aware))
    general = obligation(protocol_client, incident_id, ART73, "report")
    assert when(general["due_at"]) == aware + timedelta(days=15)
    # One report, moved each time: never a second row.
    assert general["id"] == report_id
    assert [o["id"] for o in obligations(protocol_client, incident_id)["items"]] == [report_id]
    # The users' notice counts from awareness, which did not move.
    assert when(notice(protocol_client, incident_id, *USERS)["due_at"]) == aware + timedelta(hours=72)


def test_lowering_the_harm_sets_the_report_aside_and_cancels_the_users_notice(
    protocol_client: TestClient,
) -> None:
    incident_id = fairness_incident(protocol_client)
    aware = past(hours=1)
    assess(protocol_client, incident_id, "serious", aware_at=iso(aware))
    report_id = obligation(protocol_client, incident_id, ART73, "report")["id"]
    users_id = notice(protocol_client, incident_id, *USERS)["id"]

    assess(protocol_client, incident_id, "issue", aware_at=iso(aware), reason="no decision was affected")

    report = obligation(protocol_client, incident_id, ART73, "report")
    assert report["id"] == report_id  # kept, set aside
    assert report["status"] == "not_applicable"
    assert report["overdue"] is False
    assert report["seconds_left"] is None
    assert obligations(protocol_client, incident_id)["evidence_hold"]["active"] is False
    (withdrawn,) = entries(protocol_client, incident_id, "obligation_withdrawn")
    assert withdrawn["message"] == f"{ART73} report no longer applies to the current assessment"

    assert statuses(protocol_client, incident_id) == [
        ("fairness", "legal", False, 1, "pending"),  # fairness itself still calls for legal
        ("fairness-users", "affected-users", False, 1, "cancelled"),
        ("fairness-users", "affected-users", True, 1, "cancelled"),
    ]
    users = notice(protocol_client, incident_id, *USERS)
    assert users["id"] == users_id
    assert users["cancel_reason"] == "no longer required (now SEV2 fairness_violation, triggered)"
    assert notice(protocol_client, incident_id, *USERS, holding=True)["cancel_reason"].startswith(
        "no longer required"
    )

    # Serious again: the same report applies again, and the users are owed a notice again.
    assess(protocol_client, incident_id, "serious", aware_at=iso(aware))
    again = obligation(protocol_client, incident_id, ART73, "report")
    assert (again["id"], again["status"]) == (report_id, "open")
    assert when(again["due_at"]) == aware + timedelta(days=15)
    assert [n["sequence"] for n in notices_of(protocol_client, incident_id, *USERS)] == [1, 2]
    assert notice(protocol_client, incident_id, *USERS, sequence=2)["status"] == "pending"


def test_a_users_notice_owed_again_comes_with_its_holding_statement(protocol_client: TestClient) -> None:
    incident_id = fairness_incident(protocol_client)
    aware = past(hours=1)
    assess(protocol_client, incident_id, "serious", aware_at=iso(aware))
    assess(protocol_client, incident_id, "issue", aware_at=iso(aware))
    assess(protocol_client, incident_id, "serious", aware_at=iso(aware))

    holdings = notices_of(protocol_client, incident_id, *USERS, holding=True)
    assert [(n["sequence"], n["status"]) for n in holdings] == [(1, "cancelled"), (2, "pending")]
    assert when(holdings[1]["due_at"]) == aware + timedelta(hours=24)


def test_correcting_awareness_moves_the_holding_statement_too(protocol_client: TestClient) -> None:
    incident_id = fairness_incident(protocol_client)
    assess(protocol_client, incident_id, "serious")  # aware now
    corrected = past(hours=10)

    assess(protocol_client, incident_id, "serious", aware_at=iso(corrected), reason="knew since the morning")

    assert when(notice(protocol_client, incident_id, *USERS)["due_at"]) == corrected + timedelta(hours=72)
    assert when(
        notice(protocol_client, incident_id, *USERS, holding=True)["due_at"]
    ) == corrected + timedelta(hours=24)


def test_correcting_awareness_moves_the_report_and_the_users_notice(protocol_client: TestClient) -> None:
    incident_id = fairness_incident(protocol_client)
    assess(protocol_client, incident_id, "serious")
    corrected = past(hours=10)

    assess(protocol_client, incident_id, "serious", aware_at=iso(corrected))

    assert when(notice(protocol_client, incident_id, *USERS)["due_at"]) == corrected + timedelta(hours=72)
    assert when(obligation(protocol_client, incident_id, ART73, "report")["due_at"]) == corrected + timedelta(
        days=15
    )
    assert len(notices_of(protocol_client, incident_id, *USERS)) == 1


def test_a_personal_data_breach_starts_the_gdpr_clock(protocol_client: TestClient) -> None:
    incident_id = fairness_incident(protocol_client)
    aware = past(hours=3)

    assess(protocol_client, incident_id, "issue", aware_at=iso(aware), personal_data_breach=True)

    (only,) = obligations(protocol_client, incident_id)["items"]  # no serious harm: no Art. 73 report
    assert (only["regime"], only["stage"], only["status"]) == (GDPR, "notify_authority", "open")
    assert when(only["due_at"]) == aware + timedelta(hours=72)
    assert only["basis"].startswith("GDPR Art. 33(1):")
    # The evidence hold is about the Art. 73 report only.
    assert obligations(protocol_client, incident_id)["evidence_hold"]["active"] is False
    assert notices_of(protocol_client, incident_id, *USERS) == []  # `issue` is no harm to users

    assess(protocol_client, incident_id, "serious", aware_at=iso(aware), personal_data_breach=True)
    items = {(o["regime"], o["stage"]): o for o in obligations(protocol_client, incident_id)["items"]}
    assert set(items) == {(GDPR, "notify_authority"), (ART73, "report")}
    assert items[(GDPR, "notify_authority")]["id"] == only["id"]


def test_a_deployer_must_inform_the_provider_at_once(protocol_client: TestClient) -> None:
    incident_id = fairness_incident(protocol_client, "vendor-cv-screen")
    aware = past(hours=3)

    assess(protocol_client, incident_id, "serious", aware_at=iso(aware))

    inform = obligation(protocol_client, incident_id, ART73, "inform_provider")
    assert when(inform["due_at"]) == aware
    assert inform["status"] == "open"
    assert inform["overdue"] is True  # due the moment the deployer knew
    assert inform["seconds_left"] == pytest.approx(-3 * 3600, abs=120)
    assert inform["basis"].startswith("EU AI Act Art. 26(5):")
    report = obligation(protocol_client, incident_id, ART73, "report")
    assert when(report["due_at"]) == aware + timedelta(days=15)
    assert report["overdue"] is False
    assert len(obligations(protocol_client, incident_id)["items"]) == 2


def test_a_provider_has_no_provider_to_inform(protocol_client: TestClient) -> None:
    incident_id = fairness_incident(protocol_client, "credit-scorer")
    assess(protocol_client, incident_id, "serious")

    assert [(o["regime"], o["stage"]) for o in obligations(protocol_client, incident_id)["items"]] == [
        (ART73, "report")
    ]


def test_an_alert_whose_rule_suspects_harm_owes_the_users_a_notice_from_the_start(
    protocol_client: TestClient,
) -> None:
    """The fairness rule starts an incident on a high-risk model with a suspected harm event."""
    incident_id = fire_one(protocol_client, alert_body("FairnessViolation", "credit-scorer", "warning"))
    wait_settled(protocol_client)
    detail = incident_of(protocol_client, incident_id)
    assert detail["harm"]["level"] == "harm_event"
    aware, opened = when(detail["harm"]["aware_at"]), when(detail["opened_at"])

    assert when(notice(protocol_client, incident_id, "fairness", "legal")["due_at"]) == opened + timedelta(
        hours=4
    )
    assert when(notice(protocol_client, incident_id, *USERS)["due_at"]) == aware + timedelta(hours=72)
    assert when(notice(protocol_client, incident_id, *USERS, holding=True)["due_at"]) == aware + timedelta(
        hours=24
    )
    assert obligations(protocol_client, incident_id)["items"] == []  # a harm event is not serious
