"""Read-side queries of the dashboard: each page asks a constant number of questions.

Functions that depend on the time take `now=` so tests pin it; none loops over rows with a query
inside.
"""

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.db.models import Avg, Count, F, Min, Model, Prefetch, Q, QuerySet

from sessions.models import Reschedule, Session, Tutor

from .models import Alert, AlertEvent, RiskLevel, ScoringSettings, TutorScore, TutorScoreHistory
from .rates import WINDOWS

UNRESOLVED = (Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED)


def stale_tutors_q() -> Q:
    """Tutors whose sessions changed since their score (or who were never scored)."""
    return Q(sessions_changed_at__isnull=False) & (
        Q(score__isnull=True) | Q(sessions_version__gt=F("score__sessions_version"))
    )


# --- Overview ---------------------------------------------------------------------------------


def overview_stats(*, now: datetime) -> dict[str, Any]:
    """The overview cards and the risk distribution: three aggregate queries."""
    tutor_stats = Tutor.objects.aggregate(
        active_tutors=Count("pk", filter=Q(is_active=True)),
        high_risk_tutors=Count("pk", filter=Q(is_active=True, score__is_high_risk=True)),
        average_rate_30d=Avg("score__reschedule_rate_30d", filter=Q(is_active=True)),
        oldest_unscored_change=Min("sessions_changed_at", filter=stale_tutors_q()),
        stale_tutors=Count("pk", filter=stale_tutors_q()),
        low=Count("pk", filter=Q(is_active=True, score__risk_level=RiskLevel.LOW)),
        medium=Count("pk", filter=Q(is_active=True, score__risk_level=RiskLevel.MEDIUM)),
        high=Count("pk", filter=Q(is_active=True, score__risk_level=RiskLevel.HIGH)),
        inactive=Count("pk", filter=Q(is_active=True, score__risk_level=RiskLevel.INACTIVE)),
        watching_tutors=Count("pk", filter=Q(is_active=True, score__is_watching=True)),
        unscored=Count("pk", filter=Q(is_active=True, score__isnull=True)),
    )
    sessions_last_24h = Session.objects.filter(
        scheduled_time__gt=now - timedelta(hours=24), scheduled_time__lte=now
    ).count()
    open_alerts = Alert.objects.filter(status__in=UNRESOLVED).exclude(snoozed_until__gt=now).count()

    average = tutor_stats["average_rate_30d"]
    oldest = tutor_stats["oldest_unscored_change"]
    return {
        "active_tutors": tutor_stats["active_tutors"],
        "high_risk_tutors": tutor_stats["high_risk_tutors"],
        "watching_tutors": tutor_stats["watching_tutors"],
        "average_rate_30d": None
        if average is None
        else Decimal(average).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        "sessions_last_24h": sessions_last_24h,
        "open_alerts": open_alerts,
        "stale_tutors": tutor_stats["stale_tutors"],
        # A change dated in the future (clock skew) is not a negative lag.
        "processing_lag": None if oldest is None else max(now - oldest, timedelta(0)),
        "risk_distribution": [
            ("High", tutor_stats["high"], "high"),
            ("Medium", tutor_stats["medium"], "medium"),
            ("Low", tutor_stats["low"], "low"),
            ("Inactive", tutor_stats["inactive"], "inactive"),
            ("Not scored", tutor_stats["unscored"], "none"),
        ],
    }


def most_at_risk(*, limit: int = 10) -> list[TutorScore]:
    return list(
        TutorScore.objects.filter(tutor__is_active=True, risk_score__gt=0)
        .select_related("tutor")
        .order_by("-risk_score", F("reschedule_rate_30d").desc(nulls_last=True), "tutor__name")[:limit]
    )


def recent_alerts(*, limit: int = 8) -> list[Alert]:
    return list(Alert.objects.select_related("tutor", "tutor__score").order_by("-opened_at")[:limit])


# --- Tutor list -------------------------------------------------------------------------------

SORTS = {
    # key: (label, default direction)
    "risk": ("Risk score", "desc"),
    "rate": ("Reschedule rate", "desc"),
    "sessions": ("Sessions", "desc"),
    "name": ("Name", "asc"),
}


def tutor_list(
    *,
    search: str = "",
    risk: str = "",
    window: int = 30,
    sort: str = "risk",
    order: str | None = None,
    active: bool | None = None,
) -> QuerySet[Tutor]:
    """Tutors with their score (LEFT JOIN: unscored tutors are listed too), filtered and sorted:
    the dashboard's list and the API's. `risk`: a risk level, "none" (never scored) or "" (any);
    `active`: None lists everyone, True/False only active/inactive tutors."""
    queryset = Tutor.objects.select_related("score")
    if active is not None:
        queryset = queryset.filter(is_active=active)
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(email__icontains=search))
    if risk == "none":
        queryset = queryset.filter(score__isnull=True)
    elif risk:
        queryset = queryset.filter(score__risk_level=risk)

    order = order or SORTS[sort][1]
    field = {
        "risk": "score__risk_score",
        "rate": f"score__reschedule_rate_{window}d",
        "sessions": f"score__total_sessions_{window}d",
        "name": "name",
    }[sort]
    primary = F(field).desc(nulls_last=True) if order == "desc" else F(field).asc(nulls_last=True)
    # name then id make the order total, so pages never overlap.
    return queryset.order_by(primary, "name", "id")


