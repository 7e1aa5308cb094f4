"""A real Alertmanager 0.25 notifying a real incident-bridge process: the incident lifecycle."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import REPEAT_INTERVAL_S, Alertmanager, Bridge
from tests.support import load_fixture_requests, metric_value, wait_until

pytestmark = pytest.mark.e2e

ACCURACY_A = {
    "alertname": "ModelAccuracyDrop",
    "model": "fraud-scorer",
    "instance": "a",
    "severity": "critical",
    "team": "risk-ml",
}
ACCURACY_B = {**ACCURACY_A, "instance": "b"}
ACCURACY_ANNOTATIONS = {
    "summary": "Accuracy of fraud-scorer below baseline",
    "runbook_url": "https://runbooks.example/ModelAccuracyDrop",
}
PERFORMANCE = "performance_degradation"


def kinds(detail: dict[str, Any]) -> list[str]:
    return [event["kind"] for event in detail["timeline"]]


def describe(detail: dict[str, Any]) -> str:
    """A compact account of an incident for assertion messages."""
    alerts = [(a["fingerprint"], a["status"], a["receive_count"]) for a in detail.get("alerts", [])]
    events = [(e["at"], e["kind"], e["actor"]) for e in detail.get("timeline", [])]
    counts = {k: detail.get(k) for k in ("status", "alert_count", "firing_count", "flap_count")}
    return f"{counts} alerts={alerts} timeline={events}"


def only_incident(bridge: Bridge, **filters: str) -> dict[str, Any] | None:
    """The single incident matching `filters`, or None while there is none yet."""
    items = bridge.incidents(**filters)
    assert len(items) <= 1, f"expected at most one incident for {filters}, got {items}"
    return items[0] if items else None


def wait_for_incident(bridge: Bridge, alert_count: int, **filters: str) -> dict[str, Any]:
    """Wait until the one incident matching `filters` holds `alert_count` alerts."""

    def ready() -> dict[str, Any] | None:
        incident = only_incident(bridge, **filters)
        return incident if incident and incident["alert_count"] >= alert_count else None

    return wait_until(ready, what=f"an incident with {alert_count} alert(s) for {filters}")


def fire_accuracy_drop(bridge: Bridge, alertmanager: Alertmanager) -> dict[str, Any]:
    alertmanager.fire(ACCURACY_A, ACCURACY_B, annotations=ACCURACY_ANNOTATIONS)
    return wait_for_incident(bridge, 2, model="fraud-scorer")


def test_fire_opens_one_incident_for_both_alerts(bridge: Bridge, alertmanager: Alertmanager) -> None:
    incident = fire_accuracy_drop(bridge, alertmanager)

    page = bridge.page(status="open")
    assert page["total"] == 1
    assert page["items"][0]["id"] == incident["id"]
    assert incident["rule"] == "accuracy-drop"
    assert incident["key"] == 'accuracy-drop:{alertname="ModelAccuracyDrop",model="fraud-scorer"}'
    assert incident["status"] == "triggered"
    assert incident["type"] == PERFORMANCE
    assert incident["severity"] == "SEV2"
    assert incident["title"] == ACCURACY_ANNOTATIONS["summary"]
    assert incident["model"] == "fraud-scorer"
    assert (incident["alert_count"], incident["firing_count"], incident["flap_count"]) == (2, 2, 0)
    # The rule's runbook wins over the alert's runbook_url annotation, and the link works.
    assert incident["runbook"]["id"] == "model-performance-degradation"
    assert incident["runbook"]["url"] == f"{bridge.url}/runbooks/model-performance-degradation"
    assert httpx.get(incident["runbook"]["url"], timeout=10).status_code == 200
    assert incident["acknowledged_at"] is None
    assert incident["resolved_at"] is None

    detail = bridge.incident(incident["id"])
    assert sorted(a["labels"]["instance"] for a in detail["alerts"]) == ["a", "b"]
    assert {a["status"] for a in detail["alerts"]} == {"firing"}
    assert all(len(a["fingerprint"]) == 16 for a in detail["alerts"])
    assert len({a["fingerprint"] for a in detail["alerts"]}) == 2
    assert all(a["source"] == "alertmanager" for a in detail["alerts"])
    assert all(a["annotations"] == ACCURACY_ANNOTATIONS for a in detail["alerts"])
    timeline = kinds(detail)
    assert timeline[0] == "opened"
    assert timeline.count("opened") == 1
    assert timeline.count("alert_added") == 2

    wait_until(
        lambda: bridge.metric("bridge_incidents_opened_total", type=PERFORMANCE, severity="SEV2") == 1,
        what="bridge_incidents_opened_total == 1",
    )
    metrics = bridge.metrics()
    assert (
        metric_value(metrics, "bridge_incidents_open", type=PERFORMANCE, severity="SEV2", status="triggered")
        == 1
    )
    assert metric_value(metrics, "bridge_alerts_received_total", source="alertmanager", status="firing") >= 2
    assert metric_value(metrics, "bridge_alerts_deduplicated_total", reason="grouped") >= 1


def test_grouping_by_rule_key(bridge: Bridge, alertmanager: Alertmanager) -> None:
    fraud = fire_accuracy_drop(bridge, alertmanager)

    # Another model: another incident.
    churn_accuracy = {**ACCURACY_A, "model": "churn-model"}
    alertmanager.fire(churn_accuracy)
    churn = wait_for_incident(bridge, 1, model="churn-model", type=PERFORMANCE, severity="SEV2")
    assert churn["id"] != fraud["id"]
    assert churn["rule"] == "accuracy-drop"
    assert churn["alert_count"] == 1

    # Drift of two different features of one model: one incident, one alert per feature.
    drift = {"alertname": "FeatureDrift", "model": "churn-model", "severity": "warning"}
    alertmanager.fire({**drift, "feature": "tenure"}, {**drift, "feature": "monthly_charges"})

    def drift_incident() -> dict[str, Any] | None:
        found = [i for i in bridge.incidents(model="churn-model") if i["rule"] == "feature-drift"]
        assert len(found) <= 1, f"feature drift of one model split into {len(found)} incidents: {found}"
        return found[0] if found and found[0]["alert_count"] >= 2 else None

    incident = wait_until(drift_incident, what="a feature-drift incident with both features")
    assert incident["severity"] == "SEV4"  # impact technical low x harm low
    assert incident["type"] == PERFORMANCE
    assert incident["alert_count"] == 2
    assert incident["runbook"]["id"] == "feature-drift"
    detail = bridge.incident(incident["id"])
    assert sorted(a["labels"]["feature"] for a in detail["alerts"]) == ["monthly_charges", "tenure"]
    assert kinds(detail).count("opened") == 1

    page = bridge.page(status="open")
    assert page["total"] == 3
    assert {i["id"] for i in page["items"]} == {fraud["id"], churn["id"], incident["id"]}
    assert bridge.incident(fraud["id"])["alert_count"] == 2


def test_repeat_notifications_are_deduplicated(bridge: Bridge, alertmanager: Alertmanager) -> None:
    incident = fire_accuracy_drop(bridge, alertmanager)
    wait_until(
        lambda: bridge.metric("bridge_alerts_received_total", status="firing") >= 2,
        what="the first notification to be counted",
    )
    duplicates_before = bridge.metric("bridge_alerts_deduplicated_total", reason="duplicate")

    # Alertmanager re-sends the firing group every repeat_interval: wait for two repeats.
    def repeated_twice() -> dict[str, Any] | None:
        detail = bridge.incident(incident["id"])
        counts = [a["receive_count"] for a in detail["alerts"]]
        return detail if counts and min(counts) >= 3 else None

    detail = wait_until(repeated_twice, timeout=6 * REPEAT_INTERVAL_S, what="two repeat notifications")

    assert bridge.page()["total"] == 1
    assert detail["alert_count"] == 2, describe(detail)
    assert detail["firing_count"] == 2, describe(detail)
    assert len(detail["alerts"]) == 2
    assert all(a["receive_count"] > 1 for a in detail["alerts"])
    assert all(a["last_seen_at"] > a["first_seen_at"] for a in detail["alerts"])
    # Repeats add nothing to the timeline.
    assert kinds(detail).count("alert_added") == 2
    repeats = sum(a["receive_count"] - 1 for a in detail["alerts"])
    wait_until(
        lambda: (
            bridge.metric("bridge_alerts_deduplicated_total", reason="duplicate")
            >= duplicates_before + repeats
        ),
        what=f"bridge_alerts_deduplicated_total{{reason='duplicate'}} to grow by {repeats}",
    )
    assert bridge.metric("bridge_incidents_opened_total") == 1


def test_resolving_all_alerts_resolves_the_incident(bridge: Bridge, alertmanager: Alertmanager) -> None:
    incident = fire_accuracy_drop(bridge, alertmanager)
    assert bridge.metric("bridge_incidents_open", type=PERFORMANCE) == 1

    alertmanager.resolve(ACCURACY_A, ACCURACY_B, annotations=ACCURACY_ANNOTATIONS)
    resolved = wait_until(
        lambda: only_incident(bridge, status="resolved"), what="the incident to be resolved by its alerts"
    )

    assert resolved["id"] == incident["id"]
    assert resolved["resolved_by"] == "alertmanager"
    assert resolved["resolved_at"] is not None
    assert resolved["resolved_at"] >= resolved["opened_at"]
    assert resolved["firing_count"] == 0
    assert resolved["alert_count"] == 2
    assert bridge.page(status="open")["total"] == 0
    detail = bridge.incident(incident["id"])
    assert {a["status"] for a in detail["alerts"]} == {"resolved"}
    assert all(a["ends_at"] is not None for a in detail["alerts"])
    timeline = kinds(detail)
    assert timeline.count("alert_resolved") == 2, describe(detail)
    # After the resolution comes only bookkeeping: the review it needs, delivery records.
    lifecycle = [k for k in timeline if k not in ("review_started", "page_failed", "notified")]
    assert lifecycle[-1] == "resolved", describe(detail)
    assert timeline.index("resolved") > max(i for i, k in enumerate(timeline) if k == "alert_resolved")
    assert [e["actor"] for e in detail["timeline"] if e["kind"] == "resolved"] == ["alertmanager"]

    assert bridge.metric("bridge_incidents_open", type=PERFORMANCE) == 0
    wait_until(
        lambda: bridge.metric("bridge_incidents_resolved_total", type=PERFORMANCE, by="alerts") == 1,
        what="bridge_incidents_resolved_total{by='alerts'} == 1",
    )
    assert bridge.metric("bridge_alerts_received_total", status="resolved") >= 2


def test_firing_again_after_resolution_reopens_the_same_incident(
    bridge: Bridge, alertmanager: Alertmanager
) -> None:
    alertmanager.fire(ACCURACY_A)
    incident = wait_for_incident(bridge, 1, model="fraud-scorer")
    alertmanager.resolve(ACCURACY_A)
    wait_until(lambda: only_incident(bridge, status="resolved"), what="the incident to be resolved")
    assert bridge.metric("bridge_incidents_reopened_total") == 0

    alertmanager.fire(ACCURACY_A)
    reopened = wait_until(lambda: only_incident(bridge, status="open"), what="the incident to reopen")

    assert reopened["id"] == incident["id"]
    assert reopened["status"] == "triggered"
    assert reopened["flap_count"] == 1
    assert reopened["resolved_at"] is None
    assert reopened["resolved_by"] is None
    assert reopened["alert_count"] == 1
    assert reopened["firing_count"] == 1
    assert bridge.page()["total"] == 1
    detail = bridge.incident(incident["id"])
    assert len(detail["alerts"]) == 1, describe(detail)
    assert detail["alerts"][0]["status"] == "firing"
    assert detail["alerts"][0]["ends_at"] is None
    timeline = kinds(detail)
    assert timeline.count("opened") == 1
    assert timeline.count("reopened") == 1, describe(detail)
    assert timeline.index("reopened") > timeline.index("resolved")

    wait_until(
        lambda: bridge.metric("bridge_incidents_reopened_total", type=PERFORMANCE, severity="SEV2") == 1,
        what="bridge_incidents_reopened_total == 1",
    )
    assert bridge.metric("bridge_incidents_opened_total") == 1
    assert bridge.metric("bridge_incidents_open", type=PERFORMANCE, status="triggered") == 1


def test_fairness_incident_waits_for_a_person(bridge: Bridge, alertmanager: Alertmanager) -> None:
    fairness = {
        "alertname": "FairnessViolation",
        "model": "credit-model",
        "metric": "demographic_parity",
        "severity": "warning",
    }
    alertmanager.fire(fairness)
    incident = wait_for_incident(bridge, 1, model="credit-model")
    assert incident["rule"] == "fairness"
    assert incident["type"] == "fairness_violation"
    assert incident["severity"] == "SEV2"  # impact technical low x harm high
    assert incident["key"] == 'fairness:{model="credit-model"}'
    assert incident["runbook"]["id"] == "fairness-violation"

    alertmanager.resolve(fairness)
    wait_until(
        lambda: "all_alerts_resolved" in kinds(bridge.incident(incident["id"])),
        what="all_alerts_resolved in the timeline",
    )
    detail = bridge.incident(incident["id"])
    assert detail["status"] == "triggered", describe(detail)
    assert detail["resolved_at"] is None
    assert detail["firing_count"] == 0, describe(detail)
    assert detail["alerts"][0]["status"] == "resolved"
    assert "resolved" not in kinds(detail)
    assert bridge.page(status="open")["total"] == 1
    assert bridge.metric("bridge_incidents_open", type="fairness_violation", status="triggered") == 1

    acked = bridge.act(incident["id"], "acknowledge", by="alice", note="looking at the approval rates")
    assert acked["changed"] is True
    assert acked["incident"]["status"] == "acknowledged"
    assert acked["incident"]["acknowledged_by"] == "alice"
    assert acked["incident"]["acknowledged_at"] is not None

    done = bridge.act(incident["id"], "resolve", by="bob", note="threshold recalibrated and reviewed")
    assert done["changed"] is True
    assert done["incident"]["status"] == "resolved"
    assert done["incident"]["resolved_by"] == "bob"

    detail = bridge.incident(incident["id"])
    assert detail["status"] == "resolved"
    assert detail["acknowledged_by"] == "alice"
    assert detail["resolved_by"] == "bob"
    assert detail["opened_at"] <= detail["acknowledged_at"] <= detail["resolved_at"]
    events = [(e["kind"], e["actor"]) for e in detail["timeline"]]
    assert events[0] == ("opened", "alertmanager")
    # Whoever acknowledges leads: that handover is on the timeline too.
    people = [e for e in events if e[1] != "incident-bridge"]
    assert people[-3:] == [("acknowledged", "alice"), ("role_changed", "alice"), ("resolved", "bob")]
    assert ("review_started", "incident-bridge") in events  # a fairness incident needs a review
    assert detail["lead"] == "alice"
    messages = {e["kind"]: e["message"] for e in detail["timeline"]}
    assert messages["acknowledged"] == "looking at the approval rates"
    assert messages["resolved"] == "threshold recalibrated and reviewed"
    assert kinds(detail).index("all_alerts_resolved") < kinds(detail).index("acknowledged")
    assert bridge.metric("bridge_incidents_open", type="fairness_violation") == 0


def test_webhook_with_wrong_credentials_is_refused(bridge: Bridge) -> None:
    body = load_fixture_requests()[1]["body"]

    wrong = bridge.post_webhook(body, headers={"Authorization": "Bearer not-the-token"})
    missing = bridge.http.post("/webhooks/alertmanager", json=body)
    basic = bridge.post_webhook(body, headers={"Authorization": "Basic YnJpZGdlOndyb25n"})  # bridge:wrong

    for response in (wrong, missing, basic):
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert bridge.page()["total"] == 0
    assert bridge.metric("bridge_alerts_received_total") == 0
    assert bridge.metric("bridge_webhook_requests_total", source="alertmanager", code="401") == 3

    # The same body with the right token is stored: the refusals above were about credentials only.
    accepted = bridge.post_webhook(body)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["alerts"] == 2
    assert bridge.page()["total"] == 1
    assert bridge.metric("bridge_alerts_received_total") == 2
