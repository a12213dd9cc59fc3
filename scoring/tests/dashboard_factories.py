"""Small factories for the dashboard tests: score and alert rows built directly, so the page
tests do not depend on the engine's numbers."""

from decimal import Decimal

from conftest import NOW
from scoring.models import Alert, AlertEvent, TutorScore
from sessions.models import Tutor


def make_score(tutor, *, now=NOW, level="low", risk_score="0", **fields):
    """A TutorScore with the default thresholds, up to date with the tutor's sessions; pass
    rates/counts as keyword fields."""
    values = {
        "sessions_version": Tutor.objects.values_list("sessions_version", flat=True).get(pk=tutor.pk),
        "reschedule_rate_threshold": Decimal("15.00"),
        "no_show_rate_threshold": Decimal("10.00"),
        "first_session_retention_threshold": Decimal("60.00"),
        "minimum_sessions": 5,
        "last_calculated_at": now,
        "risk_level": level,
        "risk_score": Decimal(risk_score),
        "is_high_risk": level == "high",
    }
    values.update(fields)
    return TutorScore.objects.create(tutor=tutor, **values)


def make_alert(tutor, *, kind=Alert.Kind.RESCHEDULE_RATE, status=Alert.Status.OPEN, opened_at=NOW, **fields):
    if status == Alert.Status.RESOLVED:
        fields.setdefault("resolved_at", opened_at)
    alert = Alert.objects.create(
        tutor=tutor,
        kind=kind,
        status=status,
        message=fields.pop("message", f"{tutor.name} rescheduled too often."),
        opened_at=opened_at,
        **fields,
    )
    AlertEvent.objects.create(alert=alert, action=AlertEvent.Action.OPENED, created_at=opened_at)
    return alert
