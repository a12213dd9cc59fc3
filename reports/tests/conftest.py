"""Factories for the reports tests: scores and alerts are built directly (the engine is not needed)."""

from decimal import Decimal

import pytest

from tutorscore import testing

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
    return lambda tutor, **fields: testing.make_score(tutor, **{**testing.FLAGGED_SCORE, **fields})


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
    """An alert opened an hour before NOW, with the flagged score's first reason as its message."""
    message = testing.FLAGGED_SCORE["reasons"][0]
    return lambda tutor, **fields: testing.make_alert(tutor, **{"hours_ago": 1, "message": message, **fields})


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


@pytest.fixture(autouse=True)
def fresh_trend_cache():
    """The digest's week comes from the dashboard's weekly trend, cached per period: another
    test's figures at the same NOW must not stand in."""
    from django.core.cache import cache

    cache.clear()
