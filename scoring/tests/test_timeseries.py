"""Rates over time: period_counts, the one counting of sessions per period behind every trend."""

from datetime import timedelta

import pytest

from scoring.timeseries import period_counts
from sessions.models import Session
from tutorscore.testing import NOW

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def counts(points):
    return [(point.sessions, point.tutor_reschedules, point.tutor_no_shows) for point in points]


def test_periods_may_overlap_and_each_counts_its_own_sessions(
    make_tutor, make_session, django_assert_num_queries
):
    tutor = make_tutor()
    make_session(tutor, days_ago=1, status="rescheduled")
    make_session(tutor, days_ago=2, status="no_show")
    make_session(tutor, days_ago=2, status="no_show", no_show_by="student")
    make_session(tutor, days_ago=5, status="rescheduled", initiator="student")
    make_session(tutor, days_ago=9)
    make_session(tutor, days_ago=1, status="scheduled")  # not held: counts nowhere
    make_session(make_tutor("Other"), days_ago=1, status="rescheduled")  # not in the queryset
    periods = [
        (NOW - 7 * DAY, NOW),
        (NOW - 30 * DAY, NOW),
        (NOW - 3 * DAY, NOW - DAY),
        (NOW - 30 * DAY, NOW - 7 * DAY),
    ]

    with django_assert_num_queries(1):
        points = period_counts(Session.objects.filter(tutor=tutor), periods)

    assert [(point.start, point.end) for point in points] == periods
    assert counts(points) == [(4, 1, 1), (5, 1, 1), (3, 1, 1), (1, 0, 0)]
    assert points[0].rate == 25


def test_a_session_on_a_bound_belongs_to_the_period_it_ends_or_for_calendar_periods_starts(
    make_tutor, make_session
):
    tutor = make_tutor()
    make_session(tutor, at=NOW - 7 * DAY)
    periods = [(NOW - 14 * DAY, NOW - 7 * DAY), (NOW - 7 * DAY, NOW)]
    sessions = Session.objects.filter(tutor=tutor)
    assert counts(period_counts(sessions, periods)) == [(1, 0, 0), (0, 0, 0)]  # start < t ≤ end
    assert counts(period_counts(sessions, periods, calendar=True)) == [
        (0, 0, 0),
        (1, 0, 0),
    ]  # start ≤ t < end


def test_a_period_without_sessions_has_no_rate(make_tutor):
    [point] = period_counts(Session.objects.all(), [(NOW - DAY, NOW)])
    assert (point.sessions, point.rate) == (0, None)
