"""Login throttling (django-axes): wrong passwords lock out one username from one address, and a
spray over many usernames locks out the address."""

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


def test_a_password_spray_locks_out_the_address(client, staff_user, settings):
    """One wrong password for each of many usernames: the address itself is locked out."""
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 12
    for number in range(1, 13):
        response = log_in(client, "wrong", username=f"guess{number}")
        assert response.status_code == (200 if number < 12 else 429)
    response = log_in(client, PASSWORD)  # a real user, right password, from that address
    assert response.status_code == 429
    assert log_in(client, PASSWORD, ip="198.51.100.9").status_code == 302  # elsewhere: fine


def test_the_address_lockout_ends_after_the_cool_off(client, staff_user, settings, frozen_clock):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    for number in range(3):
        log_in(client, "wrong", username=f"guess{number}")
    frozen_clock.shift(timedelta(minutes=16))
    assert log_in(client, PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("hops", "forwarded", "throttled_address"),
    [
        (0, "192.0.2.1", "203.0.113.7"),  # no proxy trusted: the header is the client's word only
        (1, "192.0.2.1", "192.0.2.1"),
        (1, "10.9.9.9, 192.0.2.1", "192.0.2.1"),  # a forged left-most entry is ignored
        (2, "10.9.9.9, 192.0.2.1, 172.16.0.1", "192.0.2.1"),
    ],
)
def test_behind_trusted_proxies_the_forwarded_address_is_throttled(
    client, staff_user, settings, hops, forwarded, throttled_address
):
    settings.TRUSTED_PROXY_COUNT = hops
    client.post(
        "/accounts/login/",
        {"username": "coach", "password": "wrong"},
        REMOTE_ADDR="203.0.113.7",
        HTTP_X_FORWARDED_FOR=forwarded,
    )
    assert AccessAttempt.objects.get().ip_address == throttled_address