def page_of(tutors: QuerySet[Tutor], start: int, stop: int) -> QuerySet[Tutor]:
    """Rows start:stop of a tutor_list(), in its order, in one query. The page is chosen on the
    ids and sort keys alone (an index-only scan of scores_list_keys_idx), and only its rows are
    read whole: sorting every tutor with its full score row took 28 ms at 10,000 tutors, this
    5.5–13 ms."""
    return tutors.filter(pk__in=tutors.values("pk")[start:stop])


class TutorPaginator(Paginator):
    """A Paginator over a tutor_list() that reads each page through page_of(). It overrides page()
    rather than the _get_page() hook: that hook gets Django's slice, a plain list once the
    queryset has been evaluated."""

    def __init__(self, tutors: QuerySet[Tutor], per_page: int, **options: Any) -> None:
        super().__init__(tutors, per_page, **options)
        self.tutors = tutors

    def page(self, number: int | str) -> Page:
        number = self.validate_number(number)
        start = (number - 1) * self.per_page
        stop = start + self.per_page
        if stop + self.orphans >= self.count:
            stop = self.count
        return Page(page_of(self.tutors, start, stop), number, self)


# --- Tutor detail -----------------------------------------------------------------------------


def tutor_with_score(tutor_id: uuid.UUID) -> Tutor:
    """The tutor and its score in one query (raises Tutor.DoesNotExist)."""
    return Tutor.objects.select_related("score").get(pk=tutor_id)


def thresholds_for(tutor: Tutor) -> dict[str, Decimal | int]:
    """The thresholds the tutor's score was judged against, or the current settings if unscored."""
    score = getattr(tutor, "score", None)
    if score is not None:
        return {
            "reschedule": score.reschedule_rate_threshold,
            "no_show": score.no_show_rate_threshold,
            "first_session": score.first_session_retention_threshold,
            "minimum_sessions": score.minimum_sessions,
        }
    current = ScoringSettings.load()
    return {
        "reschedule": current.reschedule_rate_threshold,
        "no_show": current.no_show_rate_threshold,
        "first_session": current.first_session_retention_threshold,
        "minimum_sessions": current.minimum_sessions,
    }


def window_cards(tutor: Tutor) -> list[dict[str, Any]]:
    """One card per window: sessions, tutor reschedules, rate (None when unscored)."""
    score = getattr(tutor, "score", None)
    return [
        {
            "days": days,
            "sessions": getattr(score, f"total_sessions_{days}d", None),
            "tutor_reschedules": getattr(score, f"tutor_reschedules_{days}d", None),
            "rate": getattr(score, f"reschedule_rate_{days}d", None),
        }
        for days in WINDOWS
    ]


def score_history(tutor: Tutor, *, start: date, end: date, fields: Sequence[str]) -> list[dict[str, Any]]:
    """The tutor's daily snapshots from start to end (dates, inclusive), oldest first: one query."""
    return list(
        TutorScoreHistory.objects.filter(tutor=tutor, date__range=(start, end))
        .order_by("date")
        .values("date", *fields)
    )


# Alert events drawn on the tutor's chart: an alert opening or closing, and what a coach did.
CHART_EVENT_ACTIONS = (
    AlertEvent.Action.OPENED,
    AlertEvent.Action.RESOLVED,
    AlertEvent.Action.ACKNOWLEDGED,
    AlertEvent.Action.NOTE,
)


def chart_events(tutor: Tutor, *, start: date, end: date) -> list[AlertEvent]:
    """The tutor's alert events on the UTC days start…end, oldest first: one query."""
    return list(
        AlertEvent.objects.filter(
            alert__tutor=tutor,
            action__in=CHART_EVENT_ACTIONS,
            created_at__gte=datetime.combine(start, time.min, tzinfo=UTC),
            created_at__lt=datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
        )
        .select_related("alert", "actor")
        .order_by("created_at")
    )


def snapshot_scores(
    tutor_ids: Iterable[uuid.UUID], *, days: Iterable[date]
) -> dict[uuid.UUID, dict[date, Decimal]]:
    """{tutor_id: {date: risk score}} of the given tutors on the given days: one query for a page."""
    found: dict[uuid.UUID, dict[date, Decimal]] = {}
    rows = TutorScoreHistory.objects.filter(tutor_id__in=tutor_ids, date__in=days).values_list(
        "tutor_id", "date", "risk_score"
    )
    for tutor_id, day, risk_score in rows:
        found.setdefault(tutor_id, {})[day] = risk_score
    return found


