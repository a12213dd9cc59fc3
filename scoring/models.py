import uuid
from decimal import Decimal
from typing import Self

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from sessions.models import Tutor

from .explain import evidence_chips, evidence_why

PERCENT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


def rate_field(help_text: str = "") -> models.DecimalField:
    """A percentage 0–100 with 2 decimals; null when the window holds no sessions."""
    return models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, validators=PERCENT, help_text=help_text
    )


class RiskLevel(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    # No session in 30 days, or marked inactive: its own state, never ranked among the at-risk.
    INACTIVE = "inactive"


def score_state(risk_level: str | None, is_high_risk: bool | None, is_watching: bool | None) -> str:
    """'inactive', 'flagged', 'watching' or 'clear': what a score asks of a coach."""
    if risk_level == RiskLevel.INACTIVE:
        return "inactive"
    if is_high_risk:
        return "flagged"
    return "watching" if is_watching else "clear"


class ScoringSettings(models.Model):
    """The single row of tunable thresholds, weights and mail settings (edited in the admin)."""

    SINGLETON_ID = uuid.UUID(int=1)

    class ReportMode(models.TextChoices):
        ALL = "all", "Every session"
        FLAGGED = "flagged", "Sessions of flagged tutors"
        OFF = "off", "Off"

    id = models.UUIDField(primary_key=True, default=uuid.UUID(int=1), editable=False)
    reschedule_rate_threshold = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("15.00"),
        validators=PERCENT,
        help_text="Flag when a window's tutor reschedule rate is above this percentage.",
    )
    no_show_rate_threshold = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("10.00"),
        validators=PERCENT,
        help_text="Flag when the 30-day tutor no-show rate is above this percentage.",
    )
    first_session_retention_threshold = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("60.00"),
        validators=PERCENT,
        help_text="Flag when 90-day first-session retention is below this percentage.",
    )
    minimum_sessions = models.PositiveIntegerField(
        default=5,
        validators=[MinValueValidator(1)],
        help_text="A window (or set of first sessions) must hold at least this many before it can flag.",
    )
    flag_evidence_ratio = models.DecimalField(
        "flag evidence ratio",
        max_digits=7,
        decimal_places=2,
        default=Decimal("40.00"),
        validators=[MinValueValidator(Decimal("2")), MaxValueValidator(Decimal("10000"))],
        help_text=(
            "How sure a flag must be: the data must be at least this many times likelier if the "
            "tutor's true rate were twice the threshold than if it were half of it (40 = 40 : 1; a "
            "7-day window needs 30/7 times that). "
            "Higher means fewer, surer flags that take more sessions to raise."
        ),
    )
    reschedule_weight = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("0.50"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    no_show_weight = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("0.30"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    first_session_weight = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("0.20"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    report_recipients = models.TextField(
        blank=True, help_text="E-mail addresses that receive reports, one per line or comma-separated."
    )
    session_report_mode = models.CharField(
        max_length=7, choices=ReportMode.choices, default=ReportMode.FLAGGED
    )
    digest_time = models.TimeField(default="08:00", help_text="When the daily digest goes out (UTC).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "scoring_settings"
        verbose_name = verbose_name_plural = "scoring settings"
        constraints = [
            models.CheckConstraint(condition=Q(id=uuid.UUID(int=1)), name="scoring_settings_singleton"),
            models.CheckConstraint(
                condition=Q(reschedule_weight__gt=0)
                | Q(no_show_weight__gt=0)
                | Q(first_session_weight__gt=0),
                name="scoring_settings_some_weight",
            ),
        ]

    def __str__(self) -> str:
        return "Scoring settings"

    @classmethod
    def load(cls) -> Self:
        obj, _ = cls.objects.get_or_create(pk=cls.SINGLETON_ID)
        return obj

    @property
    def recipients(self) -> list[str]:
        """report_recipients as a clean list of addresses."""
        return [
            address.strip()
            for address in self.report_recipients.replace(",", "\n").splitlines()
            if address.strip()
        ]


class TutorScore(models.Model):
    """A tutor's current scores (SPEC §5) and the thresholds they were judged against."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tutor = models.OneToOneField(Tutor, on_delete=models.CASCADE, related_name="score")

    total_sessions_7d = models.PositiveIntegerField(default=0)
    total_sessions_30d = models.PositiveIntegerField(default=0)
    total_sessions_90d = models.PositiveIntegerField(default=0)
    tutor_reschedules_7d = models.PositiveIntegerField(default=0)
    tutor_reschedules_30d = models.PositiveIntegerField(default=0)
    tutor_reschedules_90d = models.PositiveIntegerField(default=0)
    reschedule_rate_7d = rate_field()
    reschedule_rate_30d = rate_field()
    reschedule_rate_90d = rate_field()
    no_shows_30d = models.PositiveIntegerField(default=0)
    no_show_rate_30d = rate_field()
    first_sessions_90d = models.PositiveIntegerField(default=0)
    retained_first_sessions_90d = models.PositiveIntegerField(default=0)
    first_session_retention_90d = rate_field()
    average_rating_90d = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    rated_sessions_90d = models.PositiveIntegerField(default=0)

    reschedule_flag = models.BooleanField(default=False)
    no_show_flag = models.BooleanField(default=False)
    first_session_flag = models.BooleanField(default=False)
    is_high_risk = models.BooleanField(default=False)
    # A rate beyond its threshold without enough evidence to flag: shown, no alert, no mail.
    is_watching = models.BooleanField(default=False)
    risk_score = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"), validators=PERCENT)
    risk_level = models.CharField(max_length=8, choices=RiskLevel.choices, default=RiskLevel.LOW)
    # Per flag kind, the window that says most: {kind: {state, window_days, events, total,
    # evidence_ratio, strength}} (scoring/evidence.py).
    evidence = models.JSONField(default=dict, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    recommendations = models.JSONField(default=list, blank=True)

    # The thresholds in force when the score was computed, so a past verdict stays explainable.
    reschedule_rate_threshold = models.DecimalField(max_digits=5, decimal_places=2)
    no_show_rate_threshold = models.DecimalField(max_digits=5, decimal_places=2)
    first_session_retention_threshold = models.DecimalField(max_digits=5, decimal_places=2)
    minimum_sessions = models.PositiveIntegerField()
    flag_evidence_ratio = models.DecimalField(max_digits=7, decimal_places=2, default=Decimal("40.00"))

    last_calculated_at = models.DateTimeField()
    # The tutor's sessions_version the score was computed from (older than the tutor's: stale).
    sessions_version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tutor_scores"
        permissions = [("export_tutors", "Can export the tutor list with scores (CSV)")]
        # Only the orders the dashboard and admin sort by: every recompute rewrites every row,
        # and each index costs a write per row (last_calculated_at is read, never searched).
        indexes = [
            models.Index(fields=["-risk_score"], name="scores_risk_score_idx"),
            models.Index(fields=["risk_level", "-risk_score"], name="scores_level_idx"),
            models.Index(fields=["-reschedule_rate_30d"], name="scores_rate30_idx"),
            # Every column the tutor list filters and sorts by, keyed by tutor: the list picks its
            # page from this index alone (an index-only scan, selectors.page_of) instead of
            # reading every wide score row (28 ms → 5.5 ms at 10,000 tutors).
            models.Index(
                fields=[
                    "tutor",
                    "risk_score",
                    "risk_level",
                    *(f"reschedule_rate_{days}d" for days in (7, 30, 90)),
                    *(f"total_sessions_{days}d" for days in (7, 30, 90)),
                ],
                name="scores_list_keys_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(risk_level__in=[level.value for level in RiskLevel]),
                name="score_risk_level_valid",
            ),
            models.CheckConstraint(
                condition=Q(risk_score__gte=0, risk_score__lte=100), name="score_risk_score_0_100"
            ),
        ]

    def __str__(self) -> str:
        return f"Score of {self.tutor}"

    def get_absolute_url(self) -> str:
        return self.tutor.get_absolute_url()

    @property
    def state(self) -> str:
        return score_state(self.risk_level, self.is_high_risk, self.is_watching)

    @property
    def why(self) -> str:
        return evidence_why(self.evidence)

    @property
    def chips(self) -> list[tuple[str, str, str]]:
        return evidence_chips(self.evidence)


class TutorScoreHistory(models.Model):
    """A daily snapshot of a tutor's score, for trends and audit."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tutor = models.ForeignKey(Tutor, on_delete=models.CASCADE, related_name="score_history")
    date = models.DateField()
    total_sessions_7d = models.PositiveIntegerField(default=0)
    total_sessions_30d = models.PositiveIntegerField(default=0)
    total_sessions_90d = models.PositiveIntegerField(default=0)
    reschedule_rate_7d = rate_field()
    reschedule_rate_30d = rate_field()
    reschedule_rate_90d = rate_field()
    no_show_rate_30d = rate_field()
    first_session_retention_90d = rate_field()
    risk_score = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    risk_level = models.CharField(max_length=8, choices=RiskLevel.choices, default=RiskLevel.LOW)
    is_high_risk = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tutor_score_history"
        ordering = ["tutor", "date"]
        verbose_name_plural = "tutor score history"
        constraints = [
            models.UniqueConstraint(fields=["tutor", "date"], name="score_history_one_per_day"),
        ]
        indexes = [models.Index(fields=["date"], name="score_history_date_idx")]

    def __str__(self) -> str:
        return f"{self.tutor} on {self.date}"


class Alert(models.Model):
    """One risk episode for one tutor and one kind; at most one unresolved per tutor and kind."""

    class Kind(models.TextChoices):
        RESCHEDULE_RATE = "reschedule_rate", "Reschedule rate"
        NO_SHOW_RATE = "no_show_rate", "No-show rate"
        FIRST_SESSION = "first_session", "First-session retention"

    class Status(models.TextChoices):
        OPEN = "open"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"

    class Resolution(models.TextChoices):
        CLEARED = "cleared", "Flag cleared"
        INACTIVE = "inactive", "Tutor inactive"
        BY_HAND = "by_hand", "Resolved by a person"
        # The outcomes a coach picks when closing an alert; "not a problem" feeds back into tuning.
        COACHED = "coached", "Coached"
        NOT_A_PROBLEM = "not_a_problem", "Not a problem"
        TUTOR_LEFT = "tutor_left", "Tutor left"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tutor = models.ForeignKey(Tutor, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    message = models.TextField(help_text="Why the alert opened, from the data at the time.")
    opened_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_alerts",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Null with a resolved_at means the system resolved it when the condition cleared.
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    # Out of the queue until then; it comes back by itself (read against `now`, no job needed).
    snoozed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "alerts"
        ordering = ["-opened_at"]
        permissions = [("act_on_alert", "Can act on alerts (acknowledge, assign, note, resolve, snooze)")]
        indexes = [
            models.Index(fields=["status", "-opened_at"], name="alerts_status_opened_idx"),
            models.Index(fields=["tutor", "-opened_at"], name="alerts_tutor_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tutor", "kind"],
                condition=~Q(status="resolved"),
                name="alert_one_unresolved_per_tutor_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["reschedule_rate", "no_show_rate", "first_session"]),
                name="alert_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "acknowledged", "resolved"]), name="alert_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="resolved", resolved_at__isnull=False)
                | (~Q(status="resolved") & Q(resolved_at__isnull=True)),
                name="alert_resolved_at_iff_resolved",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} alert for {self.tutor}"

    def get_absolute_url(self) -> str:
        return reverse("scoring:tutor_detail", args=[self.tutor_id]) + f"#alert-{self.pk}"

    @property
    def resolved_by_system(self) -> bool:

        return self.status == self.Status.RESOLVED and self.resolved_by_id is None


class AlertEvent(models.Model):
    """Every alert transition and note, with who (null: the system) and when."""

    class Action(models.TextChoices):
        OPENED = "opened"
        ACKNOWLEDGED = "acknowledged"
        ASSIGNED = "assigned"
        NOTE = "note"
        SNOOZED = "snoozed"
        RESOLVED = "resolved"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=12, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "alert_events"
        ordering = ["created_at"]
        indexes = [models.Index(fields=["alert", "created_at"], name="alert_events_alert_idx")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor or 'system'}"
