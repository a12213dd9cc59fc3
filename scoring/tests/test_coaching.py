"""Did coaching work: the before/after comparison of each acted-on alert, its summary and CSV."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest

from scoring import alerts
from scoring.coaching import coaching_outcomes, summarize
from tutorscore.testing import NOW, make_alert, role


def sessions(make_session, tutor, *, first_day_ago, count, rescheduled=0, no_shows=0):
    """`count` sessions one a day from `first_day_ago` days before NOW, the first ones rescheduled
    by the tutor or missed by the tutor."""
    for index in range(count):
        at = NOW - timedelta(days=first_day_ago - index, hours=1)
        if index < rescheduled:
            make_session(tutor, at=at, status="rescheduled", initiator="tutor")
        elif index < rescheduled + no_shows:
            make_session(tutor, at=at, status="no_show", no_show_by="tutor")
        else:
            make_session(tutor, at=at)


def test_reschedule_rate_before_and_after_the_first_action(make_tutor, make_session, staff_user):
    tutor = make_tutor("Coached")
    alert = make_alert(tutor, opened_at=NOW - timedelta(days=41))
    alerts.acknowledge(alert, user=staff_user, now=NOW - timedelta(days=40))
    alerts.add_note(alert, text="Talked", user=staff_user, now=NOW - timedelta(days=35))  # not the first
    sessions(make_session, tutor, first_day_ago=65, count=10, rescheduled=4)  # days 65..56 before: before
    sessions(make_session, tutor, first_day_ago=39, count=8, rescheduled=1)  # after
    make_session(tutor, days_ago=1, status="rescheduled", initiator="tutor")  # past the 30 days after
    [outcome] = coaching_outcomes(now=NOW)
    assert (outcome.sessions_before, outcome.events_before) == (10, 4)
    assert (outcome.sessions_after, outcome.events_after) == (8, 1)
    assert (outcome.rate_before, outcome.rate_after, outcome.change) == (
        Decimal("40.00"),
        Decimal("12.50"),
        Decimal("-27.50"),
    )
    assert outcome.verdict == "improved"


@pytest.fixture
def coached(make_tutor, make_session, staff_user):
    """Four acted-on alerts, one of each case, and one only the system touched."""
    improved = make_tutor("Improved")
    alert = make_alert(improved, opened_at=NOW - timedelta(days=41))
    alerts.acknowledge(alert, user=staff_user, now=NOW - timedelta(days=40))
    sessions(make_session, improved, first_day_ago=65, count=10, rescheduled=4)  # 40%
    sessions(make_session, improved, first_day_ago=39, count=8, rescheduled=1)  # 12.5%

    worse = make_tutor("Worse")
    alert = make_alert(worse, kind="no_show_rate", opened_at=NOW - timedelta(days=50))
    alerts.assign(alert, assignee=staff_user, user=staff_user, now=NOW - timedelta(days=45))
    sessions(make_session, worse, first_day_ago=70, count=5, no_shows=1)  # 20%
    sessions(make_session, worse, first_day_ago=44, count=5, no_shows=2)  # 40%

    thin = make_tutor("Thin")
    alert = make_alert(thin, opened_at=NOW - timedelta(days=60))
    alerts.resolve(alert, user=staff_user, outcome="coached", now=NOW - timedelta(days=59))
    sessions(make_session, thin, first_day_ago=80, count=10, rescheduled=5)
    sessions(make_session, thin, first_day_ago=58, count=4)  # fewer than 5 after

    recent = make_tutor("Recent")
    alert = make_alert(recent, opened_at=NOW - timedelta(days=11))
    alerts.add_note(alert, text="Called =HYPERLINK()", user=staff_user, now=NOW - timedelta(days=10))
    sessions(make_session, recent, first_day_ago=30, count=10, rescheduled=3)

    untouched = make_tutor("=Untouched")
    make_alert(untouched, opened_at=NOW - timedelta(days=60))
    sessions(make_session, untouched, first_day_ago=80, count=10, rescheduled=5)
    return {"improved": improved, "worse": worse, "thin": thin, "recent": recent}


def test_every_case_of_the_comparison(coached):
    by_name = {outcome.alert.tutor.name: outcome for outcome in coaching_outcomes(now=NOW)}
    assert list(by_name) == ["Recent", "Improved", "Worse", "Thin"]  # newest first action first
    worse = by_name["Worse"]
    assert (worse.rate_before, worse.rate_after, worse.change, worse.verdict) == (
        Decimal("20.00"),
        Decimal("40.00"),
        Decimal("20.00"),
        "worse",
    )
    thin = by_name["Thin"]
    assert (thin.sessions_before, thin.sessions_after, thin.change) == (10, 4, None)
    assert thin.verdict == "too few sessions to compare"
    recent = by_name["Recent"]
    assert (recent.sessions_before, recent.events_before, recent.rate_after) == (10, 3, None)
    assert recent.verdict == f"too early: compare after {NOW + timedelta(days=20):%b %-d, %Y}"


def test_summary_per_kind(coached):
    summaries = {summary.kind_label: summary for summary in summarize(coaching_outcomes(now=NOW))}
    reschedule = summaries["Reschedule rate"]
    assert (reschedule.compared, reschedule.improved, reschedule.median_change) == (1, 1, Decimal("-27.50"))
    assert (reschedule.too_few, reschedule.waiting) == (1, 1)
    no_show = summaries["No-show rate"]
    assert (no_show.compared, no_show.improved, no_show.median_change) == (1, 0, Decimal("20.00"))
    assert summaries["First-session retention"].compared == 0


def test_first_session_retention_counts_judged_first_sessions(make_tutor, make_session, staff_user):
    tutor = make_tutor("New students")
    alert = make_alert(tutor, kind="first_session", opened_at=NOW - timedelta(days=70))
    alerts.acknowledge(alert, user=staff_user, now=NOW - timedelta(days=60))
    # before: 2 of 6 new students came back within 14 days; after: 4 of 5
    for side, first_day_ago, count, retained in (("before", 80, 6, 2), ("after", 55, 5, 4)):
        for index in range(count):
            at = NOW - timedelta(days=first_day_ago - index)
            make_session(tutor, at=at, student_id=f"{side}-{index}")
            if index < retained:
                make_session(tutor, at=at + timedelta(days=3), student_id=f"{side}-{index}")
    [outcome] = coaching_outcomes(now=NOW)
    assert (outcome.sessions_before, outcome.events_before, outcome.sessions_after, outcome.events_after) == (
        6,
        2,
        5,
        4,
    )
    assert (outcome.rate_before, outcome.rate_after, outcome.verdict) == (
        Decimal("33.33"),
        Decimal("80.00"),
        "improved",
    )


def test_a_snooze_or_the_system_is_not_coaching(make_tutor, staff_user):
    alert = make_alert(make_tutor(), opened_at=NOW - timedelta(days=40))
    alerts.snooze(alert, until=NOW + timedelta(days=1), user=staff_user, now=NOW - timedelta(days=39))
    assert coaching_outcomes(now=NOW) == []


def test_outcomes_in_one_query_whatever_the_count(coached, make_tutor, staff_user, django_assert_num_queries):
    with django_assert_num_queries(1):
        coaching_outcomes(now=NOW)
    for index in range(10):
        alert = make_alert(make_tutor(f"More {index}"), opened_at=NOW - timedelta(days=40))
        alerts.acknowledge(alert, user=staff_user, now=NOW - timedelta(days=35))
    with django_assert_num_queries(1):
        assert len(coaching_outcomes(now=NOW)) == 14


def test_results_page_panel_and_tutor_block(staff_client, coached, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        html = staff_client.get("/alerts/outcomes/").content.decode()
    assert (
        "<strong>Reschedule rate:</strong>\n      1 of 1 tutor improved, median -27.5 points; "
        "1 with too few sessions to compare; 1 waiting for 30 days to pass."
    ) in html
    assert "0 of 1 tutor improved, median 20.0 points" in html
    assert "=Untouched" not in html
    tutor_page = staff_client.get(f"/tutors/{coached['thin'].pk}/").content.decode()
    assert 'id="coaching-h"' in tutor_page and "Too few sessions to compare" in tutor_page


def test_outcomes_csv(staff_client, coached):
    response = staff_client.get("/alerts/outcomes.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "Tutor" and len(rows) == 5
    improved = next(row for row in rows if row[0] == "Improved")
    assert improved[1:2] + improved[4:] == [
        "Reschedule rate",
        "10",
        "40.00",
        "8",
        "12.50",
        "-27.50",
        "improved",
    ]
    recent = next(row for row in rows if row[0] == "Recent")
    assert recent[6:9] == ["", "", ""]


def test_outcomes_csv_is_formula_safe_and_needs_the_export_permission(
    client, django_user_model, make_tutor, staff_user
):
    alert = make_alert(make_tutor("=cmd|calc"), opened_at=NOW - timedelta(days=40))
    alerts.acknowledge(alert, user=staff_user, now=NOW - timedelta(days=39))
    client.force_login(staff_user)
    rows = list(
        csv.reader(io.StringIO(b"".join(client.get("/alerts/outcomes.csv").streaming_content).decode()))
    )
    assert rows[1][0] == "'=cmd|calc"
    coach = django_user_model.objects.create_user("coach2", password="x", is_staff=True)
    coach.groups.add(role("Coach"))
    client.force_login(coach)
    assert client.get("/alerts/outcomes.csv").status_code == 403
    assert client.get("/alerts/outcomes/").status_code == 200
