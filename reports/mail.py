"""Build and send TutorScore's mails: per-session reports, alert mails and the daily digest.

Every message to every recipient is one EmailReport row, created idempotently on the unique
(kind, event_key, recipient_email) key, then claimed by one worker with a conditional UPDATE
before it talks to the provider — so a retried task or a re-processed session never mails the
same recipient twice for the same event. The rows are the outbox: reports/outbox.py sends them.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from time import monotonic

from anymail.exceptions import AnymailRecipientsRefused
from django.conf import settings
from django.core import mail
from django.db.models import Count, F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from scoring.models import Alert, ScoringSettings, TutorScore
from scoring.rates import percentage
from sessions.models import Reschedule, Session

from .models import EmailReport, sending_lease

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 60  # 1 min, 4 min, 16 min, 64 min between the five attempts
DIGEST_SCHEDULE_NAME = "reports.daily_digest"
DIGEST_TOP_TUTORS = 10
DIGEST_ALERT_ROWS = 20
ALERT_MAIL_ROWS = 50  # a summary after a full recompute lists this many, then "and N more"
# Sessions that have not happened yet are not worth a report (SPEC §5: they count nowhere).
REPORTED_SESSION_STATUSES = [Session.Status.COMPLETED, Session.Status.RESCHEDULED, Session.Status.NO_SHOW]
# Anymail per-recipient statuses that mean the provider refused the message outright.
REFUSED_STATUSES = {"rejected", "invalid", "failed"}

Kind = EmailReport.Kind
Status = EmailReport.Status


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


# --------------------------------------------------------------------------- building


def absolute_url(path):
    """A link that works from an inbox: SITE_URL + path."""
    return f"{settings.SITE_URL}{path}"


def tutor_url(tutor_id):
    return absolute_url(reverse("scoring:tutor_detail", args=[tutor_id]))


def _mail_context(kind, context):
    return {"site_url": settings.SITE_URL, "kind": kind, **context}


def render_subject(kind, context):
    """Only the subject line, one line whatever the template's whitespace (the log shows it
    before the mail is built and sent)."""
    subject = render_to_string(f"reports/email/{kind}.subject.txt", _mail_context(kind, context))
    return " ".join(subject.split())[:255]


def render_mail(kind, context):
    """Subject, text and HTML parts of one kind of mail, from templates/reports/email/<kind>.*."""
    context = _mail_context(kind, context)
    return RenderedMail(
        subject=render_subject(kind, context),
        text=render_to_string(f"reports/email/{kind}.txt", context).strip() + "\n",
        html=render_to_string(f"reports/email/{kind}.html", context),
    )


def sentences(items):
    """Reasons/recommendations as plain strings, whether stored as strings or {"text": ...} dicts."""
    result = []
    for item in items or []:
        if isinstance(item, dict):
            item = item.get("text") or item.get("message") or item.get("reason") or ""
        if str(item).strip():
            result.append(str(item).strip())
    return result


def score_context(score):
    """The tutor's current figures as the mail templates show them (None when not scored yet)."""
    if score is None:
        return None
    return {
        "score": score,
        "windows": [
            {
                "label": f"{days} days",
                "sessions": getattr(score, f"total_sessions_{days}d"),
                "tutor_reschedules": getattr(score, f"tutor_reschedules_{days}d"),
                "rate": getattr(score, f"reschedule_rate_{days}d"),
            }
            for days in (7, 30, 90)
        ],
        "reasons": sentences(score.reasons),
        "recommendations": sentences(score.recommendations),
    }


def _score_of(tutor):
    try:
        return tutor.score
    except TutorScore.DoesNotExist:
        return None


def session_report_context(session):
    """Everything the per-session report shows: the session, its tutor's figures and the link."""
    tutor = session.tutor
    reschedule = None
    if session.status == Session.Status.RESCHEDULED:
        try:
            reschedule = session.reschedule
        except Reschedule.DoesNotExist:
            reschedule = None
    return {
        "session": session,
        "reschedule": reschedule,
        "tutor": tutor,
        "scored": score_context(_score_of(tutor)),
        "tutor_url": tutor_url(tutor.pk),
    }


