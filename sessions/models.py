import hashlib
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Self, cast

from django.db import connection, models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from .rescheduling import LAST_MINUTE_HOURS, fill_derived_fields
from .sql import execute, matching
from .triggers import COPIED as RESCHEDULE_COPIES


class Tutor(models.Model):
    # The platform's tutor id is the primary key, so the API and the database share ids.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(unique=True, null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # Both set whenever one of the tutor's sessions or reschedules changes, in the writing
    # transaction. A score records the version it was computed from, and a tutor is stale while
    # its version is newer. A timestamp could not decide that: it is taken before the change
    # commits, so a score computed meanwhile would look newer than a change it never saw.
    sessions_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    sessions_version = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tutors"
        ordering = ["name"]
        indexes = [models.Index(fields=["sessions_changed_at"], name="tutors_changed_idx")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("scoring:tutor_detail", args=[self.pk])

    @classmethod
    def mark_changed(cls, tutor_ids: Iterable[uuid.UUID | str], *, now: datetime | None = None) -> None:
        """Flag tutors for rescoring (one UPDATE, whatever the number of tutors; hand-written SQL:
        it runs in every ingest)."""
        tutor_ids = set(tutor_ids)
        if not tutor_ids:
            return
        field = cast(models.DateTimeField, cls._meta.get_field("sessions_changed_at"))
        changed_at = field.get_db_prep_value(now or timezone.now(), connection)
        where, params = matching("id", cls._meta.pk, tutor_ids)
        execute(
            "UPDATE tutors SET sessions_changed_at = %s, sessions_version = sessions_version + 1 "
            f"WHERE {where}",
            [changed_at, *params],
        )


# The enumerations whose lists a Meta constraint repeats live at module level: a class body's
# names are not visible inside its Meta, and this way the lists are derived, not spelled again.
class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    RESCHEDULED = "rescheduled"
    NO_SHOW = "no_show", "No-show"


SESSION_STATUSES = tuple(SessionStatus.values)


class Session(models.Model):
    Status = SessionStatus

    class NoShowBy(models.TextChoices):
        TUTOR = "tutor"
        STUDENT = "student"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=True)
    # No index of its own: (tutor, scheduled_time) below starts with it and serves its lookups.
    tutor = models.ForeignKey(Tutor, on_delete=models.CASCADE, related_name="sessions", db_index=False)
    student_id = models.CharField(max_length=100)
    scheduled_time = models.DateTimeField()
    completed_time = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED)
    duration_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    student_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    no_show_by = models.CharField(max_length=7, choices=NoShowBy.choices, null=True, blank=True)
    # Derived from the pair's sessions and kept up to date on every write (sessions/first_sessions.py).
    is_first_session = models.BooleanField(default=False, editable=False)
    first_session_retained = models.BooleanField(default=False, editable=False)
    # The platform's own modification time (`updated_at` in the API), the newest one received: a
    # post of an older state is stale (sessions/ordering.py). Our write time is `updated_at`.
    platform_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # What a score counts of the session's Reschedule (NULL without one), copied by database
    # triggers on every write to `reschedules` (sessions/triggers.py), whoever writes it: a tutor's
    # reschedule counts then read one index range instead of looking up each reschedule.
    reschedule_initiator = models.CharField(max_length=7, null=True, editable=False)
    reschedule_reason_code = models.CharField(max_length=20, null=True, editable=False)
    reschedule_hours_before = models.DecimalField(max_digits=9, decimal_places=2, null=True, editable=False)
    # (tutor_id, student_id) as stored before a save, or None: set by signals.remember_stored_pair.
    _stored_pair: tuple[uuid.UUID, str] | None

    class Meta:
        db_table = "sessions"
        ordering = ["-scheduled_time"]
        indexes = [
            # A tutor's sessions by time; it also holds every column a score counts
            # (scoring.facts.session_counts_query), which PostgreSQL then reads from the index
            # alone, without visiting the table (SQLite builds it without the included columns).
            models.Index(
                fields=["tutor", "scheduled_time"],
                include=[
                    "status",
                    "no_show_by",
                    "student_rating",
                    "is_first_session",
                    "first_session_retained",
                ],
                name="sessions_tutor_counts_idx",
            ),
            models.Index(fields=["status"], name="sessions_status_idx"),
            models.Index(fields=["scheduled_time"], name="sessions_time_idx"),
            # A pair's sessions, read to keep its first-session flags up to date.
            models.Index(fields=["tutor", "student_id", "scheduled_time"], name="sessions_pair_time_idx"),
            # What changed since a tutor's last score: the sessions a new score announces
            # (scoring.tasks.newly_covered_sessions). Without it a burst's task read through every
            # session: 23 s for 500 busy tutors at 10 million sessions.
            models.Index(fields=["updated_at"], name="sessions_updated_idx"),
            # The reschedules a score counts (scoring.facts.reschedule_counts_query), about one
            # session in eight, read without the others and from the index alone.
            models.Index(
                fields=["tutor", "scheduled_time"],
                include=["reschedule_initiator", "reschedule_reason_code", "reschedule_hours_before"],
                condition=models.Q(status="rescheduled"),
                name="sessions_reschedule_counts_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=list(SESSION_STATUSES)),
                name="session_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(completed_time__isnull=True)
                | Q(status="completed", completed_time__gte=F("scheduled_time")),
                name="session_completed_time_valid",
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__isnull=True)
                | Q(duration_minutes__gte=1, duration_minutes__lte=300),
                name="session_duration_1_300",
            ),
            models.CheckConstraint(
                condition=Q(student_rating__isnull=True) | Q(student_rating__gte=1, student_rating__lte=5),
                name="session_rating_1_5",
            ),
            # no_show_by is set exactly when the session is a no-show. (The explicit IS NOT NULL
            # matters: `NULL IN (...)` is NULL, and a CHECK that evaluates to NULL passes.)
            models.CheckConstraint(
                condition=Q(status="no_show", no_show_by__isnull=False, no_show_by__in=["tutor", "student"])
                | (~Q(status="no_show") & Q(no_show_by__isnull=True)),
                name="session_no_show_by_set",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tutor_id} · {self.student_id} · {self.scheduled_time:%Y-%m-%d %H:%M} · {self.status}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.apply_defaults()
        if not self._state.adding and kwargs.get("update_fields") is None:
            # The reschedule copies are the triggers' alone: an instance read before its
            # reschedule changed would otherwise write its stale copies back.
            kwargs["update_fields"] = UPDATED_BY_SAVE
        super().save(*args, **kwargs)

    def apply_defaults(self) -> Self:
        self.no_show_by = self.default_no_show_by(self.status, self.no_show_by)
        return self

    @classmethod
    def default_no_show_by(cls, status: str, no_show_by: str | None) -> str | None:
        """A no-show is the tutor's unless the platform says otherwise; other statuses have none."""
        if status != cls.Status.NO_SHOW:
            return None
        return no_show_by or cls.NoShowBy.TUTOR


