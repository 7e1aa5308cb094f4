"""GET /api/v1/stats over incident histories with known answers (tests/stats/history.py), on
SQLite and PostgreSQL: counts, distributions, practice measures, filters, weeks, visibility."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db import utcnow
from tests.stats import history
from tests.stats.history import SINCE, UNTIL, add_incidents, database, incident

TYPES_ZERO = {
    "technical_failure": 0,
    "performance_degradation": 0,
    "fairness_violation": 0,
    "safety": 0,
    "ethical": 0,
    "unclassified": 0,
}
EMPTY = {"n": 0, "p50": None, "p90": None, "mean": None, "max": None}


def dist(n: int, p50: float, p90: float, mean: float, max_: float) -> dict[str, Any]:
    return {"n": n, "p50": p50, "p90": p90, "mean": mean, "max": max_}


def stats(client: TestClient, person: str | None = None, **params: str) -> dict[str, Any]:
    headers = {"X-Bridge-Person": person} if person is not None else {}
    response = client.get("/api/v1/stats", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def june(client: TestClient, person: str | None = None, **filters: str) -> dict[str, Any]:
    return stats(client, person, since=SINCE, until=UNTIL, **filters)


@pytest.fixture
def ids(client: TestClient) -> dict[str, int]:
    return history.june(database(client))


def test_counts_and_distributions_have_the_known_answers(client: TestClient, ids: dict[str, int]) -> None:
    body = june(client)
    assert body["count"] == 5  # A B C D E; not F (before), G (at until), H (a duplicate)
    assert body["by_type"] == {
        **TYPES_ZERO,
        "performance_degradation": 2,
        "technical_failure": 2,
        "fairness_violation": 1,
    }
    assert body["by_severity"] == {"SEV1": 0, "SEV2": 2, "SEV3": 2, "SEV4": 1}
    assert body["by_peak_severity"] == {"SEV1": 1, "SEV2": 2, "SEV3": 1, "SEV4": 1}
    # Nearest rank: p50 of 4 values is the 2nd, p90 the 4th (interpolation would say 5400 and ~123000).
    assert body["time_to_detect"] == dist(3, 300, 900, 420, 900)  # B and E have no impact start
    assert body["time_to_acknowledge"] == dist(5, 120, 900, 282, 900)
    assert body["time_to_contain"] == dist(3, 1200, 1800, 1200, 1800)
    assert body["time_to_resolve"] == dist(4, 3600, 172800, 46050, 172800)
    assert body["since"] == "2026-06-01T00:00:00Z"
    assert body["until"] == "2026-06-29T00:00:00Z"


def test_the_answer_leads_with_counts_then_distributions(client: TestClient, ids: dict[str, int]) -> None:
    body = june(client)
    assert list(body)[:8] == [
        "count",
        "by_type",
        "by_severity",
        "by_peak_severity",
        "time_to_detect",
        "time_to_acknowledge",
        "time_to_contain",
        "time_to_resolve",
    ]
    assert list(body["time_to_resolve"]) == ["n", "p50", "p90", "mean", "max"]


def test_reviews_actions_and_ai_practice_measures(client: TestClient, ids: dict[str, int]) -> None:
    body = june(client)
    # A (SEV2), B (peak SEV1, now SEV3) and D (fairness) need a review; C's voluntary one is not counted.
    assert body["reviews"] == {"required": 3, "approved": 1, "overdue": 1}
    assert body["actions"] == {"open": 4, "overdue": 2, "done": 1}  # F's action is out of range
    # aware_at of the current assessment to the first full affected-users notice: B 1 h, D 2 h.
    assert body["time_to_notify_users"] == dist(2, 3600, 7200, 5400, 7200)
    assert body["communications_on_time"] == {"due": 8, "on_time": 6, "share": 0.75}
    assert body["obligations_on_time"] == {"due": 4, "on_time": 2, "share": 0.5}
    assert body["harm_incidents_users_notified"] == {"harm_incidents": 4, "notified": 3, "share": 0.75}


def test_weekly_buckets_include_the_empty_week(client: TestClient, ids: dict[str, int]) -> None:
    weekly = june(client)["weekly"]
    assert [w["week"] for w in weekly] == ["2026-W23", "2026-W24", "2026-W25", "2026-W26"]
    assert [w["count"] for w in weekly] == [2, 2, 0, 1]
    w23, w24, w25, w26 = weekly
    assert w23["by_type"] == {**TYPES_ZERO, "performance_degradation": 2}
    assert w23["time_to_detect"] == dist(1, 300, 300, 300, 300)
    assert w23["time_to_acknowledge"] == dist(2, 60, 120, 90, 120)
    assert w23["time_to_contain"] == dist(2, 600, 1200, 900, 1200)
    assert w23["time_to_resolve"] == dist(2, 3600, 7200, 5400, 7200)
    assert w24["by_type"] == {**TYPES_ZERO, "technical_failure": 1, "fairness_violation": 1}
    assert w24["time_to_detect"] == dist(2, 60, 900, 480, 900)
    assert w24["time_to_acknowledge"] == dist(2, 30, 300, 165, 300)
    assert w24["time_to_contain"] == dist(1, 1800, 1800, 1800, 1800)
    assert w24["time_to_resolve"] == dist(2, 600, 172800, 86700, 172800)
    assert w25 == {
        "week": "2026-W25",
        "count": 0,
        "by_type": TYPES_ZERO,
        "time_to_detect": EMPTY,
        "time_to_acknowledge": EMPTY,
        "time_to_contain": EMPTY,
        "time_to_resolve": EMPTY,
    }
    assert w26["time_to_acknowledge"] == dist(1, 900, 900, 900, 900)
    assert w26["time_to_resolve"] == EMPTY


def test_slowest_are_the_longest_to_resolve(client: TestClient, ids: dict[str, int]) -> None:
    slowest = june(client)["slowest"]
    assert [(s["id"], s["seconds"]) for s in slowest] == [
        (ids["D"], 172800),
        (ids["B"], 7200),
        (ids["A"], 3600),
        (ids["C"], 600),
    ]
    assert slowest[0] == {
        "id": ids["D"],
        "title": "incident D",
        "type": "fairness_violation",
        "severity": "SEV2",
        "seconds": 172800,
    }


@pytest.mark.parametrize(
    ("filters", "count", "resolve"),
    [
        ({"model": "fraud-scorer"}, 2, dist(2, 3600, 7200, 5400, 7200)),
        ({"team": "growth"}, 2, dist(1, 600, 600, 600, 600)),
        ({"type": "fairness_violation"}, 1, dist(1, 172800, 172800, 172800, 172800)),
        ({"severity": "SEV3"}, 2, dist(2, 600, 7200, 3900, 7200)),  # final severity: B was SEV1 once
        ({"model": "churn-model", "severity": "SEV4"}, 1, EMPTY),
        ({"model": "no-such-model"}, 0, EMPTY),
    ],
)
def test_filters_narrow_every_figure(
    client: TestClient, ids: dict[str, int], filters: dict[str, str], count: int, resolve: dict[str, Any]
) -> None:
    body = june(client, **filters)
    assert body["count"] == count
    assert sum(body["by_type"].values()) == count
    assert sum(w["count"] for w in body["weekly"]) == count
    assert body["time_to_resolve"] == resolve


def test_filters_narrow_the_practice_measures(client: TestClient, ids: dict[str, int]) -> None:
    body = june(client, model="fraud-scorer")  # A and B
    assert body["reviews"] == {"required": 2, "approved": 1, "overdue": 1}
    assert body["actions"] == {"open": 2, "overdue": 1, "done": 1}
    assert body["communications_on_time"] == {"due": 5, "on_time": 3, "share": 0.6}
    assert body["obligations_on_time"] == {"due": 2, "on_time": 1, "share": 0.5}
    assert body["time_to_notify_users"] == dist(1, 3600, 3600, 3600, 3600)
    assert body["harm_incidents_users_notified"] == {"harm_incidents": 1, "notified": 1, "share": 1.0}


def test_a_restricted_incident_counts_only_for_those_who_may_see_it(
    client: TestClient, ids: dict[str, int]
) -> None:
    everyone = june(client)
    assert june(client, person="alice") == everyone  # D's owner sees it

    bob = june(client, person="bob")
    assert bob["count"] == 4
    assert bob["by_type"]["fairness_violation"] == 0
    assert bob["time_to_detect"] == dist(2, 300, 900, 600, 900)
    assert bob["time_to_acknowledge"] == dist(4, 120, 900, 345, 900)
    assert bob["time_to_resolve"] == dist(3, 3600, 7200, 3800, 7200)
    assert [s["id"] for s in bob["slowest"]] == [ids["B"], ids["A"], ids["C"]]
    assert bob["reviews"] == {"required": 2, "approved": 1, "overdue": 1}
    assert bob["actions"] == {"open": 3, "overdue": 2, "done": 1}
    assert bob["time_to_notify_users"] == dist(1, 3600, 3600, 3600, 3600)
    assert bob["communications_on_time"] == {"due": 5, "on_time": 3, "share": 0.6}
    assert bob["obligations_on_time"] == {"due": 3, "on_time": 1, "share": pytest.approx(1 / 3)}
    assert bob["harm_incidents_users_notified"] == {
        "harm_incidents": 3,
        "notified": 2,
        "share": pytest.approx(2 / 3),
    }
    assert [w["count"] for w in bob["weekly"]] == [2, 1, 0, 1]


def test_the_default_range_is_the_last_30_days_and_relative_ranges_work(client: TestClient) -> None:
    now = utcnow()
    add_incidents(
        database(client),
        recent=incident("recent", now - timedelta(days=1), ack=60),
        older=incident("older", now - timedelta(days=40), ack=120),
        ancient=incident("ancient", now - timedelta(weeks=13), ack=180),
    )
    default = stats(client)
    assert default["count"] == 1
    assert default["time_to_acknowledge"] == dist(1, 60, 60, 60, 60)
    assert len(default["weekly"]) in (5, 6)  # 30 days touch 5 or 6 ISO weeks
    assert stats(client, since="12w")["count"] == 2
    assert stats(client, since="100d", until="30d")["count"] == 2  # older and ancient
    assert stats(client, since="13w1d", until="2d")["count"] == 2  # older and ancient, not recent


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-06-01T00:00:00"}, "since"),  # no zone
        ({"since": "last tuesday"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-06-29T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, "since"),
        ({"since": "2026-06-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, "since"),
        ({"since": "2000-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),  # over ten years
        ({"since": "99999999w"}, "since"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
    ],
)
def test_bad_ranges_are_422_naming_the_field(client: TestClient, params: dict[str, str], field: str) -> None:
    response = client.get("/api/v1/stats", params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["errors"][0]["loc"] == ["query", field]


def test_an_unknown_severity_is_422(client: TestClient) -> None:
    response = client.get("/api/v1/stats", params={"severity": "SEV9"})
    assert response.status_code == 422


def test_an_empty_database_answers_zeros_and_nulls(client: TestClient) -> None:
    body = june(client)
    assert body["count"] == 0
    assert body["time_to_resolve"] == EMPTY
    assert body["communications_on_time"] == {"due": 0, "on_time": 0, "share": None}
    assert body["harm_incidents_users_notified"] == {"harm_incidents": 0, "notified": 0, "share": None}
    assert body["slowest"] == []
    assert [w["count"] for w in body["weekly"]] == [0, 0, 0, 0]


def test_the_api_token_guards_stats(settings: Any) -> None:
    from app.main import create_app

    configured = settings.model_copy(update={"api_token": "s3cret-api-token"})
    with TestClient(create_app(configured)) as guarded:
        assert guarded.get("/api/v1/stats").status_code == 401
        ok = guarded.get("/api/v1/stats", headers={"Authorization": "Bearer s3cret-api-token"})
        assert ok.status_code == 200