def alert_context(alerts):
    """One alert mail about every alert of a batch: the first in full (the tutor's figures), the
    others one line each, at most ALERT_MAIL_ROWS of them."""
    alerts = sorted(alerts, key=lambda alert: (alert.opened_at, alert.tutor.name, alert.kind))
    first = alerts[0]
    return {
        "alert": first,
        "tutor": first.tutor,
        "scored": score_context(_score_of(first.tutor)),
        "tutor_url": tutor_url(first.tutor_id),
        "alert_url": absolute_url(first.get_absolute_url()),
        "alerts": [
            {"alert": alert, "tutor": alert.tutor, "url": absolute_url(alert.get_absolute_url())}
            for alert in alerts[:ALERT_MAIL_ROWS]
        ],
        "alerts_count": len(alerts),
        "alerts_more": max(len(alerts) - ALERT_MAIL_ROWS, 0),
        "tutors_count": len({alert.tutor_id for alert in alerts}),
        "alerts_url": absolute_url(reverse("scoring:alert_list")),
    }


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
        scheduled_time__gt=previous_start, scheduled_time__lte=now, status__in=REPORTED_SESSION_STATUSES
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


def last_digest_time(*, before):
    """When the previous digest was queued (any recipient), or None."""
    return (
        EmailReport.objects.filter(kind=Kind.DIGEST, created_at__lt=before)
        .exclude(event_key=digest_event_key(before))
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def digest_context(*, now):
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


def render_report(report):
    """Render the message for one EmailReport row from the data it points at (fresh each time)."""
    if report.kind == Kind.SESSION_REPORT:
        if report.session is None:
            raise LookupError("The session of this report no longer exists.")
        return render_mail(report.kind, session_report_context(report.session))
    if report.kind == Kind.ALERT:
        alerts = list(report.alerts.select_related("tutor__score")) or [
            alert
            for alert in [report.alert]
            if alert is not None  # rows from before batching
        ]
        if not alerts:
            raise LookupError("The alerts of this mail no longer exist.")
        return render_mail(report.kind, alert_context(alerts))
    # A digest always shows the figures as of when it was queued, however late a retry runs.
    return render_mail(report.kind, digest_context(now=report.created_at))


# --------------------------------------------------------------------------- queueing


def session_event_key(session):
    return f"session:{session.pk}:{session.status}"


def alert_batch_event_key(alerts):
    """One batch of alerts: named after its first alert, which no other batch can hold."""
    return f"alerts:{min(str(alert.pk) for alert in alerts)}"


def digest_event_key(now):
    return f"digest:{now.astimezone(UTC).date().isoformat()}"


def wants_session_report(score, *, scoring_settings):
    """Mode `all`: every session; `flagged` (default): only when the tutor's score is high risk."""
    mode = scoring_settings.session_report_mode
    if mode == ScoringSettings.ReportMode.OFF or not scoring_settings.recipients:
        return False
    if mode == ScoringSettings.ReportMode.ALL:
        return True
    return bool(score and score.is_high_risk)


def queue_reports(kind, event_key, recipients, *, subject, now, session=None, tutor=None, alert=None):
    """Create one pending row per recipient (existing rows are left alone); return the ids of the
    rows for this event that still wait to be sent."""
    EmailReport.objects.bulk_create(
        [
            EmailReport(
                kind=kind,
                event_key=event_key,
                recipient_email=recipient,
                subject=subject,
                session=session,
                tutor=tutor,
                alert=alert,
                created_at=now,
            )
            for recipient in recipients
        ],
        ignore_conflicts=True,
    )
    return list(
        EmailReport.objects.filter(
            kind=kind, event_key=event_key, recipient_email__in=recipients, status=Status.PENDING
        ).values_list("pk", flat=True)
    )


def queue_session_reports(sessions, *, scores, now=None, scoring_settings=None):
    """Queue the per-session report of each session (already judged wanted) for every recipient,
    skipping the events that have rows: one query, then one INSERT for the new ones. Returns how
    many rows were created."""
    now = now or timezone.now()
    recipients = (scoring_settings or ScoringSettings.load()).recipients
    by_key = {session_event_key(session): session for session in sessions}
    queued = set(
        EmailReport.objects.filter(kind=Kind.SESSION_REPORT, event_key__in=list(by_key)).values_list(
            "event_key", flat=True
        )
    )
    rows = []
    for key, session in by_key.items():
        if key in queued:
            continue
        context = {
            "session": session,
            "tutor": session.tutor,
            "scored": score_context(scores[session.tutor_id]),
        }
        subject = render_subject(Kind.SESSION_REPORT, context)
        rows += [
            EmailReport(
                kind=Kind.SESSION_REPORT,
                event_key=key,
                recipient_email=recipient,
                subject=subject,
                session=session,
                tutor=session.tutor,
                created_at=now,
            )
            for recipient in recipients
        ]
    EmailReport.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def queue_session_report(session, *, score=None, now=None, scoring_settings=None):
    """Queue the per-session report for every recipient when the mode asks for it, judged on
    `score` (default: the tutor's stored score); returns the ids of its rows still to send."""
    scoring_settings = scoring_settings or ScoringSettings.load()
    score = score or _score_of(session.tutor)
    if session.status not in REPORTED_SESSION_STATUSES:
        return []
    if not wants_session_report(score, scoring_settings=scoring_settings):
        return []
    queue_session_reports(
        [session], scores={session.tutor_id: score}, now=now, scoring_settings=scoring_settings
    )
    return list(
        EmailReport.objects.filter(
            kind=Kind.SESSION_REPORT, event_key=session_event_key(session), status=Status.PENDING
        ).values_list("pk", flat=True)
    )


def queue_digest(*, now=None, scoring_settings=None):
    """Queue today's digest (one per UTC day) for every recipient."""
    now = now or timezone.now()
    recipients = (scoring_settings or ScoringSettings.load()).recipients
    if not recipients:
        return []
    rendered = render_mail(Kind.DIGEST, digest_context(now=now))
    return queue_reports(Kind.DIGEST, digest_event_key(now), recipients, subject=rendered.subject, now=now)


# --------------------------------------------------------------------------- sending


def claim(report_id, *, now):
    """Atomically take a pending/failed row for sending; False when another worker has it or it went."""
    return bool(
        EmailReport.objects.filter(pk=report_id, status__in=[Status.PENDING, Status.FAILED]).update(
            status=Status.SENDING, attempts=F("attempts") + 1, claimed_at=now, next_attempt_at=None
        )
    )


def build_message(report, rendered):
    message = mail.EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[report.recipient_email],
    )
    message.attach_alternative(rendered.html, "text/html")
    # Anymail extras (ignored by Django's own backends): ESP-side grouping and a way back to the row.
    message.tags = [report.kind]
    message.metadata = {"report_id": str(report.pk), "event_key": report.event_key}
    return message


