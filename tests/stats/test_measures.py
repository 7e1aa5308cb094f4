"""The pure statistics on hand-computed lists: percentiles, weeks, on-time rules, histograms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.stats import measures
from app.stats.measures import (
    CommunicationRow,
    Distribution,
    HarmRow,
    IncidentRow,
    ObligationRow,
    ReviewRow,
)

T = datetime(2026, 6, 1, tzinfo=UTC)
NOW = datetime(2026, 7, 1, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([10, 20, 30, 40], 50, 20),  # rank ceil(2.0) = 2 (linear interpolation would say 25)
        ([10, 20, 30, 40], 90, 40),  # rank ceil(3.6) = 4
        ([40, 10, 30, 20], 50, 20),  # order of the input does not matter
        ([10, 20, 30, 40, 50], 50, 30),  # rank ceil(2.5) = 3
        ([10, 20, 30, 40, 50], 90, 50),  # rank ceil(4.5) = 5
        (list(range(1, 11)), 90, 9),  # rank ceil(9.0) = 9
        (list(range(1, 12)), 90, 10),  # rank ceil(9.9) = 10
        (list(range(1, 101)), 50, 50),
        (list(range(1, 101)), 90, 90),
        ([7], 50, 7),
        ([7], 90, 7),
        ([5, 1], 100, 5),
    ],
)
def test_nearest_rank_percentiles(values: list[float], p: float, expected: float) -> None:
    assert measures.percentile(values, p) == expected


def test_a_percentile_of_nothing_or_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError):
        measures.percentile([], 50)
    with pytest.raises(ValueError):
        measures.percentile([1], 0)
    with pytest.raises(ValueError):
        measures.percentile([1], 101)


def test_distribution() -> None:
    assert measures.distribution([600, 3600, 7200, 172800]) == Distribution(4, 3600, 172800, 46050, 172800)
    assert measures.distribution([1.5, 0.5]) == Distribution(2, 0.5, 1.5, 1.0, 1.5)
    assert measures.distribution([]) == Distribution(0, None, None, None, None)


def test_times_before_their_start_count_as_zero_and_unknown_ones_are_skipped() -> None:
    assert measures.seconds_between(T, T + 90 * timedelta(seconds=1)) == 90
    assert measures.seconds_between(T, T - H) == 0
    assert measures.seconds_between(None, T) is None
    assert measures.seconds_between(T, None) is None
    row = IncidentRow(1, "x", "safety", "SEV1", None, T, impact_started_at=T + H, acknowledged_at=T + H)
    assert measures.time_to_detect(row) == 0
    assert measures.time_to_acknowledge(row) == 3600
    assert measures.time_to_contain(row) is None


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (
            datetime(2026, 6, 1, tzinfo=UTC),
            datetime(2026, 6, 29, tzinfo=UTC),
            ["2026-W23", "2026-W24", "2026-W25", "2026-W26"],
        ),
        # Mid-week on both ends: the weeks touched.
        (datetime(2026, 6, 3, tzinfo=UTC), datetime(2026, 6, 9, tzinfo=UTC), ["2026-W23", "2026-W24"]),
        # 2026 has 53 ISO weeks; 2027-01-03 is still in 2026-W53.
        (
            datetime(2026, 12, 20, tzinfo=UTC),
            datetime(2027, 1, 5, tzinfo=UTC),
            ["2026-W51", "2026-W52", "2026-W53", "2027-W01"],
        ),
        (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 1, 0, 0, 1, tzinfo=UTC), ["2026-W23"]),
        (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC), []),
        (
            datetime(9999, 12, 20, tzinfo=UTC),
            datetime(9999, 12, 31, 23, tzinfo=UTC),
            ["9999-W51", "9999-W52"],
        ),
    ],
)
def test_weeks_of_a_range(since: datetime, until: datetime, expected: list[str]) -> None:
    assert measures.weeks(since, until) == expected


def test_a_week_is_counted_in_utc() -> None:
    sunday_night_in_utc = datetime(2026, 6, 7, 23, 30, tzinfo=UTC)
    assert measures.week_of(sunday_night_in_utc) == "2026-W23"
    assert measures.week_of(sunday_night_in_utc.astimezone(datetime.now().astimezone().tzinfo)) == "2026-W23"


def comm(
    status: str,
    due: datetime,
    sent: datetime | None = None,
    *,
    incident_id: int = 1,
    audience: str = "ml-lead",
    holding: bool = False,
) -> CommunicationRow:
    return CommunicationRow(incident_id, audience, status, holding, due, sent)


def test_communications_on_time() -> None:
    rows = [
        comm("sent", T, T),  # on the dot: on time
        comm("sent", T, T + timedelta(seconds=1)),  # late
        comm("sent", T, T - H, holding=True),  # a holding statement counts
        comm("cancelled", T),  # left out
        comm("pending", T),  # past due: late
        comm("draft", T),  # past due: late
        comm("approved", NOW + H),  # not yet due: left out
    ]
    assert measures.communications_on_time(rows, NOW) == measures.OnTime(due=5, on_time=2, share=0.4)
    assert measures.communications_on_time([], NOW) == measures.OnTime(due=0, on_time=0, share=None)


def test_obligations_on_time() -> None:
    rows = [
        ObligationRow(1, "initial_sent", T, initial_at=T),  # on the dot
        ObligationRow(2, "complete", T, initial_at=T - H, completed_at=T + H),  # first report on time
        ObligationRow(3, "complete", T, completed_at=T + H),  # late
        ObligationRow(4, "open", T),  # past due: late
        ObligationRow(5, "open", NOW + H),  # not yet due: left out
        ObligationRow(6, "open", None),  # its clock has not started: left out
        ObligationRow(7, "not_applicable", T, initial_at=T + H),  # left out
        ObligationRow(8, "initial_sent", None, initial_at=T),  # reported before any clock: on time
    ]
    assert measures.obligations_on_time(rows, NOW) == measures.OnTime(due=5, on_time=3, share=0.6)


def test_users_notified_and_time_to_notify() -> None:
    harms = [
        HarmRow(1, "serious", T),
        HarmRow(2, "harm_event", T),
        HarmRow(3, "harm_event", T),
        HarmRow(4, "near_miss", T),  # not harm that happened
        HarmRow(5, "issue", T),
    ]
    communications = [
        comm("sent", T, T + H, incident_id=1, audience="affected-users", holding=True),  # holding: no
        comm("sent", T, T + 3 * H, incident_id=1, audience="affected-users"),
        comm("sent", T, T + 2 * H, incident_id=1, audience="affected-users", holding=False),  # the first
        comm("sent", T, T + H, incident_id=2, audience="ml-lead"),  # another audience
        comm("approved", T, None, incident_id=3, audience="affected-users"),  # not sent
        comm("sent", T, T + 5 * H, incident_id=4, audience="affected-users"),
    ]
    reviews = [
        ReviewRow(3, "approved", T, users_notified=True),
        ReviewRow(2, "draft", T, users_notified=False),
    ]
    notified_at = measures.users_notified_at(communications)
    assert notified_at == {1: T + 2 * H, 4: T + 5 * H}
    assert measures.time_to_notify_users(harms, notified_at) == Distribution(2, 7200, 18000, 12600, 18000)
    assert measures.users_notified(harms, notified_at, reviews) == measures.UsersNotified(
        harm_incidents=3, notified=2, share=pytest.approx(2 / 3)
    )


def incident_row(id_: int, resolve_s: float | None, type_: str = "safety") -> IncidentRow:
    resolved = None if resolve_s is None else T + timedelta(seconds=resolve_s)
    return IncidentRow(id_, f"i{id_}", type_, "SEV2", None, T, resolved_at=resolved)


def test_slowest_keeps_ten_longest_ties_by_id() -> None:
    rows = [incident_row(i, 100 * i) for i in range(1, 13)] + [incident_row(13, 1200), incident_row(14, None)]
    slow = measures.slowest(rows)
    assert [s.id for s in slow] == [12, 13, 11, 10, 9, 8, 7, 6, 5, 4]
    assert slow[0].seconds == 1200


def test_reviews_count_only_incidents_that_need_one() -> None:
    rows = [
        incident_row(1, 10, "safety"),
        incident_row(2, 10, "technical_failure"),
        incident_row(3, 10, "ethical"),
    ]
    reviews = [
        ReviewRow(1, "approved", T),
        ReviewRow(2, "approved", T),  # not required: not counted
        ReviewRow(3, "in_review", T),  # past due
    ]
    needed = measures.review_counts(rows, reviews, NOW, lambda type_, sev, peak: type_ != "technical_failure")
    assert needed == measures.Reviews(required=2, approved=1, overdue=1)


def test_counts_list_known_values_first_then_others() -> None:
    assert measures.counts(["b", "x", "b"], ("a", "b")) == {"a": 0, "b": 2, "x": 1}


def test_summarize_weekly_places_incidents_by_opened_week() -> None:
    rows = [incident_row(1, 60), IncidentRow(2, "i2", "safety", "SEV1", "SEV1", T + timedelta(days=14))]
    summary = measures.summarize(
        measures.Facts(incidents=rows), T, T + timedelta(days=21), NOW, lambda *_: False
    )
    assert [(w.week, w.count) for w in summary.weekly] == [("2026-W23", 1), ("2026-W24", 0), ("2026-W25", 1)]
    assert summary.weekly[0].time_to_resolve == Distribution(1, 60, 60, 60, 60)
    assert summary.by_peak_severity == {"SEV1": 1, "SEV2": 1, "SEV3": 0, "SEV4": 0}  # no peak: its severity
