"""What each mail says (subject, key numbers, reasons, link), who gets it, and when."""

from datetime import timedelta

from django.core import mail as django_mail

from reports import delivery, outbox
from reports.models import EmailReport
from scoring.models import ScoringSettings
from tutorscore.testing import NOW, day

INVALID = "INVALID_TEMPLATE_VARIABLE"


def send_session_report(session):
    return delivery.deliver_reports(outbox.queue_session_report(session, now=NOW), now=NOW)


def assert_clean(message):
    html = message.alternatives[0][0]
    assert INVALID not in message.subject
    assert INVALID not in message.body
    assert INVALID not in html
    return html


# --- per-session report


def test_session_report_of_a_flagged_tutor_says_why_with_numbers_and_links(scoring_settings, flagged_session):
    assert send_session_report(flagged_session) == 2

    assert [m.to for m in django_mail.outbox] == [["lead@example.com"], ["ops@example.com"]]
    message = django_mail.outbox[0]
    html = assert_clean(message)
    assert message.subject == f"[High risk] Ada Tutor: rescheduled session, {day(1, '%-d %b %H:%M')} UTC"
    # The most important line comes first, in both parts.
    assert message.body.startswith(
        "Ada Tutor is high risk: Rescheduled 3 of 8 sessions in the last 7 days (37.5%, threshold 15%)\n"
    )
    tutor_url = f"http://testserver/tutors/{flagged_session.tutor_id}/"
    for part in (message.body, html):
        assert str(flagged_session.pk) in part
        assert "student-42" in part
        assert f"{day(1, '%a %-d %b %Y, %H:%M')} UTC" in part
        assert "last-minute" in part
        assert "Double-booked with another class" in part
        assert "37.5%" in part and "20%" in part and "12%" in part  # 7/30/90-day rates
        assert "2 of 3 reschedules were last-minute (&lt;24 h)" in part or "(<24 h)" in part
        assert "Schedule a calendar-planning check-in" in part
        assert "73/100" in part and "3 of 8 rescheduled, 7 d" in part  # the score's state and why
        assert tutor_url in part
    assert "- 7 days: 3 tutor reschedules of 8 sessions, 37.5%" in message.body
    assert html.index("Ada Tutor is high risk") < html.index("student-42")
    assert 'name="viewport"' in html


def test_session_report_rows_record_each_recipient_and_the_event(scoring_settings, flagged_session):
    send_session_report(flagged_session)

    rows = EmailReport.objects.order_by("recipient_email")
    assert [(r.recipient_email, r.status, r.attempts) for r in rows] == [
        ("lead@example.com", "sent", 1),
        ("ops@example.com", "sent", 1),
    ]
    row = rows[0]
    assert row.kind == "session_report"
    assert row.event_key == f"session:{flagged_session.pk}:rescheduled"
    assert (row.session, row.tutor, row.alert) == (flagged_session, flagged_session.tutor, None)
    assert row.subject == django_mail.outbox[0].subject
    assert NOW <= row.sent_at < NOW + timedelta(minutes=1)  # when it went (the clock ticks)
    assert row.provider_message_id == ""  # Django's locmem backend has no provider id


def test_flagged_mode_skips_a_tutor_who_is_not_high_risk(
    scoring_settings, make_tutor, make_session, make_score, low_risk
):
    tutor = make_tutor("Bea Tutor")
    make_score(tutor, **low_risk)
    session = make_session(tutor, days_ago=1)

    assert outbox.queue_session_report(session, now=NOW) == []
    assert EmailReport.objects.count() == 0


def test_all_mode_reports_every_session(scoring_settings, make_tutor, make_session, make_score, low_risk):
    scoring_settings.session_report_mode = ScoringSettings.ReportMode.ALL
    scoring_settings.save()
    tutor = make_tutor("Bea Tutor")
    make_score(tutor, **low_risk)
    session = make_session(tutor, days_ago=1, duration_minutes=45, student_rating=5)

    assert send_session_report(session) == 2
    message = django_mail.outbox[0]
    html = assert_clean(message)
    assert message.subject == f"Bea Tutor: completed session, {day(1, '%-d %b %H:%M')} UTC"
    assert message.body.startswith("Bea Tutor: low risk after a completed session\n")
    assert "45 min" in html and "rated 5/5" in html


def test_all_mode_reports_a_tutor_without_a_score_yet(scoring_settings, make_tutor, make_session):
    scoring_settings.session_report_mode = "all"
    scoring_settings.save()
    session = make_session(make_tutor("New Tutor"), days_ago=1, status="no_show")

    send_session_report(session)
    message = django_mail.outbox[0]
    assert_clean(message)
    assert message.body.startswith("New Tutor: no-show session (not scored yet)\n")
    assert "New Tutor has not been scored yet." in message.body
    assert "by the tutor" in message.body


def test_off_mode_sends_nothing_even_for_a_flagged_tutor(scoring_settings, flagged_session):
    scoring_settings.session_report_mode = "off"
    scoring_settings.save()

    assert outbox.queue_session_report(flagged_session, now=NOW) == []
    assert django_mail.outbox == []


def test_no_recipients_means_no_rows(db, flagged_session):
    assert ScoringSettings.load().recipients == []
    assert outbox.queue_session_report(flagged_session, now=NOW) == []
    assert EmailReport.objects.count() == 0


def test_a_session_that_has_not_happened_is_not_reported(
    scoring_settings, make_tutor, make_session, make_score
):
    tutor = make_tutor()
    make_score(tutor)
    session = make_session(tutor, days_ago=-1, status="scheduled")
    assert outbox.queue_session_report(session, now=NOW) == []