def provider_message_id(message):
    """The ESP's id for the message (anymail backends only; Django's backends have none)."""
    status = getattr(message, "anymail_status", None)
    message_id = getattr(status, "message_id", None)
    if message_id is None or isinstance(message_id, set):
        return ""
    return str(message_id)


def refused_status(message):
    """An anymail per-recipient status that means the provider refused the message, else None."""
    status = getattr(message, "anymail_status", None)
    refused = (getattr(status, "status", None) or set()) & REFUSED_STATUSES
    return ", ".join(sorted(refused)) or None


def retry_delay(attempts):
    """Exponential backoff: 1, 4, 16, 64 minutes after the 1st, 2nd, 3rd, 4th failed attempt."""
    return timedelta(seconds=RETRY_BASE_SECONDS * 4 ** (attempts - 1))


def _fail(report, error, *, now, retry):
    will_retry = retry and report.attempts < MAX_ATTEMPTS
    report.status, report.error_message = Status.FAILED, error[:2000]
    # The outbox tries it again after the backoff; null: given up (resend by hand).
    report.next_attempt_at = now + retry_delay(report.attempts) if will_retry else None
    EmailReport.objects.filter(pk=report.pk).update(
        status=Status.FAILED, error_message=report.error_message, next_attempt_at=report.next_attempt_at
    )
    logger.warning(
        "email %s kind=%s event=%s to=%s failed (attempt %s%s): %s",
        report.pk,
        report.kind,
        report.event_key,
        report.recipient_email,
        report.attempts,
        ", will retry" if will_retry else ", giving up",
        error,
    )


