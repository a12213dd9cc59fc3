"""The daily digest: one line per tutor in four sections, snoozed alerts counted not listed, the
platform's week from the dashboard's trend, and short enough to read for the demo data."""

import io
import re
from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.core import mail as django_mail
from django.core.management import call_command

from reports import delivery, digest, outbox
from reports.models import EmailReport
from scoring import alerts as alert_actions
from scoring.models import Alert, AlertEvent
from sessions.models import Tutor
from tutorscore.testing import NOW, day

INVALID = "INVALID_TEMPLATE_VARIABLE"


def send_digest(now=NOW):
    assert delivery.deliver_reports(outbox.queue_digest(now=now), now=now) == 2
    message = django_mail.outbox[0]
    html = message.alternatives[0][0]
    assert INVALID not in message.subject + message.body + html
    return message, html


def section(body, heading):
    """The lines of one section of the text part, heading excluded."""
    lines = body.split("\n")
    start = next(index for index, line in enumerate(lines) if line.startswith(heading))
    end = lines.index("", start)
    return lines[start + 1 : end]


def tutor_lines(body):
    return [line for line in body.split("\n") if line.startswith("- ") and ": " in line]


@pytest.fixture
def digest_data(scoring_settings, make_tutor, make_session, make_score, make_alert, low_risk, staff_user):
    """This week 4 sessions, 1 tutor reschedule (25%); the week before 5, 2 (40%). Alerts: Ada new
    (reschedule) and open for 10 days (no-show); Bea open 3 days, acknowledged and assigned; Cy
    resolved this morning; Dee snoozed; Eve resolved two days ago (before the last digest)."""
    ada, bea, cy = make_tutor("Ada Tutor"), make_tutor("Bea Tutor"), make_tutor("Cy Tutor")
    dee, eve = make_tutor("Dee Tutor"), make_tutor("Eve Tutor")
    make_score(ada, risk_score=Decimal("72.50"))
    make_score(bea, risk_score=Decimal("40.00"), level="medium", is_high_risk=False)
    make_score(cy, **low_risk)
    make_session(ada, days_ago=1)
    make_session(ada, days_ago=2, status="rescheduled", reason="sick")
    make_session(bea, days_ago=3, status="rescheduled", initiator="student")
    make_session(cy, days_ago=6, status="no_show")
    make_session(cy, days_ago=-1, status="scheduled")  # has not happened: counts nowhere
    make_session(ada, days_ago=8, status="rescheduled")
    make_session(ada, days_ago=9, status="rescheduled")
    make_session(bea, days_ago=10)
    make_session(bea, days_ago=12)
    make_session(cy, days_ago=13)
    make_session(cy, days_ago=20)  # older: outside both weeks
    make_alert(ada, kind="reschedule_rate", hours_ago=2)
    make_alert(ada, kind="no_show_rate", hours_ago=240)
    make_alert(bea, kind="first_session", hours_ago=72, status="acknowledged", assignee=staff_user)
    make_alert(cy, kind="reschedule_rate", hours_ago=30, status="resolved", resolution="coached")
    make_alert(dee, kind="no_show_rate", hours_ago=5, snoozed_until=NOW + timedelta(days=2))
    make_alert(
        eve, kind="no_show_rate", hours_ago=100, status="resolved", resolved_at=NOW - timedelta(days=2)
    )
    return ada, bea, cy


def test_digest_sections_against_known_data(digest_data):
    ada, bea, cy = digest_data
    context = digest.digest_context(now=NOW)

    assert context["since"] == NOW - timedelta(hours=24)
    assert context["week"] == {
        "sessions": 4,
        "previous_sessions": 5,
        "session_change": -1,
        "reschedule_rate": Decimal("25.00"),
        "previous_reschedule_rate": Decimal("40.00"),
        "reschedule_rate_change": Decimal("-15.00"),
    }
    assert (context["new_alerts_count"], context["open_alerts_count"]) == (1, 3)
    assert (context["resolved_alerts_count"], context["snoozed_count"]) == (1, 1)
    assert [row["tutor"] for row in context["new"]["rows"]] == [ada]
    assert [row["tutor"] for row in context["still_open"]["rows"]] == [bea]
    assert [row["tutor"] for row in context["resolved"]["rows"]] == [cy]


def test_the_week_is_the_overview_charts_last_two_weeks(digest_data):
    from scoring.timeseries import platform_weekly_trend

    *_, previous, week = platform_weekly_trend(now=NOW)
    figures = digest.week_figures(now=NOW)
    assert (figures["sessions"], figures["reschedule_rate"]) == (week.sessions, week.rate)
    assert (figures["previous_sessions"], figures["previous_reschedule_rate"]) == (
        previous.sessions,
        previous.rate,
    )


