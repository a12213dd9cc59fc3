"""The daily digest: what it says as of a moment, its identity (one per UTC day) and its time.

One line per tutor, each tutor once: a tutor with a new alert is under "new" (its other open or
resolved alerts on the same line), else with an older open alert under "still open", else with
an alert resolved since the last digest under "resolved". Snoozed alerts are counted, not listed.
Then coaching outcomes per alert kind, and the platform's week from the dashboard's trend.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce
from django.urls import reverse

from scoring.coaching import COMPARISON_DAYS, MIN_SESSIONS, coaching_outcomes, summarize
from scoring.explain import kind_why
from scoring.models import Alert
from scoring.timeseries import platform_weekly_trend
from sessions.models import Tutor

from .content import absolute_url, score_of, tutor_url
from .models import EmailReport

DIGEST_SCHEDULE_NAME = "reports.daily_digest"
# Tutor lines per section before "and N more": the text part stays under 40 lines, all full.
NEW_ROWS = 6
OPEN_ROWS = 6
RESOLVED_ROWS = 3
UNRESOLVED = (Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED)


def digest_event_key(now: datetime) -> str:
    return f"digest:{now.astimezone(UTC).date().isoformat()}"


def last_digest_time(*, before: datetime) -> datetime | None:
    """When the previous digest was queued (any recipient), or None."""
    return (
        EmailReport.objects.filter(kind=EmailReport.Kind.DIGEST, created_at__lt=before)
        .exclude(event_key=digest_event_key(before))
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def week_figures(*, now: datetime) -> dict:
    """The last 7 days against the 7 before: the last two points of the overview's weekly trend
    (the same call, so the same cached figures as the dashboard's chart)."""
    *_, previous, week = platform_weekly_trend(now=now)
    change = None if week.rate is None or previous.rate is None else week.rate - previous.rate
    return {
        "sessions": week.sessions,
        "previous_sessions": previous.sessions,
        "session_change": week.sessions - previous.sessions,
        "reschedule_rate": week.rate,
        "previous_reschedule_rate": previous.rate,
        "reschedule_rate_change": change,
    }


def age(delta: timedelta) -> str:
    """'3 h', '12 d': how long an alert has been open, in a few characters."""
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24} d" if hours >= 24 else f"{max(hours, 0)} h"


@dataclass
class TutorLine:
    tutor: Tutor
    new: list = field(default_factory=list)
    open: list = field(default_factory=list)  # unresolved, opened before the last digest, not snoozed
    resolved: list = field(default_factory=list)


def _flag(alert: Alert) -> str:
    """'reschedule rate (7 of 18 rescheduled, 30 d)': the kind and its evidence."""
    score = score_of(alert.tutor)
    evidence = score.evidence if score else {}
    # Today's evidence, while the rate is still beyond its threshold (a cleared rate says nothing).
    state = (evidence.get(alert.kind) or {}).get("state")
    why = kind_why(evidence, alert.kind) if state in ("flagged", "watching") else ""
    label = alert.get_kind_display().lower()
    return f"{label} ({why})" if why else label


def _assigned(alert: Alert) -> str:
    """Who has it: ', assigned to sam', else ', acknowledged' once someone has seen it."""
    if alert.assignee is not None:
        return f", assigned to {alert.assignee.get_username()}"
    return ", acknowledged" if alert.status == Alert.Status.ACKNOWLEDGED else ""


def line_text(line: TutorLine, *, now: datetime) -> str:
    """Everything about one tutor in one line: new flags, then open ones with their age, then
    resolutions."""
    parts = [_flag(alert) + _assigned(alert) for alert in line.new]
    parts += [
        f"{_flag(alert)}, open {age(now - alert.opened_at)}{_assigned(alert)}"
        for alert in sorted(line.open, key=lambda alert: alert.opened_at)
    ]
    for alert in line.resolved:
        outcome = f" ({alert.get_resolution_display().lower()})" if alert.resolution else ""
        parts.append(f"{alert.get_kind_display().lower()} resolved{outcome}")
    return "; ".join(parts)


def coaching_lines(*, now: datetime) -> list[str]:
    """Per alert kind someone acted on: 'after coaching, 3 of 4 tutors improved, median −9 points',
    and plainly how many had too few sessions to compare or wait for the 30 days to pass."""
    lines = []
    for summary in summarize(coaching_outcomes(now=now)):
        if not (summary.compared or summary.too_few or summary.waiting):
            continue
        if summary.compared:
            median = f"{Decimal(str(summary.median_change)).quantize(Decimal('0.1')):+}".replace("-", "−")
            tutors = f"tutor{'s' if summary.compared != 1 else ''}"
            improved = f"{summary.improved} of {summary.compared} {tutors} improved"
            said = f"after coaching, {improved}, median {median} points"
        else:
            said = "nothing to compare yet"
        if summary.too_few:
            said += (
                f"; {summary.too_few} with too few sessions to compare (under {MIN_SESSIONS} before or after)"
            )
        if summary.waiting:
            said += f"; {summary.waiting} waiting for {COMPARISON_DAYS} days to pass"
        lines.append(f"{summary.kind_label}: {said}")
    return lines


