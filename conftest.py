"""Fixtures shared by every app's tests. Time is always injected: the clock is frozen at NOW."""

import pytest
import time_machine

from tutorscore import testing
from tutorscore.testing import NOW


def pytest_report_header():
    return f"reference time: {NOW.isoformat()} (replay with TUTORSCORE_TEST_NOW={NOW.isoformat()})"


@pytest.fixture(autouse=True)
def frozen_clock(request):
    """Every in-process test runs at NOW (ticking, so waits and timeouts still progress).

    Live tests start real servers in other processes, which read the real clock; they are left
    on it too, so both sides of the test agree."""
    if request.node.get_closest_marker("live"):
        yield None
        return
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def make_tutor(db):
    return testing.make_tutor


@pytest.fixture
def make_session(db):
    """make_session(tutor, days_ago=3, status="completed", initiator="tutor", ...)."""
    return testing.make_session


@pytest.fixture
def staff_user(db, django_user_model):
    """Staff with the Admin role, so may do everything the dashboard offers (the roles' own tests
    build users of each role)."""
    user = django_user_model.objects.create_user(
        "coach", "coach@example.com", "correct-horse-battery", is_staff=True
    )
    user.groups.add(testing.role("Admin"))
    return user


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client