def test_digest_mail_one_line_per_tutor_in_both_parts(digest_data):
    ada, bea, cy = digest_data
    message, html = send_digest()

    assert message.subject == f"TutorScore digest, {day(0, '%-d %b %Y')}: 1 new alert, 3 open, 1 resolved"
    assert message.body.startswith(
        f"1 new alert since {day(1, '%a %-d %b, %H:%M')} UTC; 3 open, 1 resolved\n"
    )
    assert "Last 7 days: 4 sessions (−1 on the 7 days before), tutor reschedule rate 25% (−15 pts)" in (
        message.body
    )
    # New: the tutor's new flag with its evidence, and on the same line its older open alert.
    assert section(message.body, "New since the last digest (1)") == [
        "- Ada Tutor: reschedule rate (3 of 8 rescheduled, 7 d); no-show rate, open 10 d"
    ]
    assert section(message.body, "Still open, oldest first") == [
        "- Bea Tutor: first-session retention, open 3 d, assigned to coach",
        "1 snoozed alert not listed: back in the queue when the snooze ends.",
    ]
    assert section(message.body, "Resolved since the last digest (1)") == [
        "- Cy Tutor: reschedule rate resolved (coached)"
    ]
    assert "Eve Tutor" not in message.body  # resolved before the last digest
    assert "Dee Tutor" not in message.body and "Dee Tutor" not in html  # snoozed: counted only
    for tutor in (ada, bea, cy):
        assert html.count(f'href="http://testserver/tutors/{tutor.pk}/"') == 1
        assert message.body.count(tutor.name) == 1
    assert "http://testserver/alerts/" in message.body and "http://testserver/alerts/" in html
    row = EmailReport.objects.filter(kind="digest").first()
    assert (row.event_key, row.tutor) == (f"digest:{day(0)}", None)


def test_a_tutor_with_an_open_and_a_resolved_alert_is_listed_once_as_still_open(
    scoring_settings, make_tutor, make_score, make_alert
):
    ada = make_tutor("Ada Tutor")
    make_score(ada)
    make_alert(ada, kind="no_show_rate", hours_ago=50)
    make_alert(ada, kind="reschedule_rate", hours_ago=60, status="resolved")

    message, _ = send_digest()
    assert section(message.body, "Still open, oldest first") == [
        "- Ada Tutor: no-show rate, open 2 d; reschedule rate resolved"
    ]
    assert message.body.count("Ada Tutor") == 1


def test_new_alerts_are_counted_from_the_previous_digest(digest_data):
    outbox.queue_digest(now=NOW - timedelta(hours=10))
    EmailReport.objects.update(event_key=f"digest:{day(1)}")  # as if it were the previous day's digest

    context = digest.digest_context(now=NOW)
    assert context["since"] == NOW - timedelta(hours=10)
    assert [row["tutor"].name for row in context["new"]["rows"]] == ["Ada Tutor"]
    assert [row["tutor"].name for row in context["resolved"]["rows"]] == ["Cy Tutor"]  # resolved at NOW


def test_a_snoozed_alert_comes_back_when_the_snooze_ends(digest_data):
    later = NOW + timedelta(days=3)
    context = digest.digest_context(now=later)
    assert context["snoozed_count"] == 0
    assert "Dee Tutor" in [row["tutor"].name for row in context["still_open"]["rows"]]


def test_long_sections_end_with_how_many_more(scoring_settings, make_tutor, make_alert):
    for index in range(digest.NEW_ROWS + 3):
        make_alert(make_tutor(f"Tutor {index:02}"), hours_ago=1)

    message, html = send_digest()
    lines = section(message.body, f"New since the last digest ({digest.NEW_ROWS + 3})")
    assert len(lines) == digest.NEW_ROWS + 1
    assert lines[-1] == "- and 3 more tutors: http://testserver/alerts/"
    assert "and 3 more tutors in the" in html


def test_coaching_outcomes_say_how_many_improved_and_when_too_few_sessions(
    scoring_settings, make_tutor, make_session, make_alert, staff_user
):
    acted = NOW - timedelta(days=40)

    def coached(name, reschedules_before, reschedules_after, sessions=6):
        tutor = make_tutor(name)
        for index in range(sessions):
            make_session(tutor, at=acted - timedelta(days=index + 1), status="completed")
            make_session(tutor, at=acted + timedelta(days=index + 1), status="completed")
        for index in range(reschedules_before):
            make_session(tutor, at=acted - timedelta(days=20 + index), status="rescheduled")
        for index in range(reschedules_after):
            make_session(tutor, at=acted + timedelta(days=20 + index), status="rescheduled")
        alert = make_alert(tutor, opened_at=acted - timedelta(days=1))
        AlertEvent.objects.create(
            alert=alert, action=AlertEvent.Action.ACKNOWLEDGED, actor=staff_user, created_at=acted
        )

    coached("Better Tutor", 4, 0)
    coached("Better Too", 3, 1)
    coached("Worse Tutor", 0, 3)
    coached("Quiet Tutor", 0, 0, sessions=2)  # 2 sessions a side: too few to compare

    assert digest.coaching_lines(now=NOW) == [
        "Reschedule rate: after coaching, 2 of 3 tutors improved, median −19.0 points; "
        "1 with too few sessions to compare (under 5 before or after)"
    ]
    message, _ = send_digest()
    assert section(message.body, "Coaching outcomes")[0].startswith(
        "- Reschedule rate: after coaching, 2 of 3"
    )