def recent_reschedules(tutor: Tutor, *, limit: int = 10) -> list[Reschedule]:
    return list(
        Reschedule.objects.filter(session__tutor=tutor)
        .select_related("session")
        .order_by("-original_time")[:limit]
    )


def session_history(tutor: Tutor) -> QuerySet[Session]:
    return Session.objects.filter(tutor=tutor).select_related("reschedule").order_by("-scheduled_time", "id")


def alerts_with_events(queryset: QuerySet[Alert]) -> QuerySet[Alert]:
    """Alerts with their people and their event trail (two queries whatever the count)."""
    return queryset.select_related("tutor", "tutor__score", "assignee", "acknowledged_by").prefetch_related(
        Prefetch("events", queryset=AlertEvent.objects.select_related("actor").order_by("created_at"))
    )


def tutor_alerts(tutor: Tutor) -> list[Alert]:
    return list(alerts_with_events(Alert.objects.filter(tutor=tutor).order_by("-opened_at")))


def emails_about(tutor: Tutor, *, limit: int = 10) -> list[Model]:
    """Mails sent about this tutor (its own, and alert mails listing one of its alerts), through
    the reverse relation the reports app declares."""
    manager = getattr(tutor, "email_reports", None)
    if manager is None:  # the reports app is not installed
        return []
    fields = ("created_at", "kind", "recipient_email", "subject", "status", "error_message")
    mails = manager.model.objects.about_tutor(tutor)
    return list(mails.only(*fields).order_by("-created_at")[:limit])


def alert_assignees() -> QuerySet[User]:
    """Who an alert can be assigned to: active staff who may act on alerts, through a role, their
    own permissions or as superusers (a queryset, for the assign form too)."""
    can_act = {"codename": "act_on_alert", "content_type__app_label": "scoring"}
    return (
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(**{f"groups__permissions__{key}": value for key, value in can_act.items()})
            | Q(**{f"user_permissions__{key}": value for key, value in can_act.items()})
        )
        .distinct()
        .order_by("username")
    )


# --- Alert queue ------------------------------------------------------------------------------

ALERT_SORTS = {"newest": "Newest first", "severity": "Most severe first"}
# "To handle" is the default view: unresolved and not snoozed.
ALERT_STATUS_FILTERS = {"": "To handle", "open": "Open", "acknowledged": "Acknowledged", "snoozed": "Snoozed"}
ALERT_AGES = {
    "": "Any time",
    "day": "In the last day",
    "week": "In the last week",
    "older": "Over a week ago",
}


def queue_alerts(
    *, now: datetime, kind: str = "", status: str = "", assignee: int | str = "", age: str = ""
) -> QuerySet[Alert]:
    """Unresolved alerts matching the queue's filters, a plain queryset (bulk actions lock it).

    A snoozed alert (snoozed_until after `now`) shows only under "snoozed" and is back in the
    other views once `now` passes its date. `assignee`: a user id, "none", or "" for anyone.
    """
    snoozed = Q(snoozed_until__gt=now)
    queryset = Alert.objects.filter(status__in=UNRESOLVED)
    if status == "snoozed":
        queryset = queryset.filter(snoozed)
    else:
        queryset = queryset.exclude(snoozed)
        if status:
            queryset = queryset.filter(status=status)
    if kind:
        queryset = queryset.filter(kind=kind)
    if assignee == "none":
        queryset = queryset.filter(assignee__isnull=True)
    elif assignee:
        # A filter form's id arrives as text; the lookup converts it as it does any query value.
        queryset = queryset.filter(assignee_id=assignee)  # type: ignore[misc]
    if age == "day":
        queryset = queryset.filter(opened_at__gt=now - timedelta(days=1))
    elif age == "week":
        queryset = queryset.filter(opened_at__gt=now - timedelta(days=7))
    elif age == "older":
        queryset = queryset.filter(opened_at__lte=now - timedelta(days=7))
    return queryset


def alert_queue(queryset: QuerySet[Alert], *, sort: str = "newest") -> QuerySet[Alert]:
    """The queue's page rows: `queryset` (from queue_alerts) sorted, with people and history;
    "severity" puts the riskiest tutors first."""
    if sort == "severity":
        queryset = queryset.order_by(F("tutor__score__risk_score").desc(nulls_last=True), "-opened_at", "id")
    else:
        queryset = queryset.order_by("-opened_at", "id")
    return alerts_with_events(queryset)


def not_a_problem_counts(*, now: datetime, days: int = 90) -> list[tuple[str, int]]:
    """(kind label, count) of alerts resolved as "not a problem" in the last `days`, every kind
    listed: the flags people judged false alarms, for whoever tunes the thresholds."""
    counts = dict(
        Alert.objects.filter(
            resolution=Alert.Resolution.NOT_A_PROBLEM, resolved_at__gt=now - timedelta(days=days)
        )
        .values_list("kind")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return [(label, counts.get(kind, 0)) for kind, label in Alert.Kind.choices]
