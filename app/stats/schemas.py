"""The answer of `GET /api/v1/stats`: counts first, then distributions, then the practice measures,
the weekly trend and the slowest incidents."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class DistributionRead(Read):
    """Seconds; p50 and p90 are nearest-rank percentiles (always an observed value). Null when n = 0."""

    n: int
    p50: float | None
    p90: float | None
    mean: float | None
    max: float | None


class ReviewsRead(Read):
    required: int = Field(description="incidents that need a post-incident review (the `reviews:` section)")
    approved: int = Field(description="of those, reviews approved")
    overdue: int = Field(description="of those, reviews past due and not approved")


class ActionsRead(Read):
    open: int = Field(description="improvement actions open or in progress")
    overdue: int = Field(description="of those, past due")
    done: int


class OnTimeRead(Read):
    due: int = Field(description="done (sent, reported) plus still undone past due")
    on_time: int = Field(description="done by the due time")
    share: float | None = Field(description="on_time / due; null when nothing was due")


class UsersNotifiedRead(Read):
    harm_incidents: int = Field(description="incidents whose current harm level is harm_event or serious")
    notified: int = Field(
        description="of those, users told: an affected-users notice sent, or the review says so"
    )
    share: float | None


class WeekRead(Read):
    week: str = Field(examples=["2026-W48"], description="ISO week of opened_at (UTC)")
    count: int
    by_type: dict[str, int]
    time_to_detect: DistributionRead
    time_to_acknowledge: DistributionRead
    time_to_contain: DistributionRead
    time_to_resolve: DistributionRead


class SlowRead(Read):
    id: int
    title: str
    type: str
    severity: str
    seconds: float = Field(description="from opened to resolved")


class StatsRead(Read):
    """Incidents opened in [since, until) that match the filters and the viewer may see."""

    count: int
    by_type: dict[str, int]
    by_severity: dict[str, int] = Field(description="by final severity")
    by_peak_severity: dict[str, int] = Field(description="by the worst severity the incident ever had")
    time_to_detect: DistributionRead = Field(description="impact_started_at to opened_at (when known)")
    time_to_acknowledge: DistributionRead = Field(description="opened_at to acknowledged_at")
    time_to_contain: DistributionRead = Field(description="opened_at to contained_at")
    time_to_resolve: DistributionRead = Field(description="opened_at to resolved_at")
    reviews: ReviewsRead
    actions: ActionsRead
    time_to_notify_users: DistributionRead = Field(
        description="aware_at of the current harm assessment to the first full affected-users notice sent"
    )
    communications_on_time: OnTimeRead = Field(
        description="notices sent by their due time; unsent past due count as late, cancelled ones not at all"
    )
    obligations_on_time: OnTimeRead = Field(
        description="regulatory reports first made (initial or complete) by their due time; "
        "open past due count as late, not_applicable ones not at all"
    )
    harm_incidents_users_notified: UsersNotifiedRead
    weekly: list[WeekRead] = Field(description="every ISO week of the range, oldest first, zeros included")
    slowest: list[SlowRead] = Field(description="the 10 incidents that took longest to resolve")
    since: datetime
    until: datetime
