"""Small factories shared by every app's tests. Time is always injected: NOW is fixed."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def make_tutor(db):
    def make(name="Ada Tutor", email=None, **fields):
        from sessions.models import Tutor

        return Tutor.objects.create(name=name, email=email, **fields)

    return make


@pytest.fixture
def make_session(db):
    """make_session(tutor, days_ago=3, status="completed", initiator="tutor", ...)."""

    def make(
        tutor,
        *,
        days_ago=3,
        at=None,
        status="completed",
        student_id="student-1",
        initiator="tutor",
        reason="",
        hours_before=48,
        **fields,
    ):
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

    return make


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_user(
        "coach", "coach@example.com", "correct-horse-battery", is_staff=True
    )


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client
