"""Issue 14: lists say which flag fired and why; trends over time from the daily snapshots."""

from datetime import UTC, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.utils import timezone

from scoring.explain import evidence_chips, kind_why
from scoring.models import AlertEvent, TutorScoreHistory
from scoring.trends import HistoryRangeForm, events_of, sparkline_values, week_change
from tutorscore.testing import NOW, make_alert, make_score

pytestmark = pytest.mark.django_db

FLAGGED_RESCHEDULES = {"state": "flagged", "window_days": 7, "events": 3, "total": 8, "strength": 60.0}
WATCHED_NO_SHOWS = {"state": "watching", "window_days": 30, "events": 2, "total": 16, "strength": 9.0}
CLEAR_FIRST = {"state": "clear", "window_days": 90, "events": 0, "total": 4, "strength": 0.0}


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    cache.clear()  # the overview's weekly trend is cached


@pytest.fixture
def flagged(make_tutor):
    tutor = make_tutor("Ann Able", "ann@example.com")
    make_score(
        tutor,
        level="high",
        risk_score="70",
        evidence={
            "no_show_rate": WATCHED_NO_SHOWS,
            "reschedule_rate": FLAGGED_RESCHEDULES,
            "first_session": CLEAR_FIRST,
        },
    )
    return tutor


# --- Lists say why ----------------------------------------------------------------------------


def test_chips_name_the_kinds_over_threshold_flags_first():
    evidence = {
        "no_show_rate": WATCHED_NO_SHOWS,
        "reschedule_rate": FLAGGED_RESCHEDULES,
        "first_session": CLEAR_FIRST,
    }
    assert evidence_chips(evidence) == [
        ("reschedule_rate", "Reschedules", "flagged"),
        ("no_show_rate", "No-shows", "watching"),
    ]
    assert evidence_chips({}) == evidence_chips(None) == []


def test_kind_why_says_the_evidence_of_one_kind():
    evidence = {"no_show_rate": WATCHED_NO_SHOWS, "first_session": {**CLEAR_FIRST, "total": 0}}
    assert kind_why(evidence, "no_show_rate") == "2 of 16 missed, 30 d"
    assert kind_why(evidence, "reschedule_rate") == ""  # no verdict of that kind
    assert kind_why(evidence, "first_session") == ""  # no data: nothing to say
    assert kind_why(None, "no_show_rate") == ""


def test_tutor_list_and_overview_rows_name_the_flag_and_its_evidence(staff_client, flagged):
    for url in ("/tutors/", "/"):
        page = staff_client.get(url).content.decode()
        assert '<span class="chip chip-flagged"' in page and ">Reschedules<" in page, url
        assert "No-shows" in page and "chip-watching" in page, url
        assert "3 of 8 rescheduled, 7 d" in page, url
        assert "First sessions" not in page, url  # clear: no chip


def test_recent_alerts_name_the_kind_and_the_tutors_evidence_for_it(staff_client, flagged, make_tutor):
    make_alert(flagged, kind="no_show_rate")
    make_alert(make_tutor("Cy New"), kind="first_session")  # unscored tutor: no evidence to show
    with_alerts = staff_client.get("/").content.decode()
    feed = with_alerts.split('class="alert-feed"')[1].split("</ul>")[0]
    assert 'No-shows</span> <span class="why">2 of 16 missed, 30 d</span>' in feed
    assert "First sessions</span>\n" in feed


# --- Trends on the tutor page -------------------------------------------------------------------

TODAY = NOW.astimezone(UTC).date()


def snapshot(tutor, days_ago, *, risk="10", rate30=None, total30=0, rate7=None, total7=0):
    return TutorScoreHistory.objects.create(
        tutor=tutor,
        date=TODAY - timedelta(days=days_ago),
        risk_score=Decimal(risk),
        reschedule_rate_30d=None if rate30 is None else Decimal(rate30),
        total_sessions_30d=total30,
        reschedule_rate_7d=None if rate7 is None else Decimal(rate7),
        total_sessions_7d=total7,
    )


def day_text(days_ago):
    day = TODAY - timedelta(days=days_ago)
    return f"{day:%b} {day.day}"


def form(data):
    return HistoryRangeForm(data, today=TODAY)


