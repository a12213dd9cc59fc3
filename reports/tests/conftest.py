"""Factories for the reports tests: scores and alerts are built directly (the engine is not needed)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from conftest import NOW

RECIPIENTS = ["lead@example.com", "ops@example.com"]


@pytest.fixture
def scoring_settings(db):
    """ScoringSettings with two recipients and the default `flagged` mode."""
    from scoring.models import ScoringSettings

    settings = ScoringSettings.load()
    settings.report_recipients = "lead@example.com,\n ops@example.com"
    settings.save()
    return settings


@pytest.fixture
def make_score(db):
    """A TutorScore with exact figures: 3 of 8 sessions rescheduled in 7 days by default (flagged)."""

    def make(tutor, **fields):
        from scoring.models import TutorScore

        values = {
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
            "is_high_risk": True,
            "risk_score": Decimal("72.50"),
            "risk_level": "high",
            "reasons": [
                "Rescheduled 3 of 8 sessions in the last 7 days (37.5%, threshold 15%)",
                "2 of 3 reschedules were last-minute (<24 h)",
            ],
            "recommendations": ["Schedule a calendar-planning check-in"],
            "reschedule_rate_threshold": Decimal("15.00"),
            "no_show_rate_threshold": Decimal("10.00"),
            "first_session_retention_threshold": Decimal("60.00"),
            "minimum_sessions": 5,
            "last_calculated_at": NOW,
        }
        values.update(fields)
        return TutorScore.objects.update_or_create(tutor=tutor, defaults=values)[0]

    return make


@pytest.fixture
def low_risk():
    """Fields that make a score low risk and unflagged."""
    return {
        "tutor_reschedules_7d": 0,
        "reschedule_rate_7d": Decimal("0.00"),
        "reschedule_flag": False,
        "is_high_risk": False,
        "risk_score": Decimal("8.00"),
        "risk_level": "low",
        "reasons": [],
        "recommendations": [],
    }


@pytest.fixture
def make_alert(db):
    def make(tutor, *, kind="reschedule_rate", hours_ago=1, status="open", message=None):
        from scoring.models import Alert

        opened_at = NOW - timedelta(hours=hours_ago)
        return Alert.objects.create(
            tutor=tutor,
            kind=kind,
            status=status,
            message=message or "Rescheduled 3 of 8 sessions in the last 7 days (37.5%, threshold 15%)",
            opened_at=opened_at,
            resolved_at=NOW if status == "resolved" else None,
        )

    return make


@pytest.fixture
def flagged_session(make_tutor, make_session, make_score):
    """A rescheduled, last-minute session of a high-risk tutor."""
    tutor = make_tutor("Ada Tutor", email="ada@example.com")
    make_score(tutor)
    return make_session(
        tutor,
        days_ago=1,
        status="rescheduled",
        student_id="student-42",
        reason="Double-booked with another class",
        hours_before=6,
    )


@pytest.fixture(autouse=True)
def fresh_settings_cache():
    """The receivers cache ScoringSettings for a few seconds; a test's rollback must not leak it."""
    from reports import receivers

    receivers._settings_cache.update(settings=None, loaded_at=None)