def test_recipients_come_from_scoring_settings(scoring_settings, flagged_session):
    scoring_settings.report_recipients = "one@example.com\n\n two@example.com, three@example.com"
    scoring_settings.save()

    send_session_report(flagged_session)
    assert sorted(m.to[0] for m in django_mail.outbox) == [
        "one@example.com",
        "three@example.com",
        "two@example.com",
    ]


def test_a_new_status_of_the_same_session_is_a_new_event(scoring_settings, flagged_session):
    send_session_report(flagged_session)
    flagged_session.status = "no_show"
    flagged_session.save()
    flagged_session.reschedule.delete()
    send_session_report(flagged_session)

    assert sorted(EmailReport.objects.values_list("event_key", flat=True)) == sorted(
        [f"session:{flagged_session.pk}:rescheduled"] * 2 + [f"session:{flagged_session.pk}:no_show"] * 2
    )
    assert len(django_mail.outbox) == 4


def test_names_are_escaped_in_html_but_not_in_subject_or_text(
    scoring_settings, make_tutor, make_session, make_score
):
    tutor = make_tutor("Tom & <Jerry>")
    make_score(tutor)
    send_session_report(make_session(tutor, days_ago=1))

    message = django_mail.outbox[0]
    assert message.subject.startswith("[High risk] Tom & <Jerry>: completed session")
    assert message.body.startswith("Tom & <Jerry> is high risk")
    assert "Tom &amp; &lt;Jerry&gt;" in message.alternatives[0][0]
    assert "<Jerry>" not in message.alternatives[0][0]


# --- alert mail


def test_alert_mail_names_the_alert_and_links_to_it(scoring_settings, make_tutor, make_score, make_alert):
    tutor = make_tutor("Ada Tutor")
    make_score(tutor)
    alert = make_alert(tutor, kind="reschedule_rate")

    ids = outbox.batch_alerts(now=NOW)
    assert delivery.deliver_reports(ids, now=NOW) == 2

    message = django_mail.outbox[0]
    html = assert_clean(message)
    assert message.subject == "[Alert] Ada Tutor: reschedule rate"
    assert message.body.startswith(
        "New reschedule rate alert for Ada Tutor: "
        "Rescheduled 3 of 8 sessions in the last 7 days (37.5%, threshold 15%)\n"
    )
    alert_url = f"http://testserver/tutors/{tutor.pk}/#alert-{alert.pk}"
    for part in (message.body, html):
        assert alert_url in part
        assert f"{day(1 / 24, '%a %-d %b %Y, %H:%M')} UTC" in part
        assert "Schedule a calendar-planning check-in" in part
    row = EmailReport.objects.get(recipient_email="lead@example.com")
    assert (row.kind, row.event_key, row.alert, row.tutor, row.status) == (
        "alert",
        f"alerts:{alert.pk}",
        alert,
        tutor,
        "sent",
    )
    assert list(row.alerts.all()) == [alert]


def test_a_batch_of_alerts_is_one_mail_listing_them_all(scoring_settings, make_tutor, make_score, make_alert):
    ada, bo = make_tutor("Ada Tutor"), make_tutor("Bo Tutor")
    make_score(ada)
    first = make_alert(ada, kind="reschedule_rate")
    second = make_alert(bo, kind="no_show_rate", message="Missed 3 of 10 sessions in the last 30 days")

    assert delivery.deliver_reports(outbox.batch_alerts(now=NOW), now=NOW) == 2

    assert [m.to for m in django_mail.outbox] == [["lead@example.com"], ["ops@example.com"]]
    message = django_mail.outbox[0]
    html = assert_clean(message)
    assert message.subject == "[Alerts] 2 new alerts for 2 tutors"
    for part in (message.body, html):
        assert f"http://testserver/tutors/{ada.pk}/#alert-{first.pk}" in part
        assert f"http://testserver/tutors/{bo.pk}/#alert-{second.pk}" in part
        assert "Missed 3 of 10 sessions in the last 30 days" in part
        assert "http://testserver/alerts/" in part
    row = EmailReport.objects.get(recipient_email="lead@example.com")
    assert (row.tutor, row.alert) == (None, None)  # two tutors, two alerts: listed, not pointed at
    assert set(row.alerts.all()) == {first, second}


def test_alert_mail_is_sent_whatever_the_session_report_mode(
    scoring_settings, make_tutor, make_score, make_alert
):
    scoring_settings.session_report_mode = "off"
    scoring_settings.save()
    make_alert(make_tutor())
    assert len(outbox.batch_alerts(now=NOW)) == 2


def test_retention_line_reads_well_without_first_sessions(
    scoring_settings, make_tutor, make_session, make_score
):
    # No "— of 0": the line says there is nothing to measure yet.
    scoring_settings.session_report_mode = ScoringSettings.ReportMode.ALL
    scoring_settings.save()
    tutor = make_tutor("Bea Tutor")
    make_score(tutor, first_sessions_90d=0, retained_first_sessions_90d=0, first_session_retention_90d=None)
    send_session_report(make_session(tutor, days_ago=1))

    message = django_mail.outbox[0]
    html = message.alternatives[0][0]
    assert "- First-session retention (90 days): no first sessions yet\n" in message.body
    assert "First-session retention (90 days): no first sessions yet<br>" in html
    assert "— of 0" not in message.body and "— of 0" not in html


def test_retention_line_names_what_it_counts(scoring_settings, flagged_session):
    send_session_report(flagged_session)

    message = django_mail.outbox[0]
    assert "- First-session retention (90 days): 75% of 4 first sessions\n" in message.body
    assert "First-session retention (90 days): 75% of 4 first sessions<br>" in message.alternatives[0][0]
