"""--now / --since parsing: a bad value is refused with one clear line naming the option."""

import argparse
from datetime import UTC, datetime

import pytest
from django.core.management.base import CommandError

from tutorscore.lib.dates import aware_datetime, utc_time


def test_aware_datetime_reads_an_iso_time_with_its_timezone():
    assert aware_datetime("--now", "2026-11-25T12:00:00+01:00") == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    assert aware_datetime("--now", None) is None
    assert aware_datetime("--now", "") is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "--now 'yesterday' is not an ISO 8601 datetime."),
        ("2026-11-25T12:00:00", "--now needs a timezone, e.g. 2026-01-15T14:00:00Z."),
    ],
)
def test_aware_datetime_errors_are_one_clear_line(value, message):
    with pytest.raises(CommandError) as raised:
        aware_datetime("--now", value)
    assert str(raised.value) == message


def test_utc_time_reads_a_naive_time_as_utc():
    assert utc_time("2026-11-25T12:00:00") == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    moment = utc_time("2026-11-25T12:00:00-05:00")
    assert moment == datetime(2026, 11, 25, 17, 0, tzinfo=UTC) and moment.tzinfo is UTC


def test_utc_time_error_is_one_clear_line():
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        utc_time("yesterday")
    assert str(raised.value) == "'yesterday' is not an ISO 8601 time"
