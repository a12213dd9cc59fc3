"""Rates over time: the one implementation of counted sessions, tutor reschedules and tutor
no-shows per period (SPEC §5's counting rules), in one query whatever the number of periods.

The overview's platform trend, the tutor page's rolling rates and the API's weekly trend are
each a list of periods handed to `period_counts`.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.models import Count, IntegerField, Q, QuerySet
from django.db.models.expressions import RawSQL

from sessions.models import COUNTED_STATUSES, Reschedule, Session, Tutor

from .rates import WINDOWS
from .rates import percentage as percent  # the engine's rounding, so a chart matches the stored rates

TREND_WEEKS = 12

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrendPoint:
    """Counted sessions in one period (start < scheduled_time ≤ end, or start ≤ … < end for
    calendar periods: see period_counts)."""

    start: datetime
    end: datetime
    sessions: int
    tutor_reschedules: int
    tutor_no_shows: int = 0

    @property
    def rate(self) -> Decimal | None:
        """The tutor reschedule rate, in percent (None without sessions)."""
        return percent(self.tutor_reschedules, self.sessions)


def period_counts(
    sessions: QuerySet, periods: list[tuple[datetime, datetime]], *, calendar: bool = False
) -> list[TrendPoint]:
    """Counted sessions of `sessions`, its tutor reschedules and tutor no-shows in each period:
    the one implementation of rates over time (platform trend, rolling rates, the API's weeks).

    A period (start, end) holds start < scheduled_time ≤ end, the window rule of SPEC §5;
    `calendar` periods (ISO weeks) hold start ≤ scheduled_time < end instead. Periods may overlap.

    One grouped query whatever the number of periods: the sessions are counted per stretch
    between consecutive period bounds, and each period sums its stretches. (A filtered count per
    period instead cost ~0.3 ms of ORM time each: 39 for the rolling rates.)
    """
    bounds = sorted({moment for period in periods for moment in period})
    after, until = ("gte", "lt") if calendar else ("gt", "lte")
    counted = sessions.filter(
        status__in=COUNTED_STATUSES,
        **{f"scheduled_time__{after}": bounds[0], f"scheduled_time__{until}": bounds[-1]},
    )
    adapt = connections[counted.db].ops.adapt_datetimefield_value
    # Stretch i lies between bounds[i] and bounds[i + 1] (same rule at each end as the periods).
    whens = " ".join(
        f"WHEN scheduled_time {'<' if calendar else '<='} %s THEN {index}" for index in range(len(bounds) - 1)
    )
    stretch = RawSQL(
        f"CASE {whens} END", [adapt(moment) for moment in bounds[1:]], output_field=IntegerField()
    )

    def per_stretch(queryset, **counts):
        rows = queryset.annotate(stretch=stretch).values("stretch").annotate(**counts).order_by()
        return {row.pop("stretch"): row for row in rows}

    totals = per_stretch(
        counted,
        sessions=Count("pk"),
        tutor_reschedules=Count(
            "pk",
            filter=Q(status=Session.Status.RESCHEDULED, reschedule_initiator=Reschedule.Initiator.TUTOR),
        ),
        tutor_no_shows=Count(
            "pk", filter=Q(status=Session.Status.NO_SHOW, no_show_by=Session.NoShowBy.TUTOR)
        ),
    )
    position = {moment: index for index, moment in enumerate(bounds)}

    def total(counts, name, start, end):
        return sum(counts.get(index, {}).get(name, 0) for index in range(position[start], position[end]))

    return [
        TrendPoint(
            start,
            end,
            sessions=total(totals, "sessions", start, end),
            tutor_reschedules=total(totals, "tutor_reschedules", start, end),
            tutor_no_shows=total(totals, "tutor_no_shows", start, end),
        )
        for start, end in periods
    ]


def platform_weekly_trend(*, now: datetime, weeks: int = TREND_WEEKS) -> list[TrendPoint]:
    """Platform-wide tutor reschedule rate for each of the last `weeks` 7-day periods, oldest first.

    Week k holds sessions with end − 7(k+1) days < scheduled_time ≤ end − 7k days (the counting
    rules of SPEC §5). The scan covers most of the sessions table (~0.3 s at a million sessions),
    so the weeks end at the start of the current cache period (DASHBOARD_TREND_CACHE_SECONDS,
    default 300 s): every request and worker in that period shares one result.
    """
    period = settings.DASHBOARD_TREND_CACHE_SECONDS
    if not period:
        return _weekly_trend(end=now, weeks=weeks)
    end = datetime.fromtimestamp(now.timestamp() // period * period, tz=UTC)
    # v2: the points moved to scoring.timeseries; the previous release's entries would not unpickle.
    key = f"dashboard:weekly-trend:v2:{weeks}:{end.isoformat()}"
    try:
        points = cache.get(key)
    except Exception:  # a shared cache (Redis) that is down must not take the overview with it
        logger.warning("cache unavailable; computing the weekly trend directly", exc_info=True)
        return _weekly_trend(end=end, weeks=weeks)
    if points is None:
        points = _weekly_trend(end=end, weeks=weeks)
        cache.set(key, points, period * 2)
    return points


def _weekly_trend(*, end, weeks):
    bounds = [(end - timedelta(days=7 * (k + 1)), end - timedelta(days=7 * k)) for k in range(weeks)]
    return period_counts(Session.objects.all(), bounds[::-1])  # oldest first, for the chart


def rolling_rates(tutor: Tutor, *, now: datetime, weeks: int = TREND_WEEKS) -> dict[int, list]:
    """{days: [(point, rate, sessions)]}: rolling 7/30/90-day tutor reschedule rates at weekly
    points, oldest first, ending at now, with the sessions behind each rate (one query)."""
    points = [now - timedelta(days=7 * k) for k in range(weeks, -1, -1)]
    periods = [(point - timedelta(days=days), point) for point in points for days in WINDOWS]
    series: dict[int, list] = {days: [] for days in WINDOWS}
    for counts in period_counts(Session.objects.filter(tutor=tutor), periods):
        series[(counts.end - counts.start).days].append((counts.end, counts.rate, counts.sessions))
    return series


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the week holding `moment`."""
    day = moment.astimezone(UTC).date()
    return datetime.combine(day - timedelta(days=day.weekday()), time.min, tzinfo=UTC)


def tutor_weekly_trend(tutor_id, *, now: datetime, weeks: int = TREND_WEEKS) -> list[TrendPoint]:
    """The tutor's counts per ISO week (Monday 00:00 UTC onwards), the last `weeks` weeks up to
    `now`, oldest first (one query)."""
    first = week_start(now) - timedelta(weeks=weeks - 1)
    weeks_bounds = [(first + timedelta(weeks=k), first + timedelta(weeks=k + 1)) for k in range(weeks)]
    sessions = Session.objects.filter(tutor_id=tutor_id, scheduled_time__lte=now)
    return period_counts(sessions, weeks_bounds, calendar=True)
