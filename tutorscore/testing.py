"""What every app's tests share: the suite's reference time and small factories.

Time is an input. `NOW` is 2026-11-25 12:00 UTC unless `TUTORSCORE_TEST_NOW` moves it
(`.ci/run` moves it to a random date so a test that reads the real clock by accident fails on
every CI run); the root conftest freezes the clock at `NOW` for every test that runs in-process.
"""

import os
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the factories import models when called: this module loads before Django
    from django.contrib.auth.models import Group

    from scoring.models import Alert, TutorScore
    from sessions.models import Session, Tutor

DEFAULT_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def reference_now(value: str | None = None) -> datetime:
    """The suite's reference time: `value` (ISO 8601, UTC when no offset) or the default."""
    if not value:
        return DEFAULT_NOW
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


NOW = reference_now(os.environ.get("TUTORSCORE_TEST_NOW"))


def iso(moment: datetime) -> str:
    """An aware time as the platform sends it (`Z` for UTC)."""
    return moment.isoformat().replace("+00:00", "Z")


TUTOR_ID = uuid.UUID("11111111-1111-4111-8111-111111111111")


def session_payload(
    status: str = "completed",
    *,
    session_id: uuid.UUID | str | None = None,
    tutor_id: uuid.UUID | str = TUTOR_ID,
    days_ago: float = 2,
    now: datetime = NOW,
    **extra: Any,
) -> dict[str, Any]:
    """A valid payload in the original contract (plus whatever `extra` overrides)."""
    scheduled_time = now - timedelta(days=days_ago)
    payload = {
        "session_id": str(session_id or uuid.uuid4()),
        "tutor_id": str(tutor_id),
        "student_id": "student-42",
        "scheduled_time": iso(scheduled_time),
        "status": status,
        "duration_minutes": 60,
    }
    if status == "completed":
        payload["completed_time"] = iso(scheduled_time + timedelta(minutes=60))
    if status == "rescheduled":
        payload["reschedule_info"] = {
            "initiator": "tutor",
            "reason": "Family emergency",
            "original_time": iso(scheduled_time),
            "new_time": iso(scheduled_time + timedelta(days=1)),
            "cancelled_at": iso(scheduled_time - timedelta(hours=6)),
        }
    payload.update(extra)
    return payload


def make_tutor(name: str = "Ada Tutor", email: str | None = None, **fields: Any) -> "Tutor":
    from sessions.models import Tutor

    return Tutor.objects.create(name=name, email=email, **fields)


def make_session(
    tutor: "Tutor",
    *,
    days_ago: float = 3,
    at: datetime | None = None,
    status: str = "completed",
    student_id: str = "student-1",
    initiator: str = "tutor",
    reason: str = "",
    hours_before: float = 48,
    **fields: Any,
) -> "Session":
    """A session `days_ago` days before NOW (or `at`); a rescheduled one gets its reschedule."""
    from sessions.models import Reschedule, Session

    scheduled_time = at or NOW - timedelta(days=days_ago)
    if status == "completed":
        fields.setdefault("completed_time", scheduled_time + timedelta(hours=1))
        fields.setdefault("duration_minutes", 60)
    session = Session.objects.create(
        id=fields.pop("id", uuid.uuid4()),
        tutor=tutor,
        student_id=student_id,
        scheduled_time=scheduled_time,
        status=status,
        **fields,
    )
    if status == "rescheduled":
        Reschedule.objects.create(
            session=session,
            initiator=initiator,
            reason=reason,
            original_time=scheduled_time,
            new_time=scheduled_time + timedelta(days=2),
            cancelled_at=scheduled_time - timedelta(hours=hours_before),
        )
    return session


def make_score(
    tutor: "Tutor", *, now: datetime | None = None, level: str = "low", risk_score: str = "0", **fields: Any
) -> "TutorScore":
    """A TutorScore with the default thresholds, up to date with the tutor's sessions, built
    directly (page and mail tests do not depend on the engine's numbers); rates and counts are
    keyword fields."""
    from scoring.models import TutorScore
    from sessions.models import Tutor

    values = {
        "sessions_version": Tutor.objects.values_list("sessions_version", flat=True).get(pk=tutor.pk),
        "reschedule_rate_threshold": Decimal("15.00"),
        "no_show_rate_threshold": Decimal("10.00"),
        "first_session_retention_threshold": Decimal("60.00"),
        "minimum_sessions": 5,
        "last_calculated_at": now or NOW,
        "risk_level": level,
        "risk_score": Decimal(risk_score),
        "is_high_risk": level == "high",
    }
    values.update(fields)
    return TutorScore.objects.update_or_create(tutor=tutor, defaults=values)[0]


# A high-risk score: 3 of 8 sessions rescheduled in 7 days (flagged).
FLAGGED_SCORE = {
    "total_sessions_7d": 8,
    "total_sessions_30d": 20,
    "total_sessions_90d": 50,
    "tutor_reschedules_7d": 3,
    "tutor_reschedules_30d": 4,
    "tutor_reschedules_90d": 6,
    "reschedule_rate_7d": Decimal("37.50"),
    "reschedule_rate_30d": Decimal("20.00"),
    "reschedule_rate_90d": Decimal("12.00"),
    "no_shows_30d": 1,
    "no_show_rate_30d": Decimal("5.00"),
    "first_sessions_90d": 4,
    "retained_first_sessions_90d": 3,
    "first_session_retention_90d": Decimal("75.00"),
    "reschedule_flag": True,
    "level": "high",
    "risk_score": "73",
    "evidence": {
        "reschedule_rate": {"state": "flagged", "window_days": 7, "events": 3, "total": 8, "strength": 60.0}
    },
    "reasons": [
        "Rescheduled 3 of 8 sessions in the last 7 days (37.5%, threshold 15%)",
        "2 of 3 reschedules were last-minute (<24 h)",
    ],
    "recommendations": ["Schedule a calendar-planning check-in"],
}


def make_alert(
    tutor: "Tutor",
    *,
    kind: str = "reschedule_rate",
    status: str = "open",
    opened_at: datetime | None = None,
    hours_ago: float | None = None,
    **fields: Any,
) -> "Alert":
    """An alert opened at `opened_at` (or `hours_ago` hours before NOW), with its opening event."""
    from scoring.models import Alert, AlertEvent

    if opened_at is None:
        opened_at = NOW - timedelta(hours=hours_ago or 0)
    if status == Alert.Status.RESOLVED:
        fields.setdefault("resolved_at", NOW if hours_ago is not None else opened_at)
    alert = Alert.objects.create(
        tutor=tutor,
        kind=kind,
        status=status,
        message=fields.pop("message", None) or f"{tutor.name} rescheduled too often.",
        opened_at=opened_at,
        **fields,
    )
    AlertEvent.objects.create(alert=alert, action=AlertEvent.Action.OPENED, created_at=opened_at)
    return alert


def day(days_ago: float, fmt: str = "%Y-%m-%d") -> str:
    """NOW minus `days_ago` days, formatted: expected dates follow NOW wherever the suite runs."""
    return f"{NOW - timedelta(days=days_ago):{fmt}}"


def role(name: str) -> "Group":
    """The group of the role `name` (README "Roles"). Its migration creates it, but a test with a
    live server flushes the database afterwards, so it is made again when missing."""
    from django.apps import apps
    from django.contrib.auth.models import Group

    from reports.roles import create_roles

    if not Group.objects.filter(name=name).exists():
        create_roles(apps)
    return Group.objects.get(name=name)
