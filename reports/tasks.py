"""django-q2 tasks: thin wrappers that look rows up fresh by id and call reports.mail.

Enqueued by dotted path (receivers, views, schedules). Each is safe to run twice: rows are
created on their unique key and claimed before sending.
"""

import logging

from django.utils import timezone

from scoring.models import Alert
from sessions.models import Session

from . import mail

logger = logging.getLogger(__name__)


def send_session_report(session_id):
    """Queue and send the per-session report of one scored session (if the mode asks for it)."""
    session = Session.objects.select_related("tutor__score", "reschedule").filter(pk=session_id).first()
    if session is None:
        logger.info("session %s is gone; no report", session_id)
        return 0
    now = timezone.now()
    return mail.deliver_reports(mail.queue_session_report(session, now=now), now=now)


def send_alert_mail(alert_id):
    """Queue and send the mail about a newly opened alert."""
    alert = Alert.objects.select_related("tutor__score").filter(pk=alert_id).first()
    if alert is None:
        logger.info("alert %s is gone; no mail", alert_id)
        return 0
    now = timezone.now()
    return mail.deliver_reports(mail.queue_alert_mail(alert, now=now), now=now)


def send_daily_digest():
    """Queue and send today's digest (run daily by the reports.daily_digest schedule)."""
    now = timezone.now()
    return mail.deliver_reports(mail.queue_digest(now=now), now=now)


def deliver_reports(report_ids):
    """Send rows that were requeued (resend from the log or the admin)."""
    return mail.deliver_reports(report_ids)


def retry_report(report_id):
    """Run by a ONCE schedule after the backoff: try a failed row again."""
    return mail.deliver_reports([report_id])
