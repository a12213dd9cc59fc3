"""The daily digest: what it says as of a moment, its identity (one per UTC day) and its time."""

from datetime import UTC, datetime, time, timedelta

from django.db.models import Count, Q
from django.urls import reverse

from scoring.engine import percentage
from scoring.models import Alert, TutorScore
from sessions.models import COUNTED_STATUSES, Session

from .content import absolute_url, tutor_url
from .models import EmailReport

DIGEST_SCHEDULE_NAME = "reports.daily_digest"
DIGEST_TOP_TUTORS = 10
DIGEST_ALERT_ROWS = 20


def digest_event_key(now: datetime) -> str:
    return f"digest:{now.astimezone(UTC).date().isoformat()}"


def week_comparison(*, now):
    """Sessions and tutor reschedule rate for the last 7 days against the 7 days before.

    Same window rule as the scores (SPEC §5): now − 7 d < scheduled_time ≤ now, sessions that
    happened only (completed, rescheduled, no-show).
    """
    week_start, previous_start = now - timedelta(days=7), now - timedelta(days=14)
    this_week = Q(scheduled_time__gt=week_start)
    previous_week = Q(scheduled_time__lte=week_start)
    tutor_reschedule = Q(status=Session.Status.RESCHEDULED, reschedule__initiator="tutor")
    figures = Session.objects.filter(
        scheduled_time__gt=previous_start, scheduled_time__lte=now, status__in=COUNTED_STATUSES
    ).aggregate(
        sessions=Count("pk", filter=this_week),
        previous_sessions=Count("pk", filter=previous_week),
        tutor_reschedules=Count("pk", filter=this_week & tutor_reschedule),
        previous_tutor_reschedules=Count("pk", filter=previous_week & tutor_reschedule),
    )
    rate = percentage(figures["tutor_reschedules"], figures["sessions"])
    previous_rate = percentage(figures["previous_tutor_reschedules"], figures["previous_sessions"])
    return {
        **figures,
        "session_change": figures["sessions"] - figures["previous_sessions"],
        "reschedule_rate": rate,
        "previous_reschedule_rate": previous_rate,
        "reschedule_rate_change": None if rate is None or previous_rate is None else rate - previous_rate,
    }


def last_digest_time(*, before: datetime) -> datetime | None:
    """When the previous digest was queued (any recipient), or None."""
    return (
        EmailReport.objects.filter(kind=EmailReport.Kind.DIGEST, created_at__lt=before)
        .exclude(event_key=digest_event_key(before))
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def digest_context(*, now: datetime) -> dict:
    """The daily digest's figures as of `now`: new alerts since the last digest (or 24 h), open
    alerts, the most at-risk tutors, and this week against the last."""
    since = last_digest_time(before=now) or now - timedelta(hours=24)
    new_alerts = Alert.objects.filter(opened_at__gt=since, opened_at__lte=now).select_related("tutor")
    open_alerts = Alert.objects.exclude(status=Alert.Status.RESOLVED).filter(opened_at__lte=now)
    at_risk = (
        TutorScore.objects.filter(tutor__is_active=True)
        .exclude(risk_level="low")
        .select_related("tutor")
        .order_by("-risk_score", "tutor__name")[:DIGEST_TOP_TUTORS]
    )
    new_alert_list = list(new_alerts.order_by("-opened_at")[:DIGEST_ALERT_ROWS])
    open_alert_list = list(open_alerts.select_related("tutor").order_by("-opened_at")[:DIGEST_ALERT_ROWS])
    new_alerts_count, open_alerts_count = new_alerts.count(), open_alerts.count()
    return {
        "now": now,
        "date": now.date(),
        "since": since,
        "new_alerts": new_alert_list,
        "new_alerts_count": new_alerts_count,
        "new_alerts_more": new_alerts_count - len(new_alert_list),
        "open_alerts": open_alert_list,
        "open_alerts_count": open_alerts_count,
        "open_alerts_more": open_alerts_count - len(open_alert_list),
        "at_risk": [
            {"score": score, "tutor": score.tutor, "tutor_url": tutor_url(score.tutor_id)}
            for score in at_risk
        ],
        "week": week_comparison(now=now),
        "overview_url": absolute_url(reverse("scoring:overview")),
    }


def next_digest_run(digest_time: time | str, *, now: datetime) -> datetime:
    """The next moment (UTC) at digest_time strictly after now."""
    if isinstance(digest_time, str):  # a freshly created settings row still holds its "08:00" default
        digest_time = time.fromisoformat(digest_time)
    candidate = datetime.combine(now.astimezone(UTC).date(), digest_time, tzinfo=UTC)
    return candidate if candidate > now else candidate + timedelta(days=1)