def test_range_form_presets_custom_dates_and_the_default():
    assert form({}).date_range() == (TODAY - timedelta(days=89), TODAY)
    assert form({"days": "30"}).date_range() == (TODAY - timedelta(days=29), TODAY)
    assert form({"days": "180"}).preset == 180
    start = TODAY - timedelta(days=20)
    custom = form({"from": start.isoformat(), "to": (TODAY - timedelta(days=5)).isoformat()})
    assert custom.date_range() == (start, TODAY - timedelta(days=5)) and custom.preset is None
    assert form({"from": start.isoformat()}).date_range() == (start, TODAY)  # "to" defaults to today
    assert form({"to": start.isoformat()}).date_range() == (start - timedelta(days=89), start)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"days": "45"}, "Select a valid choice"),
        ({"from": "2020-02-30"}, "Enter a valid date"),
        ({"from": "yesterday"}, "Enter a valid date"),
        ({"to": "9999-12-31"}, "in the future"),
        ({"from": "+5", "to": "-1"}, "Enter a valid date"),
        ({"from": "START", "to": "END"}, "after the end date"),
        ({"from": "LONG", "to": "END"}, "at most 366 days"),
    ],
)
def test_range_form_refuses_bad_ranges_and_falls_back_to_the_default(data, message):
    dates = {
        "START": TODAY - timedelta(days=3),
        "END": TODAY - timedelta(days=10),
        "LONG": TODAY - timedelta(days=400),
    }
    data = {key: dates[value].isoformat() if value in dates else value for key, value in data.items()}
    bad = form(data)
    assert not bad.is_valid()
    assert any(message in text for text in bad.error_messages()), bad.error_messages()
    assert bad.date_range() == (TODAY - timedelta(days=89), TODAY)


def test_sample_size_behind_a_stored_rate():
    assert events_of(Decimal("20.00"), 20) == 4
    assert events_of(Decimal("33.33"), 3) == 1
    assert events_of(Decimal("66.67"), 3) == 2
    assert events_of(None, 5) is None and events_of(Decimal("0"), 0) is None


def test_tutor_page_draws_the_chosen_range_with_sample_sizes_and_alert_marks(
    staff_client, flagged, staff_user
):
    snapshot(flagged, 40, risk="20", rate30="10.00", total30=10)
    snapshot(flagged, 10, risk="55", rate30="20.00", total30=20, rate7="33.33", total7=3)
    alert = make_alert(flagged, kind="no_show_rate", opened_at=NOW - timedelta(days=10))
    AlertEvent.objects.create(
        alert=alert, action="note", actor=staff_user, text="Called her", created_at=NOW - timedelta(days=9)
    )
    before_range = NOW - timedelta(days=60)
    AlertEvent.objects.create(alert=alert, action="resolved", created_at=before_range)

    page = staff_client.get(f"/tutors/{flagged.pk}/?days=30").content.decode()
    assert 'aria-current="true">30 days</a>' in page
    chart = page.split('id="history-h"')[1].split("</svg>")[0]
    assert f"<title>{day_text(10)}: 30-day reschedule rate 20.00% (4 of 20 sessions)</title>" in chart
    assert f"<title>{day_text(10)}: 7-day reschedule rate 33.33% (1 of 3 sessions)</title>" in chart
    assert f"<title>{day_text(10)}: Risk score 55</title>" in chart
    assert f"<title>{day_text(0)}: Risk score 70</title>" in chart  # today: the live score
    assert day_text(40) + ": Risk score" not in chart  # before the range
    assert f"<title>{day_text(10)}: No-show rate alert opened by the system</title>" in chart
    assert f"{day_text(9)}: No-show rate note by coach" in chart
    assert "No-show rate alert resolved" not in page
    assert "stroke" not in chart  # styling comes from the stylesheet (CSP: no inline style)
    table = page.split('class="history-table"')[1].split("</details>")[0]
    assert "20.00% (4 of 20 sessions)" in table and "Called her" not in table

    wide = staff_client.get(f"/tutors/{flagged.pk}/?days=90").content.decode()
    assert day_text(40) + ": Risk score 20" in wide


def test_tutor_page_keeps_custom_dates_in_the_form_and_reports_bad_ones(staff_client, flagged):
    start = (TODAY - timedelta(days=12)).isoformat()
    page = staff_client.get(f"/tutors/{flagged.pk}/?from={start}&to={TODAY.isoformat()}").content.decode()
    assert f'name="from" value="{start}"' in page and 'role="alert"' not in page
    assert 'aria-current="true">' not in page.split('id="history-h"')[1].split("</nav>")[0]

    bad = staff_client.get(f"/tutors/{flagged.pk}/?from={TODAY.isoformat()}&to={start}")
    assert bad.status_code == 200
    assert "The start date is after the end date." in bad.content.decode()
    assert "Showing the last 90 days instead." in bad.content.decode()


def test_tutor_without_history_or_score_says_so(staff_client, make_tutor):
    page = staff_client.get(f"/tutors/{make_tutor('Cy New').pk}/").content.decode()
    assert "No snapshot in this range yet" in page


# --- Sparklines and week-on-week change in the tutor list ---------------------------------------


