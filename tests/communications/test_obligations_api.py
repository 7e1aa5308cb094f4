"""Regulatory reports through the API: initial and complete reports, late reasons, the evidence
hold, and an organisation's own regime started by a moment a person records."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.flows import communications as flows
from tests.communications.conftest import (
    REGIME_YAML,
    assess,
    entries,
    iso,
    obligation,
    obligations,
    past,
    report_incident,
    when,
)

ART73 = "eu_ai_act_art73"
NIS2 = "nis2_art23"


def serious_incident(client: TestClient, aware: datetime) -> int:
    incident_id: int = report_incident(client, "fairness_violation", "SEV2", "credit-scorer")["id"]
    assess(client, incident_id, "serious", aware_at=iso(aware))
    return incident_id


def post_report(
    client: TestClient, incident_id: int, obligation_id: int, expect: int = 200, **body: Any
) -> dict[str, Any]:
    response = client.post(f"/api/v1/incidents/{incident_id}/obligations/{obligation_id}/report", json=body)
    assert response.status_code == expect, response.text
    answer: dict[str, Any] = response.json()
    return answer


def freeze(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(flows, "utcnow", lambda: moment)


def test_an_initial_then_a_complete_report(protocol_client: TestClient) -> None:
    incident_id = serious_incident(protocol_client, past(hours=1))
    report = obligation(protocol_client, incident_id, ART73, "report")
    assert obligations(protocol_client, incident_id)["evidence_hold"]["active"] is True

    listing = post_report(
        protocol_client, incident_id, report["id"], by="erin", kind="initial", reference="MSA-2026-0042"
    )

    (made,) = listing["items"]
    assert made["status"] == "initial_sent"
    assert made["initial_by"] == "erin"
    assert made["initial_at"] is not None
    assert made["reference"] == "MSA-2026-0042"
    assert made["overdue"] is False
    assert made["seconds_left"] is None
    assert made["late_reason"] is None
    # The authority has been informed: the evidence may be touched again.
    assert listing["evidence_hold"] == {"active": False, "message": "", "regimes": []}
    (entry,) = entries(protocol_client, incident_id, "obligation_reported")
    assert entry["actor"] == "erin"
    assert entry["message"] == f"{ART73} report: initial report made (reference MSA-2026-0042)"
    assert entry["data"] == {"regime": ART73, "stage": "report", "kind": "initial", "late": False}

    again = post_report(protocol_client, incident_id, report["id"], expect=409, by="erin", kind="initial")
    assert again["detail"] == f"the initial report of {ART73} report was already made"
    assert obligation(protocol_client, incident_id, ART73, "report")["initial_at"] == made["initial_at"]

    listing = post_report(protocol_client, incident_id, report["id"], by="frank", kind="complete")
    (done,) = listing["items"]
    assert done["status"] == "complete"
    assert done["completed_by"] == "frank"
    assert done["initial_by"] == "erin"
    assert done["reference"] == "MSA-2026-0042"
    assert len(entries(protocol_client, incident_id, "obligation_reported")) == 2

    late = post_report(protocol_client, incident_id, report["id"], expect=409, by="frank", kind="complete")
    assert late["detail"] == f"the complete report of {ART73} report was already made"


def test_a_report_made_late_must_say_why(
    protocol_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    aware = past(hours=1)
    incident_id = serious_incident(protocol_client, aware)
    report = obligation(protocol_client, incident_id, ART73, "report")
    due = when(report["due_at"])
    assert due == aware + timedelta(days=15)
    freeze(monkeypatch, due + timedelta(hours=1))
    assert obligation(protocol_client, incident_id, ART73, "report")["overdue"] is True

    refused = post_report(protocol_client, incident_id, report["id"], expect=422, by="erin", kind="initial")

    assert refused["error"] == "invalid_request"
    assert [e["loc"] for e in refused["errors"]] == [["body", "late_reason"]]
    assert f"this report is late (due {due:%Y-%m-%d %H:%M} UTC): give `late_reason`" in refused["detail"]
    unchanged = obligation(protocol_client, incident_id, ART73, "report")
    assert (unchanged["status"], unchanged["initial_at"], unchanged["late_reason"]) == ("open", None, None)
    assert entries(protocol_client, incident_id, "obligation_reported") == []

    reason = "the harm assessment was only confirmed by the external auditor yesterday"
    listing = post_report(
        protocol_client, incident_id, report["id"], by="erin", kind="initial", late_reason=reason
    )

    (made,) = listing["items"]
    assert made["status"] == "initial_sent"
    assert made["late_reason"] == reason
    assert when(made["initial_at"]) == due + timedelta(hours=1)
    (entry,) = entries(protocol_client, incident_id, "obligation_reported")
    assert entry["message"] == f"{ART73} report: initial report made, late: {reason}"
    assert entry["data"]["late"] is True

    # The complete report follows the initial one: not late, and the reason stays on record.
    listing = post_report(protocol_client, incident_id, report["id"], by="erin", kind="complete")
    assert (listing["items"][0]["status"], listing["items"][0]["late_reason"]) == ("complete", reason)


def test_a_report_that_no_longer_applies_cannot_be_made(protocol_client: TestClient) -> None:
    aware = past(hours=1)
    incident_id = serious_incident(protocol_client, aware)
    report = obligation(protocol_client, incident_id, ART73, "report")
    assess(protocol_client, incident_id, "near_miss", aware_at=iso(aware))

    refused = post_report(protocol_client, incident_id, report["id"], expect=409, by="erin", kind="initial")

    assert refused["detail"] == f"{ART73} report does not apply to the current harm assessment"
    assert obligation(protocol_client, incident_id, ART73, "report")["status"] == "not_applicable"


def test_a_report_of_another_incident_is_not_found(protocol_client: TestClient) -> None:
    incident_id = serious_incident(protocol_client, past(hours=1))
    other_id = report_incident(protocol_client, "technical_failure", "SEV3", "fraud-scorer")["id"]
    report = obligation(protocol_client, incident_id, ART73, "report")

    refused = post_report(protocol_client, other_id, report["id"], expect=404, by="erin", kind="initial")

    assert refused["detail"] == f"obligation {report['id']} not found on incident {other_id}"
    assert obligation(protocol_client, incident_id, ART73, "report")["status"] == "open"
    assert protocol_client.get("/api/v1/incidents/999999/obligations").status_code == 404


def test_a_report_needs_a_known_kind(protocol_client: TestClient) -> None:
    incident_id = serious_incident(protocol_client, past(hours=1))
    report = obligation(protocol_client, incident_id, ART73, "report")

    refused = post_report(protocol_client, incident_id, report["id"], expect=422, by="erin", kind="final")

    assert ["body", "kind"] in [e["loc"] for e in refused["errors"]]
    assert obligation(protocol_client, incident_id, ART73, "report")["status"] == "open"


# --- an organisation's own regime -----------------------------------------------------------------


def record_moment(client: TestClient, incident_id: int, expect: int = 201, **body: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/incidents/{incident_id}/moments", json=body)
    assert response.status_code == expect, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize("protocol_yaml", [REGIME_YAML])
def test_a_regime_starts_with_its_moment_and_counts_its_last_stage_from_the_previous_report(
    protocol_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = report_incident(protocol_client, "technical_failure", "SEV3", "fraud-scorer")
    incident_id, opened = incident["id"], when(incident["opened_at"])
    assert obligations(protocol_client, incident_id)["items"] == []

    moment = record_moment(protocol_client, incident_id, by="alice", name="significant")

    assert (moment["name"], moment["by"]) == ("significant", "alice")
    items = obligations(protocol_client, incident_id)["items"]
    assert [(o["regime"], o["stage"], o["status"]) for o in items] == [
        (NIS2, "early_warning", "open"),
        (NIS2, "notification", "open"),
        (NIS2, "final_report", "open"),
    ]
    early, notification, final = items
    # Without a harm assessment the organisation knew when the incident opened.
    assert when(early["due_at"]) == opened + timedelta(hours=24)
    assert when(notification["due_at"]) == opened + timedelta(hours=72)
    assert final["due_at"] is None
    assert (final["overdue"], final["seconds_left"]) == (False, None)
    assert early["basis"] == "NIS2 Directive, Art. 23(4): early_warning, within 1d of aware."
    assert final["basis"] == "NIS2 Directive, Art. 23(4): final_report, within 1mo of previous."
    assert obligations(protocol_client, incident_id)["evidence_hold"]["active"] is False
    opened_entries = [e["message"] for e in entries(protocol_client, incident_id, "obligation_opened")]
    assert f"{NIS2} final_report: due once the previous stage is reported" in opened_entries
    assert len(opened_entries) == 3
    (recorded,) = entries(protocol_client, incident_id, "moment")
    assert (recorded["actor"], recorded["message"]) == ("alice", "recorded: significant")

    duplicate = record_moment(protocol_client, incident_id, expect=409, by="bob", name="significant")
    assert duplicate["detail"] == f"moment 'significant' is already recorded on incident {incident_id}"
    listed = protocol_client.get(f"/api/v1/incidents/{incident_id}/moments").json()["items"]
    assert [(m["name"], m["by"]) for m in listed] == [("significant", "alice")]

    # The early warning on time; the notification later, on the last day of a January.
    post_report(protocol_client, incident_id, early["id"], by="erin", kind="initial")
    assert obligation(protocol_client, incident_id, NIS2, "final_report")["due_at"] is None
    reported_at = datetime(2031, 1, 31, 10, 0, tzinfo=UTC)
    freeze(monkeypatch, reported_at)
    listing = post_report(
        protocol_client,
        incident_id,
        notification["id"],
        by="erin",
        kind="initial",
        late_reason="waited for the CSIRT",
    )

    by_stage = {o["stage"]: o for o in listing["items"]}
    assert when(by_stage["notification"]["initial_at"]) == reported_at
    # One calendar month after the notification: February has no 31st.
    assert when(by_stage["final_report"]["due_at"]) == datetime(2031, 2, 28, 10, 0, tzinfo=UTC)
    assert by_stage["final_report"]["status"] == "open"
    assert by_stage["early_warning"]["status"] == "initial_sent"


@pytest.mark.parametrize("protocol_yaml", [REGIME_YAML])
def test_the_final_report_is_due_a_calendar_month_after_the_notification(protocol_client: TestClient) -> None:
    incident_id = report_incident(protocol_client, "technical_failure", "SEV3", "fraud-scorer")["id"]
    record_moment(protocol_client, incident_id, by="alice", name="significant")
    notification = obligation(protocol_client, incident_id, NIS2, "notification")

    post_report(protocol_client, incident_id, notification["id"], by="erin", kind="complete")

    reported = when(obligation(protocol_client, incident_id, NIS2, "notification")["completed_at"])
    due = when(obligation(protocol_client, incident_id, NIS2, "final_report")["due_at"])
    assert due == one_month_after(reported)


def one_month_after(moment: datetime) -> datetime:
    """The same day and time a calendar month later, or the last day of a shorter month."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@pytest.mark.parametrize("protocol_yaml", [REGIME_YAML])
