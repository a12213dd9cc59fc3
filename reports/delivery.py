"""Sending one outbox row: render it, claim it, hand it to the provider, record the outcome
(sent, or failed with a retry after a backoff), resend by hand, and the provider's tracking
events (delivered / bounced).

Every row is claimed by one worker with a conditional UPDATE before it talks to the provider, so
a retried task never mails the same recipient twice for the same event (reports/outbox.py says
where the rows come from and when they are sent).
"""

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from time import monotonic
from typing import Any
from uuid import UUID

from anymail.exceptions import AnymailRecipientsRefused
from django import db
from django.conf import settings
from django.core import mail
from django.db.models import F, Q
from django.utils import timezone

from tutorscore.lib.retry import MAX_ATTEMPTS, retry_delay

from . import content, digest
from .models import EmailReport, sending_lease

logger = logging.getLogger(__name__)

RETRY_BASE = timedelta(minutes=1)  # ×4: 1 min, 4 min, 16 min, 64 min between the five attempts
# Anymail per-recipient statuses that mean the provider refused the message outright.
REFUSED_STATUSES = {"rejected", "invalid", "failed"}

Kind = EmailReport.Kind
Status = EmailReport.Status


def render_report(report: EmailReport) -> content.RenderedMail:
    """Render the message for one EmailReport row from the data it points at (fresh each time)."""
    if report.kind == Kind.SESSION_REPORT:
        if report.session is None:
            raise LookupError("The session of this report no longer exists.")
        return content.render_mail(report.kind, content.session_report_context(report.session))
    if report.kind == Kind.ALERT:
        alerts = list(report.alerts.select_related("tutor__score")) or [
            alert
            for alert in [report.alert]
            if alert is not None  # rows from before batching
        ]
        if not alerts:
            raise LookupError("The alerts of this mail no longer exist.")
        return content.render_mail(report.kind, content.alert_context(alerts))
    # A digest always shows the figures as of when it was queued, however late a retry runs.
    return content.render_mail(report.kind, digest.digest_context(now=report.created_at))


def claim(report_id: UUID | str, *, now: datetime) -> bool:
    """Atomically take a pending/failed row for sending; False when another worker has it or it went."""
    return bool(
        EmailReport.objects.filter(pk=report_id, status__in=[Status.PENDING, Status.FAILED]).update(
            status=Status.SENDING, attempts=F("attempts") + 1, claimed_at=now, next_attempt_at=None
        )
    )


def build_message(report: EmailReport, rendered: content.RenderedMail) -> mail.EmailMultiAlternatives:
    message = mail.EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[report.recipient_email],
    )
    message.attach_alternative(rendered.html, "text/html")
    # Anymail extras (ignored by Django's own backends): ESP-side grouping and a way back to the row.
    message.tags = [report.kind]  # type: ignore[attr-defined]
    message.metadata = {"report_id": str(report.pk), "event_key": report.event_key}  # type: ignore[attr-defined]
    return message


def provider_message_id(message: mail.EmailMessage) -> str:
    """The ESP's id for the message (anymail backends only; Django's backends have none)."""
    status = getattr(message, "anymail_status", None)
    message_id = getattr(status, "message_id", None)
    if message_id is None or isinstance(message_id, set):
        return ""
    return str(message_id)


def refused_status(message: mail.EmailMessage) -> str | None:
    """An anymail per-recipient status that means the provider refused the message, else None."""
    status = getattr(message, "anymail_status", None)
    refused = (getattr(status, "status", None) or set()) & REFUSED_STATUSES
    return ", ".join(sorted(refused)) or None


def _fail(report, error, *, now, retry):
    will_retry = retry and report.attempts < MAX_ATTEMPTS
    report.status, report.error_message = Status.FAILED, error[:2000]
    # The outbox tries it again after the backoff; null: given up (resend by hand).
    report.next_attempt_at = (
        now + retry_delay(report.attempts, base=RETRY_BASE, factor=4) if will_retry else None
    )
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


def deliver_reports(
    report_ids: Iterable[object], *, now: datetime | None = None, deadline: float | None = None
) -> int:
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
    with asynchronous_commit():
        return _deliver(reports, now=now, deadline=deadline)


@contextmanager
def asynchronous_commit() -> Iterator[None]:
    """On PostgreSQL, don't wait for the disk on each claim/sent/failed UPDATE of a delivery run.

    Two commits per mail were most of a mail worker's time (7 ms each on a busy machine). A
    database crash can now forget the last fraction of a second of these updates: a row it
    forgets as `sent` goes again, which is the outbox's at-least-once choice already (see
    reports/outbox.py); a forgotten claim or failure is redone. The rows themselves are written
    in the scoring transaction with a normal commit, so no mail can be lost this way."""
    if db.connection.vendor != "postgresql":
        yield
        return
    with db.connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        with db.connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def _deliver(reports: Iterable[EmailReport], *, now: datetime, deadline: float | None) -> int:
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
            sent_at=timezone.now(),  # when it went, not when this run started
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


def resend(report_ids: Iterable[object], *, now: datetime | None = None) -> list:
    """Put failed rows (and rows a dead worker left in `sending`) back in the queue; the caller
    enqueues delivery. Returns the ids requeued."""
    now = now or timezone.now()
    resendable = Q(status=Status.FAILED) | Q(status=Status.SENDING, claimed_at__lt=now - sending_lease())
    rows = EmailReport.objects.filter(resendable, pk__in=list(report_ids))
    ids = list(rows.values_list("pk", flat=True))
    EmailReport.objects.filter(resendable, pk__in=ids).update(status=Status.PENDING)
    return ids


TRACKING_STATUSES = {
    "delivered": Status.DELIVERED,
    "bounced": Status.BOUNCED,
    "rejected": Status.BOUNCED,  # the ESP refused it after accepting the API call
}


def record_tracking_event(event: Any) -> int:
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