def test_sparkline_values_come_from_weekly_snapshots_then_the_live_score():
    snapshots = {TODAY - timedelta(days=49): Decimal("10"), TODAY - timedelta(days=7): Decimal("40")}
    values = sparkline_values(snapshots, Decimal("70"), TODAY)
    assert values == [Decimal("10"), None, None, None, None, None, Decimal("40"), Decimal("70")]
    assert week_change(values) == Decimal("30")
    assert week_change([None, Decimal("5")]) is None and week_change([Decimal("5"), None]) is None


def test_tutor_list_shows_the_sparkline_and_the_change_on_a_week_ago(staff_client, flagged, make_tutor):
    snapshot(flagged, 49, risk="10")
    snapshot(flagged, 7, risk="40")
    snapshot(flagged, 3, risk="99")  # not a weekly point
    steady = make_tutor("Bob Busy")
    make_score(steady, level="low", risk_score="12")
    snapshot(steady, 7, risk="12")
    make_score(make_tutor("Cy New"), level="low", risk_score="5")  # no history yet

    page = staff_client.get("/tutors/").content.decode()
    weeks = "10, no data, no data, no data, no data, no data, 40, 70"
    assert f'aria-label="Risk score, weekly over the last 8 weeks: {weeks}"' in page
    assert "▲ +30<span" in page and "± 0<span" in page
    assert page.count('class="sparkline"') == 3
    assert page.count('class="change') == 2  # Cy: no week-ago snapshot, no change


def test_tutor_list_trends_cost_one_query_for_the_whole_page(
    staff_client, make_tutor, django_assert_max_num_queries
):
    def add_tutors(count, first):
        for index in range(first, first + count):
            tutor = make_tutor(f"Tutor {index:02}")
            make_score(tutor, level="low", risk_score=str(index))
            for weeks in range(1, 8):
                snapshot(tutor, 7 * weeks, risk=str(index))

    add_tutors(2, 0)
    staff_client.get("/tutors/")  # warm up the session and the settings cache
    with django_assert_max_num_queries(8) as few:
        staff_client.get("/tutors/")
    add_tutors(23, 2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = staff_client.get("/tutors/").content.decode()
    assert html.count('class="sparkline"') == 25


# --- As of --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/tutors/", "/alerts/", "/how-scores-work/"])
def test_every_page_says_as_of_when_in_the_display_time_zone(staff_client, url, settings):
    settings.TIME_ZONE = "Asia/Kolkata"  # DISPLAY_TIME_ZONE: UTC+5:30, never the server's zone by chance
    shown = NOW.astimezone(ZoneInfo("Asia/Kolkata"))
    as_of = staff_client.get(url).content.decode().split('<p class="as-of" id="as-of">')[1].split("</p>")[0]
    assert f"{shown:%b} {shown.day}, {shown:%H:%M} IST" in as_of


@pytest.mark.parametrize("url", ["/", "/tutors/", "/alerts/", "/alerts/?kind=no_show_rate"])
def test_a_polled_fragment_updates_as_of_out_of_band(staff_client, url):
    fragment = staff_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="as-of" hx-swap-oob="true">As of' in fragment
    assert staff_client.get(url).content.decode().count('id="as-of"') == 1


# --- Phone and keyboard -------------------------------------------------------------------------


def test_the_sort_control_reflects_the_state_and_rides_with_the_filter_form(staff_client, flagged):
    page = staff_client.get("/tutors/?sort=name&order=desc").content.decode()
    control = page.split('class="sort-control"')[1].split("</div>")[0]
    assert '<select id="id_sort" name="sort" form="filters"' in control
    assert '<option value="name" selected>Name</option>' in control
    assert '<option value="desc" selected>' in control
    assert '<noscript><button type="submit" form="filters"' in control  # sorts without JavaScript
    assert 'id="sort-name"' in page  # htmx puts the focus back on the header link after the swap

    unknown = staff_client.get("/tutors/?sort=evil&order=sideways").content.decode()
    assert '<option value="risk" selected>' in unknown and '<option value="" selected>Usual' in unknown


def test_pager_links_and_their_placeholders_share_ids_for_the_focus(staff_client, make_tutor):
    for index in range(26):
        make_tutor(f"Tutor {index:02}")
    first = staff_client.get("/tutors/").content.decode()
    assert '<span class="disabled" id="tutor-list-pages-prev" tabindex="-1">' in first
    assert '<a rel="next" id="tutor-list-pages-next"' in first
    last = staff_client.get("/tutors/?page=2", HTTP_HX_REQUEST="true").content.decode()
    assert '<a rel="prev" id="tutor-list-pages-prev"' in last
    assert '<span class="disabled" id="tutor-list-pages-next" tabindex="-1">' in last
