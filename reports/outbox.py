"""The mail outbox: every mail derives from durable rows, and one sweep completes them.

Where the rows come from:
- per-session reports: written in the scoring transaction itself (reports/receivers.py, on
  `sessions_scored`, which scoring/tasks.py sends for the sessions a new score covers — also
  when the stale sweep rescores a tutor whose processing task was lost);
- alert mails: from the Alert table, by `batch_alerts` below (an alert with no mail is the
  durable "to do");
- the digest: its daily task.

`flush` (the `reports.outbox` schedule every minute on the mail queue, and after every scoring
pass) then reclaims rows a dead worker left in `sending`, batches the alerts, and sends every row
that is pending or whose retry is due. Losing any task loses no mail; every step is idempotent.

At-least-once, on purpose: a row stuck in `sending` longer than EMAIL_TIMEOUT + a margin is put
back to `pending` and sent again. The worker died (or was killed by its task timeout) while
talking to the provider, almost always while the provider was slow or hung, before it accepted
the message; marking the row failed instead (at-most-once) would drop those mails, while
re-sending duplicates only a message whose acceptance was lost in the milliseconds between the
provider's answer and our UPDATE. Each reclaim counts as an attempt, so a message that kills
its worker every time ends `failed` after MAX_ATTEMPTS instead of looping. Every other path keeps
the ledger's rule: one row per (kind, event, recipient), claimed by one worker at a time.

Here: queueing (the rows, created idempotently on their unique key) and the sweep; sending one
row is reports/delivery.py, what it says reports/content.py and reports/digest.py.
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from time import monotonic

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from scoring.models import Alert, ScoringSettings, TutorScore
from sessions.models import COUNTED_STATUSES, Session, Tutor
from tutorscore.lib.retry import MAX_ATTEMPTS

from . import content, delivery, digest
from .models import EmailReport, sending_lease

logger = logging.getLogger(__name__)

Kind = EmailReport.Kind
Status = EmailReport.Status
# Sessions that have not happened yet are not worth a report (SPEC §5: they count nowhere).
REPORTED_SESSION_STATUSES = COUNTED_STATUSES
SCHEDULE_NAME = "reports.outbox"
FLUSH_TASK = "reports.tasks.flush_outbox"
# Alerts older than this that never got a mail (no recipients then, or mail turned off) are not
# mailed late: the dashboard and the daily digest show them.
ALERT_LOOKBACK = timedelta(hours=24)


# --------------------------------------------------------------------------- queueing


def session_event_key(session: Session) -> str:
    return f"session:{session.pk}:{session.status}"


def alert_batch_event_key(alerts: Iterable[Alert]) -> str:
    """One batch of alerts: named after its first alert, which no other batch can hold."""
    return f"alerts:{min(str(alert.pk) for alert in alerts)}"


def wants_session_report(score: TutorScore | None, *, scoring_settings: ScoringSettings) -> bool:
    """Mode `all`: every session; `flagged` (default): only when the tutor's score is high risk."""
    mode = scoring_settings.session_report_mode
    if mode == ScoringSettings.ReportMode.OFF or not scoring_settings.recipients:
        return False
    if mode == ScoringSettings.ReportMode.ALL:
        return True
    return bool(score and score.is_high_risk)


def queue_reports(
    kind: str,
    event_key: str,
    recipients: list[str],
    *,
    subject: str,
    now: datetime,
    session: Session | None = None,
    tutor: Tutor | None = None,
    alert: Alert | None = None,
) -> list:
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


def queue_session_reports(
    sessions: Iterable[Session],
    *,
    scores: dict,
    now: datetime | None = None,
    scoring_settings: ScoringSettings | None = None,
) -> int:
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
            "scored": content.score_context(scores[session.tutor_id]),
        }
        subject = content.render_subject(Kind.SESSION_REPORT, context)
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


def queue_session_report(
    session: Session,
    *,
    score: TutorScore | None = None,
    now: datetime | None = None,
    scoring_settings: ScoringSettings | None = None,
) -> list:
    """Queue the per-session report for every recipient when the mode asks for it, judged on
    `score` (default: the tutor's stored score); returns the ids of its rows still to send."""
    scoring_settings = scoring_settings or ScoringSettings.load()
    score = score or content.score_of(session.tutor)
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


def queue_digest(*, now: datetime | None = None, scoring_settings: ScoringSettings | None = None) -> list:
    """Queue today's digest (one per UTC day) for every recipient."""
    now = now or timezone.now()
    recipients = (scoring_settings or ScoringSettings.load()).recipients
    if not recipients:
        return []
    rendered = content.render_mail(Kind.DIGEST, digest.digest_context(now=now))
    return queue_reports(
        Kind.DIGEST, digest.digest_event_key(now), recipients, subject=rendered.subject, now=now
    )