def _tutor_sections(*, since: datetime, now: datetime) -> tuple[dict, dict]:
    """({section: the first tutor ids, in its order}, the counts): each tutor in one section, and
    every count (alerts and tutors per section) in one grouped query, whatever the alerts."""
    active = Q(alerts__status__in=UNRESOLVED, alerts__opened_at__lte=now) & (
        Q(alerts__snoozed_until__isnull=True) | Q(alerts__snoozed_until__lte=now)
    )
    snoozed = Q(alerts__status__in=UNRESOLVED, alerts__opened_at__lte=now, alerts__snoozed_until__gt=now)
    resolved_since = Q(
        alerts__resolved_at__gt=since, alerts__resolved_at__lte=now, alerts__opened_at__lte=now
    )
    tutors = Tutor.objects.annotate(
        new_alerts=Count("alerts", filter=active & Q(alerts__opened_at__gt=since)),
        open_alerts=Count("alerts", filter=active),
        resolved_alerts=Count("alerts", filter=resolved_since),
        snoozed_alerts=Count("alerts", filter=snoozed),
        oldest_open=Min("alerts__opened_at", filter=active),
        last_resolved=Max("alerts__resolved_at", filter=resolved_since),
    )
    in_section = {
        "new": Q(new_alerts__gt=0),
        "still_open": Q(new_alerts=0, open_alerts__gt=0),
        "resolved": Q(open_alerts=0, resolved_alerts__gt=0),
    }
    orders: dict[str, tuple[str | Combinable, ...]] = {
        "new": (F("score__risk_score").desc(nulls_last=True), "name"),
        "still_open": ("oldest_open", "name"),
        "resolved": ("-last_resolved", "name"),
    }
    limits = {"new": NEW_ROWS, "still_open": OPEN_ROWS, "resolved": RESOLVED_ROWS}
    counts = tutors.aggregate(
        **{f"{name}_tutor_count": Count("pk", filter=condition) for name, condition in in_section.items()},
        **{
            f"{name}_alert_count": Coalesce(Sum(f"{name}_alerts"), 0)
            for name in ("new", "open", "resolved", "snoozed")
        },
    )
    ids = {
        name: list(
            tutors.filter(condition).order_by(*orders[name]).values_list("pk", flat=True)[: limits[name]]
        )
        for name, condition in in_section.items()
    }
    return ids, counts


def digest_context(*, now: datetime) -> dict:
    """The daily digest as of `now`: new since the last digest (or 24 h), still open by age,
    resolved since, snoozed (a count), coaching outcomes, and the platform's week."""
    since = last_digest_time(before=now) or now - timedelta(hours=24)
    ids, counts = _tutor_sections(since=since, now=now)
    alerts = (
        Alert.objects.filter(
            tutor_id__in=[pk for section in ids.values() for pk in section], opened_at__lte=now
        )
        .filter(
            Q(status__in=UNRESOLVED, snoozed_until__isnull=True)
            | Q(status__in=UNRESOLVED, snoozed_until__lte=now)
            | Q(resolved_at__gt=since, resolved_at__lte=now)
        )
        .select_related("tutor__score", "assignee")
        .order_by("opened_at", "kind")
    )
    lines: dict[object, TutorLine] = {}
    for alert in alerts:
        line = lines.setdefault(alert.tutor_id, TutorLine(alert.tutor))
        if alert.status == Alert.Status.RESOLVED:
            line.resolved.append(alert)
        else:
            (line.new if alert.opened_at > since else line.open).append(alert)

    def section(name: str) -> dict:
        rows = [
            {"tutor": lines[pk].tutor, "tutor_url": tutor_url(pk), "text": line_text(lines[pk], now=now)}
            for pk in ids[name]
        ]
        return {"rows": rows, "more": counts[f"{name}_tutor_count"] - len(rows)}

    return {
        "now": now,
        "date": now.date(),
        "since": since,
        "new": section("new"),
        "still_open": section("still_open"),
        "resolved": section("resolved"),
        "new_alerts_count": counts["new_alert_count"],
        "open_alerts_count": counts["open_alert_count"],
        "resolved_alerts_count": counts["resolved_alert_count"],
        "snoozed_count": counts["snoozed_alert_count"],
        "coaching": coaching_lines(now=now),
        "week": week_figures(now=now),
        "alerts_url": absolute_url(reverse("scoring:alert_list")),
        "coaching_url": absolute_url(reverse("scoring:coaching")),
        "overview_url": absolute_url(reverse("scoring:overview")),
    }


def next_digest_run(digest_time: time | str, *, now: datetime) -> datetime:
    """The next moment (UTC) at digest_time strictly after now."""
    if isinstance(digest_time, str):  # a freshly created settings row still holds its "08:00" default
        digest_time = time.fromisoformat(digest_time)
    candidate = datetime.combine(now.astimezone(UTC).date(), digest_time, tzinfo=UTC)
    return candidate if candidate > now else candidate + timedelta(days=1)
