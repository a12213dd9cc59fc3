"""Every admin page of every registered model renders for staff and is refused to anonymous users."""

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task

from tutorscore.testing import NOW

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
IDS = [model._meta.label for model, _ in REGISTERED]


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("ops", "ops@example.com", "correct-horse-battery")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def one_of_each(make_tutor, make_session, superuser):
    """At least one row of every registered model, so every change page has an object to show."""
    from reports.models import EmailReport
    from scoring.models import Alert, AlertEvent, ScoringSettings, TutorScore, TutorScoreHistory
    from sessions.models import ApiKey

    tutor = make_tutor("Ada Tutor", "ada@example.com")
    session = make_session(tutor, status="completed", student_rating=4)
    make_session(tutor, status="rescheduled", reason="Scheduling conflict", student_id="student-2")
    ApiKey.create_key("platform")
    ScoringSettings.load()
    TutorScore.objects.create(
        tutor=tutor,
        reschedule_rate_threshold=Decimal("15"),
        no_show_rate_threshold=Decimal("10"),
        first_session_retention_threshold=Decimal("60"),
        minimum_sessions=5,
        last_calculated_at=NOW,
    )
    TutorScoreHistory.objects.create(tutor=tutor, date=date(2026, 11, 24))
    alert = Alert.objects.create(
        tutor=tutor, kind="reschedule_rate", message="Rescheduled 3 of 8", opened_at=NOW
    )
    AlertEvent.objects.create(alert=alert, action="opened")
    AlertEvent.objects.create(alert=alert, action="note", actor=superuser, text="Called the tutor.")
    EmailReport.objects.create(
        kind="session_report",
        event_key=f"{session.pk}:completed",
        recipient_email="lead@example.com",
        session=session,
    )
    Group.objects.create(name="coaches")
    Schedule.objects.create(name="example", func="math.floor", schedule_type=Schedule.HOURLY)
    for success in (True, False):
        Task.objects.create(
            id=uuid.uuid4().hex,
            name=f"task-{success}",
            func="math.floor",
            started=timezone.now() - timedelta(seconds=1),
            stopped=timezone.now(),
            success=success,
        )
    OrmQ.objects.create(key="tutorscore", payload="x", lock=None)
    login = {
        "username": "ada",
        "ip_address": "203.0.113.7",
        "user_agent": "test",
        "path_info": "/accounts/login/",
    }
    AccessAttempt.objects.create(**login, get_data="", post_data="", failures_since_start=2)
    AccessFailureLog.objects.create(**login, locked_out=False)
    AccessLog.objects.create(**login)


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def superuser_request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=IDS)
def test_every_admin_page_renders_for_staff(admin_client, superuser, one_of_each, model, model_admin):
    request = superuser_request(superuser)
    obj = model._default_manager.first()
    assert obj is not None, f"one_of_each has no {model._meta.label} row"

    changelist = admin_client.get(url(model, "changelist"))
    if model._meta.label == "scoring.ScoringSettings":  # a single row: straight to it
        assert changelist.status_code == 302
        assert changelist.url == url(model, "change", obj.pk)
    else:
        assert changelist.status_code == 200, changelist.content[:500]
        # Searching never errors, whatever the search fields are.
        if model_admin.get_search_fields(request):
            assert admin_client.get(url(model, "changelist"), {"q": "ada"}).status_code == 200

    add = admin_client.get(url(model, "add"))
    assert add.status_code == (200 if model_admin.has_add_permission(request) else 403)

    change = admin_client.get(url(model, "change", obj.pk))
    assert change.status_code == 200, change.content[:500]
    assert b"INVALID_TEMPLATE_VARIABLE" not in change.content


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=IDS)
def test_every_admin_page_redirects_anonymous_users_to_login(client, one_of_each, model, model_admin):
    obj = model._default_manager.first()
    for page in (url(model, "changelist"), url(model, "add"), url(model, "change", obj.pk)):
        response = client.get(page)
        assert response.status_code == 302, page
        assert response.url.startswith(reverse("admin:login")), page


def test_non_staff_users_are_refused(client, django_user_model, one_of_each):
    user = django_user_model.objects.create_user("student", password="x")
    client.force_login(user)
    response = client.get(reverse("admin:tutoring_session_changelist"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_plain_staff_user_without_permissions_sees_no_models(client, django_user_model, one_of_each):
    # Staff status opens the admin; each model still needs its permission.
    client.force_login(django_user_model.objects.create_user("plain", password="x", is_staff=True))
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:tutoring_session_changelist")).status_code == 403
