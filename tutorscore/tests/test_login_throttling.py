"""Login throttling (django-axes): wrong passwords lock out one username from one address."""

import io
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command

PASSWORD = "correct-horse-battery"  # the staff_user fixture's
LIMIT = 5


@pytest.fixture(autouse=True)
def limits(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def log_in(client, password, *, url="/accounts/login/", username="coach", ip="203.0.113.7"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(client, times, **kwargs):
    """`times` wrong passwords: the form again with its error, then the locked-out page."""
    for attempt in range(1, times + 1):
        assert log_in(client, "wrong", **kwargs).status_code == (200 if attempt < LIMIT else 429)


def test_the_right_password_after_a_few_mistakes_logs_in(client, staff_user):
    fail(client, LIMIT - 1)
    response = log_in(client, PASSWORD)
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()  # a success forgets the failures


def test_after_the_limit_even_the_right_password_is_refused(client, staff_user):
    fail(client, LIMIT - 1)
    response = log_in(client, "wrong")
    assert "Too many failed logins" in response.text
    assert "15 minutes" in response.text

    response = log_in(client, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_username_and_address(client, staff_user, django_user_model):
    django_user_model.objects.create_user("other", password=PASSWORD, is_staff=True)
    fail(client, LIMIT)
    assert log_in(client, PASSWORD, ip="198.51.100.9").status_code == 302  # same user, elsewhere
    client.logout()
    assert log_in(client, PASSWORD, username="other").status_code == 302  # same address, other user


def test_the_lockout_ends_after_the_cool_off(client, staff_user, frozen_clock):
    fail(client, LIMIT)
    frozen_clock.shift(timedelta(minutes=16))
    assert log_in(client, PASSWORD).status_code == 302


def test_the_admin_login_is_throttled_too(client, staff_user):
    fail(client, LIMIT, url="/admin/login/")
    assert log_in(client, PASSWORD).status_code == 429  # and it counts for the dashboard login


def test_axes_reset_unlocks(client, staff_user):
    fail(client, LIMIT)
    call_command("axes_reset", stdout=io.StringIO())
    assert log_in(client, PASSWORD).status_code == 302