# Sessions that happened: the only ones scoring counts and reports mail (a `scheduled` one has
# not happened yet).
COUNTED_STATUSES = (SessionStatus.COMPLETED, SessionStatus.RESCHEDULED, SessionStatus.NO_SHOW)


class ReasonCode(models.TextChoices):
    PERSONAL = "personal"
    EMERGENCY = "emergency"
    SCHEDULING_CONFLICT = "scheduling_conflict", "Scheduling conflict"
    FAMILY = "family"
    TECHNICAL = "technical"
    HEALTH = "health"
    OTHER = "other"


# In this order: the API schema, the database constraint and the generator's draws read it.
REASON_CODES = tuple(ReasonCode.values)


# Every field Session.save() writes to a stored session: all but the reschedule copies.
UPDATED_BY_SAVE = [
    field.name
    for field in Session._meta.concrete_fields
    if not field.primary_key and field.name not in RESCHEDULE_COPIES
]


class Reschedule(models.Model):
    class Initiator(models.TextChoices):
        TUTOR = "tutor"
        STUDENT = "student"

    ReasonCode = ReasonCode

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.OneToOneField(Session, on_delete=models.CASCADE, related_name="reschedule")
    initiator = models.CharField(max_length=7, choices=Initiator.choices)
    original_time = models.DateTimeField()
    new_time = models.DateTimeField(null=True, blank=True, help_text="Empty when cancelled outright.")
    reason = models.TextField(blank=True)
    reason_code = models.CharField(
        max_length=20,
        choices=ReasonCode.choices,
        blank=True,
        help_text="Derived from the reason text when left empty.",
    )
    cancelled_at = models.DateTimeField(
        null=True, blank=True, help_text="When the reschedule was asked for; defaults to now."
    )
    hours_before_session = models.DecimalField(max_digits=9, decimal_places=2, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "reschedules"
        ordering = ["-original_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(initiator__in=["tutor", "student"]), name="reschedule_initiator_valid"
            ),
            models.CheckConstraint(
                condition=Q(reason_code__in=list(REASON_CODES)),
                name="reschedule_reason_code_valid",
            ),
            models.CheckConstraint(
                condition=Q(new_time__isnull=True) | Q(new_time__gt=F("original_time")),
                name="reschedule_new_time_after_original",
            ),
            models.CheckConstraint(
                condition=Q(cancelled_at__isnull=False), name="reschedule_cancelled_at_set"
            ),
        ]

    def __str__(self) -> str:
        return f"Reschedule of {self.session_id} by {self.initiator}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        fill_derived_fields(self, received_at=timezone.now())
        super().save(*args, **kwargs)

    @property
    def is_last_minute(self) -> bool:
        return self.hours_before_session is not None and self.hours_before_session < LAST_MINUTE_HOURS


def hash_api_key(raw_key: str) -> str:
    # The raw key has 256 bits of entropy, so one SHA-256 is enough (no slow KDF needed).
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> Self:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="First characters, to recognise a key."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        db_table = "api_keys"
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def create_key(cls, name: str) -> tuple[Self, str]:
        """Create a key; returns (api_key, raw_key). The raw key is never stored."""
        api_key = cls(name=name)
        raw_key = api_key.assign_new_key()
        api_key.save()
        return api_key, raw_key

    def assign_new_key(self) -> str:
        """Give this row a fresh random key and return it; only its hash is kept."""
        raw_key = "ts_" + secrets.token_urlsafe(32)
        self.prefix, self.key_hash = raw_key[:10], hash_api_key(raw_key)
        return raw_key