def test_empty_digest_is_short_and_says_so(scoring_settings):
    message, html = send_digest()

    assert message.subject == f"TutorScore digest, {day(0, '%-d %b %Y')}: 0 new alerts, 0 open, 0 resolved"
    assert "Last 7 days: 0 sessions (±0 on the 7 days before), tutor reschedule rate — (—)" in message.body
    assert section(message.body, "New since the last digest (0)") == ["None."]
    assert section(message.body, "Still open, oldest first") == ["None."]
    assert section(message.body, "Resolved since the last digest (0)") == ["None."]
    assert section(message.body, "Coaching outcomes") == ["Nobody has acted on an alert yet."]
    assert "Nobody has acted on an alert yet." in html
    assert len(message.body.splitlines()) < 25


def test_one_digest_per_day(digest_data):
    send_digest()
    assert outbox.queue_digest(now=NOW + timedelta(hours=3)) == []
    assert len(django_mail.outbox) == 2


@pytest.mark.parametrize("more_tutors", [0, 12])
def test_the_digest_asks_a_constant_number_of_queries(
    digest_data, make_tutor, make_alert, more_tutors, django_assert_max_num_queries
):
    for index in range(more_tutors):
        tutor = make_tutor(f"More Tutor {index}")
        make_alert(tutor, hours_ago=index * 10)
        make_alert(tutor, kind="no_show_rate", hours_ago=index * 20, status="resolved")
    # Last digest, every count, three sections' tutor ids, their alerts, coaching, the week (2).
    with django_assert_max_num_queries(9):
        digest.digest_context(now=NOW)


def test_next_digest_run():
    assert digest.next_digest_run(time(8, 0), now=NOW) == (NOW + timedelta(days=1)).replace(hour=8)
    assert digest.next_digest_run(time(13, 30), now=NOW) == NOW.replace(hour=13, minute=30)
    assert digest.next_digest_run("12:00", now=NOW) == NOW + timedelta(days=1)


def test_demo_data_digest_is_under_40_lines_with_every_tutor_once(scoring_settings, staff_user, make_alert):
    """`make demo`'s data (setup_demo's generate_data arguments) loaded yesterday, then a day of
    work: a coach resolved, snoozed and acknowledged some alerts, and overnight new flags opened,
    one for a tutor who already has an open alert."""
    from scoring.management.commands.setup_demo import DEMO_DATA

    loaded = NOW - timedelta(days=1, hours=1)
    call_command("generate_data", *DEMO_DATA, f"--now={loaded.isoformat()}", stdout=io.StringIO())
    alerts = list(Alert.objects.select_related("tutor").order_by("opened_at", "pk"))
    assert len(alerts) >= digest.OPEN_ROWS + 5  # enough to fill the sections
    worked = NOW - timedelta(hours=12)
    for alert in alerts[:3]:
        alert_actions.resolve(alert, user=staff_user, outcome=Alert.Resolution.COACHED, now=worked)
    for alert in alerts[3:5]:
        alert_actions.snooze(alert, until=NOW + timedelta(days=7), user=staff_user, now=worked)
    alert_actions.acknowledge(alerts[5], user=staff_user, now=worked)
    quiet = Tutor.objects.exclude(alerts__isnull=False).order_by("name")[:3]
    for tutor in [*quiet, alerts[-1].tutor]:
        make_alert(tutor, kind="no_show_rate", hours_ago=3, message="Missed 4 of 12 sessions")

    message, html = send_digest()
    lines = message.body.splitlines()
    assert len(lines) < 40, message.body
    for heading in ("New since the last digest (4)", "Still open", "Resolved since the last digest (3)"):
        assert section(message.body, heading)[0].startswith("- "), message.body
    assert "2 snoozed alerts not listed" in message.body
    names = [
        re.match(r"- (.+?): ", line).group(1)
        for line in tutor_lines(message.body)
        if "more tutor" not in line
    ]
    assert len(names) == len(set(names)), message.body
    listed = re.findall(r'href="http://testserver/tutors/([0-9a-f-]+)/"', html)
    assert len(listed) == len(set(listed))