# --------------------------------------------------------------------------- the sweep


def reclaim_stuck(*, now: datetime) -> int:
    """Rows left in `sending` by a dead worker: back to pending (at-least-once, see above), or
    failed once they have used every attempt."""
    stuck = EmailReport.objects.filter(status=Status.SENDING, claimed_at__lt=now - sending_lease())
    message = "A worker stopped while sending this mail; it is sent again."
    retried = stuck.filter(attempts__lt=MAX_ATTEMPTS).update(status=Status.PENDING, error_message=message)
    given_up = stuck.update(
        status=Status.FAILED,
        next_attempt_at=None,
        error_message="A worker stopped while sending this mail every time; resend it by hand.",
    )
    if retried or given_up:
        logger.warning("outbox: reclaimed %d mail(s) stuck in sending, gave up %d", retried, given_up)
    return retried + given_up


def unmailed_alerts(*, now: datetime) -> QuerySet:
    """Unresolved alerts opened within ALERT_LOOKBACK that no alert mail lists yet."""
    return (
        Alert.objects.filter(
            opened_at__gt=now - ALERT_LOOKBACK,
            opened_at__lte=now,
            status__in=[Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED],
        )
        .filter(batch_mails__isnull=True, email_reports__isnull=True)  # legacy rows: one per alert
        .order_by("opened_at", "pk")
    )


def batch_alerts(*, now: datetime, scoring_settings: ScoringSettings | None = None) -> list:
    """Once the oldest unmailed alert is MAIL_ALERT_BATCH_SECONDS old, queue ONE mail per
    recipient listing every unmailed alert; returns the new rows' ids.

    The alert rows are locked while the batch is written (skip_locked: a concurrent outbox run
    takes only alerts this one does not hold), so two runs never mail the same alert twice.
    """
    recipients = (scoring_settings or ScoringSettings.load()).recipients
    window = timedelta(seconds=settings.MAIL_ALERT_BATCH_SECONDS)
    with transaction.atomic():
        alerts = list(
            unmailed_alerts(now=now).select_for_update(skip_locked=True, of=("self",)).select_related("tutor")
        )
        if not alerts or alerts[0].opened_at > now - window:
            return []  # nothing yet, or the window is still open: more may join this batch
        if not recipients:
            return []
        tutors = {alert.tutor for alert in alerts}
        context = content.alert_context(alerts)
        report_ids = queue_reports(
            Kind.ALERT,
            alert_batch_event_key(alerts),
            recipients,
            subject=content.render_subject(Kind.ALERT, context),
            now=now,
            tutor=next(iter(tutors)) if len(tutors) == 1 else None,
            alert=alerts[0] if len(alerts) == 1 else None,
        )
        Through = EmailReport.alerts.through
        Through.objects.bulk_create(
            [
                Through(emailreport_id=report_id, alert_id=alert.pk)
                for report_id in report_ids
                for alert in alerts
            ],
            ignore_conflicts=True,
        )
    logger.info("outbox: %d alert(s) batched into one mail to %d recipient(s)", len(alerts), len(recipients))
    return report_ids


def due_report_ids(*, now: datetime) -> list:
    """Rows waiting to go: pending, or failed with their retry due; oldest first."""
    due = Q(status=Status.PENDING) | Q(status=Status.FAILED, next_attempt_at__lte=now)
    return list(EmailReport.objects.filter(due).order_by("created_at").values_list("pk", flat=True))


def flush(*, now: datetime | None = None) -> int:
    """One outbox run: reclaim, batch the alerts, send what is due within MAIL_SEND_BUDGET_SECONDS.
    Returns how many mails went."""
    now = now or timezone.now()
    reclaim_stuck(now=now)
    batch_alerts(now=now)
    deadline = monotonic() + settings.MAIL_SEND_BUDGET_SECONDS
    return delivery.deliver_reports(due_report_ids(now=now), now=now, deadline=deadline)


def backlog(*, now: datetime | None = None) -> dict:
    """What /healthz reports about the outbox: rows waiting and the age of the oldest."""
    now = now or timezone.now()
    waiting = EmailReport.objects.filter(
        Q(status=Status.PENDING) | Q(status=Status.FAILED, next_attempt_at__lte=now)
    )
    oldest = waiting.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "waiting": waiting.count(),
        "oldest_waiting_seconds": round((now - oldest).total_seconds()) if oldest else None,
        "stuck_sending": EmailReport.objects.filter(
            status=Status.SENDING, claimed_at__lt=now - sending_lease()
        ).count(),
    }
