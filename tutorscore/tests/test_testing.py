"""The suite's reference time: every in-process test runs with the clock at NOW."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from tutorscore.testing import DEFAULT_NOW, NOW, reference_now


def test_the_clock_is_frozen_at_the_reference_time():
    assert NOW <= timezone.now() < NOW + timedelta(minutes=1)  # ticking from NOW, not the real date
    assert NOW <= datetime.now(UTC) < NOW + timedelta(minutes=1)


def test_the_reference_time_can_be_moved():
    assert reference_now(None) == DEFAULT_NOW
    assert reference_now("2031-05-07T12:00:00Z") == datetime(2031, 5, 7, 12, tzinfo=UTC)
    assert reference_now("2031-05-07T12:00:00") == datetime(2031, 5, 7, 12, tzinfo=UTC)  # UTC
    assert reference_now("2031-05-07T14:00:00+02:00") == datetime(2031, 5, 7, 12, tzinfo=UTC)
