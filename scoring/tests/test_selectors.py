"""Dashboard read queries: exact numbers, and a constant number of queries per page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from scoring import selectors, timeseries
from scoring.models import ScoringSettings, TutorScore
from sessions.models import Session, Tutor
from tutorscore.testing import NOW, make_alert, make_score


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    cache.clear()


def test_percent_rounds_half_up_and_is_unknown_without_sessions():
    assert timeseries.percent(1, 3) == Decimal("33.33")
    assert timeseries.percent(1, 8) == Decimal("12.50")
    assert timeseries.percent(1, 400) == Decimal("0.25")
    assert timeseries.percent(0, 0) is None


def test_weekly_trend_counts_sessions_and_tutor_reschedules_per_7_day_period(make_tutor, make_session):
    tutor = make_tutor()
    make_session(tutor, days_ago=1)
    make_session(tutor, days_ago=2, status="rescheduled")  # tutor-initiated
    make_session(tutor, days_ago=3, status="rescheduled", initiator="student")  # counts, not a tutor one
    make_session(tutor, days_ago=4, status="no_show")
    make_session(tutor, days_ago=5, status="scheduled")  # has not happened: counts nowhere
    make_session(tutor, days_ago=7)  # exactly 7 days ago: the end of week 2, inclusive
    make_session(tutor, days_ago=8, status="rescheduled")
    make_session(tutor, days_ago=84.5)  # older than 12 weeks
    make_session(tutor, at=NOW + timedelta(hours=1))  # in the future

    trend = timeseries.platform_weekly_trend(now=NOW)
    assert len(trend) == 12
    assert trend[-1].end == NOW and trend[0].start == NOW - timedelta(days=84)
    assert [(point.sessions, point.tutor_reschedules) for point in trend[-2:]] == [(2, 1), (4, 1)]
    assert trend[-1].rate == Decimal("25.00") and trend[-2].rate == Decimal("50.00")
    assert all(point.sessions == 0 and point.rate is None for point in trend[:-2])


def test_weekly_trend_is_shared_within_a_cache_period(make_tutor, make_session, django_assert_num_queries):
    tutor = make_tutor()
    make_session(tutor, days_ago=1)
    assert timeseries.platform_weekly_trend(now=NOW)[-1].sessions == 1
    make_session(tutor, at=NOW + timedelta(minutes=1))
    with django_assert_num_queries(0):  # 12:04:59 is in the same 5-minute period as 12:00
        trend = timeseries.platform_weekly_trend(now=NOW + timedelta(minutes=4, seconds=59))
    assert trend[-1].end == NOW and trend[-1].sessions == 1
    later = timeseries.platform_weekly_trend(now=NOW + timedelta(minutes=5, seconds=30))
    assert later[-1].end == NOW + timedelta(minutes=5) and later[-1].sessions == 2


def test_weekly_trend_is_computed_when_the_shared_cache_is_down(
    make_tutor, make_session, monkeypatch, caplog
):
    def redis_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(timeseries.cache, "get", redis_down)
    make_session(make_tutor(), days_ago=1)

    assert timeseries.platform_weekly_trend(now=NOW)[-1].sessions == 1
    assert "cache unavailable; computing the weekly trend directly" in caplog.text


def test_weekly_trend_without_cache_ends_at_now(settings, make_tutor, make_session):
    settings.DASHBOARD_TREND_CACHE_SECONDS = 0
    make_session(make_tutor(), at=NOW + timedelta(minutes=1))
    assert timeseries.platform_weekly_trend(now=NOW + timedelta(minutes=2))[-1].sessions == 1


def test_overview_stats(make_tutor, make_session):
    high, low, unscored = make_tutor("High"), make_tutor("Low"), make_tutor("Unscored")
    make_tutor("Gone", is_active=False)
    make_session(high, days_ago=0.25)
    make_session(high, at=NOW - timedelta(hours=24))  # exactly 24 h ago: outside "last 24 h"
    make_score(high, level="high", risk_score="75", reschedule_rate_30d=Decimal("33.33"))
    make_score(low, level="low", reschedule_rate_30d=Decimal("0.00"))
    make_alert(high)
    make_alert(high, kind="no_show_rate", status="acknowledged")
    make_alert(low, status="resolved")
    Tutor.objects.filter(pk=high.pk).update(sessions_changed_at=NOW - timedelta(minutes=1))  # scored at NOW
    Tutor.objects.filter(pk=low.pk).update(sessions_changed_at=NOW - timedelta(days=3))
    Tutor.objects.filter(pk=unscored.pk).update(sessions_changed_at=NOW - timedelta(minutes=7))

    stats = selectors.overview_stats(now=NOW)
    assert stats["active_tutors"] == 3
    assert stats["high_risk_tutors"] == 1
    assert stats["average_rate_30d"] == Decimal("16.67")  # (33.33 + 0) / 2, unscored tutors do not count
    assert stats["sessions_last_24h"] == 1
    assert stats["open_alerts"] == 2
    assert stats["stale_tutors"] == 1 and stats["processing_lag"] == timedelta(minutes=7)
    assert stats["risk_distribution"] == [
        ("High", 1, "high"),
        ("Medium", 0, "medium"),
        ("Low", 1, "low"),
        ("Inactive", 0, "inactive"),
        ("Not scored", 1, "none"),
    ]


def test_processing_lag_of_a_scored_tutor_that_changed_since(make_tutor):
    tutor = make_tutor()
    score = make_score(tutor, last_calculated_at=NOW - timedelta(minutes=30))
    Tutor.mark_changed([tutor.pk], now=NOW - timedelta(minutes=20))  # a change its score has not seen
    assert selectors.overview_stats(now=NOW)["processing_lag"] == timedelta(minutes=20)
    TutorScore.objects.filter(pk=score.pk).update(sessions_version=score.sessions_version + 1)  # rescored
    assert selectors.overview_stats(now=NOW)["processing_lag"] is None


def test_rolling_rates_slide_weekly_windows_over_the_tutors_sessions(make_tutor, make_session):
    tutor, other = make_tutor("Me"), make_tutor("Other")
    make_session(tutor, days_ago=2, status="rescheduled")
    make_session(tutor, days_ago=3)
    make_session(tutor, days_ago=10, status="rescheduled")
    make_session(tutor, days_ago=40)
    make_session(other, days_ago=2, status="rescheduled")

    series = timeseries.rolling_rates(tutor, now=NOW)
    assert [point for point, _, _ in series[7]][-2:] == [NOW - timedelta(days=7), NOW]
    assert len(series[7]) == 13
    # At NOW: 7 d holds 2 sessions (1 tutor reschedule); 30 d holds 3 (2); 90 d holds 4 (2).
    assert [series[days][-1][1] for days in (7, 30, 90)] == [
        Decimal("50.00"),
        Decimal("66.67"),
        Decimal("50.00"),
    ]
    assert [series[days][-1][2] for days in (7, 30, 90)] == [2, 3, 4]  # the sample behind each rate
    # A week earlier: 7 d holds only the day-10 reschedule; 30 d adds nothing older than 37 days.
    assert [series[days][-2][1] for days in (7, 30, 90)] == [
        Decimal("100.00"),
        Decimal("100.00"),
        Decimal("50.00"),
    ]
    # Twelve weeks back (day 84) the 7-day window is empty: unknown, not 0%.
    assert series[7][0][1] is None


def test_tutor_list_search_is_case_insensitive_on_name_and_email(make_tutor):
    make_tutor("Grace Hopper", "grace@navy.mil")
    make_tutor("Alan Turing", "alan@example.com")
    assert [t.name for t in selectors.tutor_list(search="HOPPER")] == ["Grace Hopper"]
    assert [t.name for t in selectors.tutor_list(search="navy.MIL")] == ["Grace Hopper"]


@pytest.mark.parametrize(
    "sort, order",
    [("risk", "desc"), ("risk", "asc"), ("rate", "desc"), ("sessions", "asc"), ("name", "asc")],
)
def test_a_page_read_through_its_keys_is_the_same_page_in_the_same_order(make_tutor, sort, order):
    """page_of and TutorPaginator pick each page on the sort keys first: same rows, same order,
    every tutor once across the pages, with ties on the sort key and unscored tutors (nulls)."""
    for index in range(23):
        tutor = make_tutor(f"Tutor {index % 7}", f"t{index}@example.com")  # repeated names: ties
        if index % 5:
            make_score(tutor, risk_score=str(index % 4 * 10), reschedule_rate_30d=Decimal(index % 3))
    tutors = selectors.tutor_list(sort=sort, order=order)
    everyone = list(tutors)
    paginator = selectors.TutorPaginator(tutors, 5, orphans=3)

    assert list(selectors.page_of(tutors, 5, 10)) == everyone[5:10]
    pages = [list(paginator.page(number)) for number in paginator.page_range]
    assert [len(page) for page in pages] == [5, 5, 5, 8]  # the last page takes its orphans
    assert [tutor for page in pages for tutor in page] == everyone


# --- constant number of queries per page, at two data sizes -----------------------------------


def build_data(make_tutor, make_session, size):
    """`size` tutors, each with a score, sessions, a reschedule and alerts."""
    for index in range(size):
        tutor = make_tutor(f"Tutor {index:03d}", f"t{index}@example.com")
        make_session(tutor, days_ago=1 + index % 5)
        make_session(tutor, days_ago=2, status="rescheduled", hours_before=5)
        make_session(tutor, days_ago=20, status="no_show")
        make_score(tutor, level="high" if index % 2 else "low", risk_score=str(index % 100))
        alert = make_alert(tutor)
        if index % 2:
            make_alert(tutor, kind="no_show_rate", status="acknowledged")
        Tutor.objects.filter(pk=tutor.pk).update(sessions_changed_at=NOW)
    return tutor, alert


PAGE_QUERIES = {
    # url: maximum queries (session + user lookups included; a page that checks the user's role
    # reads their own and their groups' permissions once: 2 more)
    "/": 10,
    "/tutors/": 7,
    "/tutors/?sort=rate&window=7&risk=high&q=tutor": 7,
    "/tutors/?format=csv": 5,
    "/alerts/?sort=severity": 8,
    "/alerts/?kind=no_show_rate&status=acknowledged&assignee=none&age=week": 8,
    "/alerts/outcomes/": 5,
    "/alerts/outcomes.csv": 5,
}


@pytest.mark.parametrize("size", [3, 30])
def test_every_page_runs_a_constant_number_of_queries(
    staff_client, make_tutor, make_session, django_assert_max_num_queries, size
):
    tutor, alert = build_data(make_tutor, make_session, size)
    ScoringSettings.load()  # exists in any real installation
    for url, limit in PAGE_QUERIES.items():
        cache.clear()
        with django_assert_max_num_queries(limit):
            response = staff_client.get(url)
            if response.streaming:
                b"".join(response.streaming_content)
        assert response.status_code == 200, url
    with django_assert_max_num_queries(16):  # incl. the coaching comparison and the history chart
        assert staff_client.get(f"/tutors/{tutor.pk}/").status_code == 200
    with django_assert_max_num_queries(13):  # incl. the savepoint pair, the queue counter, the role
        response = staff_client.post(
            f"/alerts/{alert.pk}/acknowledge/", HTTP_HX_REQUEST="true", data={"show_tutor": "1"}
        )
        assert response.status_code == 200
    assert Session.objects.count() == 3 * size