def deliver_reports(report_ids, *, now=None, deadline=None):
    """Send each row that is still pending or failed, at most once at a time; returns how many went.

    `deadline` (a time.monotonic() value): stop claiming rows after it, leaving them pending for
    the next outbox run, so one run never outlasts its task timeout behind a slow provider.
    """
    now = now or timezone.now()
    reports = (
        EmailReport.objects.filter(pk__in=list(report_ids), status__in=[Status.PENDING, Status.FAILED])
        .select_related("session__tutor__score", "session__reschedule", "alert__tutor__score", "tutor")
        .order_by("created_at", "recipient_email")
    )
    rendered_by_event = {}  # every recipient of one event gets the same message: render it once
    connection = None
    sent = 0
    for report in reports:
        if deadline is not None and monotonic() > deadline:
            logger.info("outbox: send budget used up, %s and later left for the next run", report.pk)
            break
        if not claim(report.pk, now=now):
            continue
        report.attempts += 1
        try:
            key = (report.kind, report.event_key)
            if key not in rendered_by_event:
                rendered_by_event[key] = render_report(report)
            rendered = rendered_by_event[key]
        except LookupError as error:  # what it was about is gone: retrying cannot help
            _fail(report, str(error), now=now, retry=False)
            continue
        except Exception as error:  # a bug must leave a visible failed row, not one stuck in `sending`
            logger.exception("email %s could not be rendered", report.pk)
            _fail(
                report, f"Could not build the message: {type(error).__name__}: {error}", now=now, retry=True
            )
            continue
        message = build_message(report, rendered)
        try:
            connection = connection or mail.get_connection()
            message.connection = connection
            message.send()
        except AnymailRecipientsRefused as error:  # invalid/suppressed address: retrying cannot help
            _fail(report, f"Refused by the provider: {error}", now=now, retry=False)
            continue
        except Exception as error:  # any provider/network error: record it and retry later
            _fail(report, f"{type(error).__name__}: {error}", now=now, retry=True)
            continue
        refused = refused_status(message)
        if refused:  # the provider will not take it; retrying the same address will not help
            _fail(report, f"Refused by the provider ({refused}).", now=now, retry=False)
            continue
        EmailReport.objects.filter(pk=report.pk).update(
            status=Status.SENT,
            sent_at=now,
            subject=rendered.subject,
            error_message="",
            provider_message_id=provider_message_id(message),
        )
        sent += 1
        logger.info(
            "email %s kind=%s event=%s to=%s sent",
            report.pk,
            report.kind,
            report.event_key,
            report.recipient_email,
        )
    return sent


def resend(report_ids, *, now=None):
    """Put failed rows (and rows a dead worker left in `sending`) back in the queue; the caller
    enqueues delivery. Returns the ids requeued."""
    now = now or timezone.now()
    resendable = Q(status=Status.FAILED) | Q(status=Status.SENDING, claimed_at__lt=now - sending_lease())
    rows = EmailReport.objects.filter(resendable, pk__in=list(report_ids))
    ids = list(rows.values_list("pk", flat=True))
    EmailReport.objects.filter(resendable, pk__in=ids).update(status=Status.PENDING)
    return ids


# --------------------------------------------------------------------------- provider events


TRACKING_STATUSES = {
    "delivered": Status.DELIVERED,
    "bounced": Status.BOUNCED,
    "rejected": Status.BOUNCED,  # the ESP refused it after accepting the API call
}


def record_tracking_event(event):
    """Move the row(s) of an anymail tracking event to delivered / bounced; returns rows changed."""
    new_status = TRACKING_STATUSES.get(event.event_type)
    if new_status is None or not event.message_id:
        return 0
    rows = EmailReport.objects.filter(provider_message_id=str(event.message_id))
    if event.recipient:
        rows = rows.filter(recipient_email__iexact=event.recipient)
    if new_status == Status.DELIVERED:
        # A late "delivered" must not hide a bounce the provider already reported.
        changed = rows.filter(status=Status.SENT).update(status=Status.DELIVERED)
    else:
        detail = event.description or event.mta_response or event.reject_reason or ""
        changed = rows.filter(status__in=[Status.SENT, Status.DELIVERED]).update(
            status=Status.BOUNCED, error_message=f"Bounced: {detail}".strip().rstrip(":")
        )
    logger.info("email tracking %s for message %s: %s row(s)", event.event_type, event.message_id, changed)
    return changed


# --------------------------------------------------------------------------- digest schedule


def next_digest_run(digest_time, *, now):
    """The next moment (UTC) at digest_time strictly after now."""
    if isinstance(digest_time, str):  # a freshly created settings row still holds its "08:00" default
        digest_time = time.fromisoformat(digest_time)
    candidate = datetime.combine(now.astimezone(UTC).date(), digest_time, tzinfo=UTC)
    return candidate if candidate > now else candidate + timedelta(days=1)
