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
"""

import logging
from datetime import timedelta
from time import monotonic

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from scoring.models import Alert, ScoringSettings

from . import mail
from .models import EmailReport, sending_lease

logger = logging.getLogger(__name__)

Status = EmailReport.Status
SCHEDULE_NAME = "reports.outbox"
FLUSH_TASK = "reports.tasks.flush_outbox"
# Alerts older than this that never got a mail (no recipients then, or mail turned off) are not
# mailed late: the dashboard and the daily digest show them.
ALERT_LOOKBACK = timedelta(hours=24)


def reclaim_stuck(*, now) -> int:
    """Rows left in `sending` by a dead worker: back to pending (at-least-once, see above), or
    failed once they have used every attempt."""
    stuck = EmailReport.objects.filter(status=Status.SENDING, claimed_at__lt=now - sending_lease())
    message = "A worker stopped while sending this mail; it is sent again."
    retried = stuck.filter(attempts__lt=mail.MAX_ATTEMPTS).update(
        status=Status.PENDING, error_message=message
    )
    given_up = stuck.update(
        status=Status.FAILED,
        next_attempt_at=None,
        error_message="A worker stopped while sending this mail every time; resend it by hand.",
    )
    if retried or given_up:
        logger.warning("outbox: reclaimed %d mail(s) stuck in sending, gave up %d", retried, given_up)
    return retried + given_up


def unmailed_alerts(*, now):
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


def batch_alerts(*, now, scoring_settings=None) -> list:
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
        context = mail.alert_context(alerts)
        report_ids = mail.queue_reports(
            mail.Kind.ALERT,
            mail.alert_batch_event_key(alerts),
            recipients,
            subject=mail.render_subject(mail.Kind.ALERT, context),
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


def due_report_ids(*, now) -> list:
    """Rows waiting to go: pending, or failed with their retry due; oldest first."""
    due = Q(status=Status.PENDING) | Q(status=Status.FAILED, next_attempt_at__lte=now)
    return list(EmailReport.objects.filter(due).order_by("created_at").values_list("pk", flat=True))


def flush(*, now=None) -> int:
    """One outbox run: reclaim, batch the alerts, send what is due within MAIL_SEND_BUDGET_SECONDS.
    Returns how many mails went."""
    now = now or timezone.now()
    reclaim_stuck(now=now)
    batch_alerts(now=now)
    deadline = monotonic() + settings.MAIL_SEND_BUDGET_SECONDS
    return mail.deliver_reports(due_report_ids(now=now), now=now, deadline=deadline)


def backlog(*, now=None) -> dict:
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