def test_a_harm_assessment_alone_does_not_start_the_regime(protocol_client: TestClient) -> None:
    incident_id = report_incident(protocol_client, "technical_failure", "SEV3", "fraud-scorer")["id"]
    aware = past(hours=6)

    assess(protocol_client, incident_id, "harm_event", aware_at=iso(aware))
    assert obligations(protocol_client, incident_id)["items"] == []

    record_moment(protocol_client, incident_id, by="alice", name="significant")
    early = obligation(protocol_client, incident_id, NIS2, "early_warning")
    assert when(early["due_at"]) == aware + timedelta(hours=24)  # counted from awareness


def test_a_moment_cannot_be_in_the_future(protocol_client: TestClient) -> None:
    incident_id = report_incident(protocol_client, "technical_failure", "SEV3", "fraud-scorer")["id"]
    later = datetime.now(UTC) + timedelta(hours=1)

    refused = record_moment(
        protocol_client, incident_id, expect=422, by="alice", name="significant", at=iso(later)
    )

    assert [e["loc"] for e in refused["errors"]] == [["body", "at"]]
    assert protocol_client.get(f"/api/v1/incidents/{incident_id}/moments").json()["items"] == []
    assert (
        record_moment(protocol_client, 999999, expect=404, by="alice", name="significant")["error"]
        == "not_found"
    )
