import uuid
from datetime import timedelta
from typing import Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from scoring.models import Alert
from sessions.models import Session, Tutor


def sending_lease() -> timedelta:
    """How long a claimed row may stay in `sending`: one provider call is bounded by EMAIL_TIMEOUT,
    so a row older than that plus a margin was left by a worker that died mid-send."""
    return timedelta(seconds=settings.EMAIL_TIMEOUT + 60)


class EmailReportQuerySet(models.QuerySet["EmailReport"]):
    def about_tutor(self, tutor: Tutor) -> Self:
        """Mails about this tutor: its own, and the alert mails that list one of its alerts."""
        return self.filter(Q(tutor=tutor) | Q(alerts__tutor=tutor)).distinct()


class EmailReport(models.Model):
    """One message to one recipient. (kind, event_key, recipient) is unique: never mailed twice."""

    class Kind(models.TextChoices):
        SESSION_REPORT = "session_report", "Session report"
        ALERT = "alert"
        DIGEST = "digest"

    class Status(models.TextChoices):
        PENDING = "pending"
        # Claimed by a worker that is talking to the provider right now (never sent twice).
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        DELIVERED = "delivered"
        BOUNCED = "bounced"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=14, choices=Kind.choices)
    # What the message is about: a session (+ its status), an alert, or a digest day.
    event_key = models.CharField(max_length=100)
    session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.SET_NULL, related_name="email_reports"
    )
    tutor = models.ForeignKey(
        Tutor, null=True, blank=True, on_delete=models.SET_NULL, related_name="email_reports"
    )
    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.SET_NULL, related_name="email_reports"
    )
    # An alert mail lists every alert opened within MAIL_ALERT_BATCH_SECONDS (one mail per
    # recipient); `tutor` and `alert` are set too when the batch holds a single tutor / alert.
    alerts = models.ManyToManyField(Alert, blank=True, related_name="batch_mails")
    recipient_email = models.EmailField()
    subject = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error_message = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # When a worker last claimed the row to send it: a row stuck in `sending` long after that was
    # abandoned by a worker that died mid-send (it may or may not have gone out).
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the outbox tries a failed row again (backoff); null once it gives up.
    next_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = EmailReportQuerySet.as_manager()

    class Meta:
        db_table = "email_reports"
        ordering = ["-created_at"]
        permissions = [("resend_email", "Can resend a mail")]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="email_status_created_idx"),
            models.Index(fields=["kind", "-created_at"], name="email_kind_created_idx"),
            models.Index(fields=["tutor", "-created_at"], name="email_tutor_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "event_key", "recipient_email"], name="email_once_per_event_recipient"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["session_report", "alert", "digest"]), name="email_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending", "sent", "failed", "delivered", "bounced"]),
                name="email_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient_email}"

    @property
    def is_stuck(self) -> bool:
        """Claimed for sending so long ago that the worker must have died (fate unknown)."""
        return (
            self.status == self.Status.SENDING
            and self.claimed_at is not None
            and self.claimed_at < timezone.now() - sending_lease()
        )

    @property
    def can_resend(self) -> bool:
        """A failed mail, or one a dead worker left half-sent; anything else went or is on its way."""
        return self.status == self.Status.FAILED or self.is_stuck
