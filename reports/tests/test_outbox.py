"""The outbox run: alert batches (one mail per recipient per window), what is due, the send
budget, and the email log / tutor page still finding every alert mail."""

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail as django_mail
from django.core.management import call_command

from reports import content, delivery, outbox, tasks
from reports.models import EmailReport
from scoring.models import Alert
from scoring.selectors import emails_about
from tutorscore.testing import NOW

WINDOW = timedelta(seconds=settings.MAIL_ALERT_BATCH_SECONDS)


def alert_mails():
    return EmailReport.objects.filter(kind="alert")


def test_alerts_wait_for_their_window_then_go_as_one_mail_per_recipient(
    scoring_settings, make_tutor, make_score, make_alert
):
    tutors = [make_tutor(f"Tutor {number}") for number in range(3)]
    alerts = [make_alert(tutor, hours_ago=0) for tutor in tutors]  # opened at NOW

    assert outbox.batch_alerts(now=NOW + WINDOW - timedelta(seconds=1)) == []  # more may join
    assert outbox.flush(now=NOW + WINDOW) == 2

    assert [m.to for m in django_mail.outbox] == [["lead@example.com"], ["ops@example.com"]]
    assert django_mail.outbox[0].subject == "[Alerts] 3 new alerts for 3 tutors"
    for row in alert_mails():
        assert set(row.alerts.all()) == set(alerts)
    # Mailed once: the next runs find nothing, and a later alert starts a new batch.
    assert outbox.flush(now=NOW + 2 * WINDOW) == 0
    later = make_alert(make_tutor("Later Tutor"), hours_ago=0)
    assert outbox.flush(now=NOW + 3 * WINDOW) == 2
    assert django_mail.outbox[-1].subject == "[Alert] Later Tutor: reschedule rate"
    assert alert_mails().count() == 4
    assert list(alert_mails().filter(alerts=later).values_list("alert", flat=True)) == [later.pk] * 2


def test_a_summary_lists_a_bounded_number_of_alerts_and_counts_the_rest(
    scoring_settings, make_tutor, make_alert
):
    for number in range(content.ALERT_MAIL_ROWS + 3):
        make_alert(make_tutor(f"Tutor {number:02d}"), hours_ago=1)

    assert outbox.flush(now=NOW) == 2
    message = django_mail.outbox[0]
    assert message.subject == f"[Alerts] {content.ALERT_MAIL_ROWS + 3} new alerts for 53 tutors"
    assert "and 3 more." in message.body
    assert message.body.count("/#alert-") == content.ALERT_MAIL_ROWS + 1  # the list, then the first in full


def test_resolved_old_and_already_mailed_alerts_are_not_mailed(scoring_settings, make_tutor, make_alert):
    make_alert(make_tutor("Resolved"), status="resolved")
    make_alert(make_tutor("Old"), hours_ago=25)
    mailed = make_alert(make_tutor("Mailed"))
    legacy = EmailReport.objects.create(
        kind="alert", event_key=f"alert:{mailed.pk}", recipient_email="lead@example.com", alert=mailed
    )  # a mail from before batching: one row per alert
    legacy.status = "sent"
    legacy.save()

    assert outbox.batch_alerts(now=NOW) == []
    assert outbox.flush(now=NOW) == 0


def test_no_recipients_no_alert_mail(db, make_tutor, make_alert):
    make_alert(make_tutor())
    assert outbox.flush(now=NOW) == 0
    assert not EmailReport.objects.exists()


def test_the_tutor_page_and_the_email_log_find_a_batch_mail(
    scoring_settings, make_tutor, make_alert, staff_client
):
    ada, bo = make_tutor("Ada Tutor"), make_tutor("Bo Tutor")
    make_alert(ada)
    make_alert(bo)
    outbox.flush(now=NOW)

    assert sorted((row.kind, row.recipient_email) for row in emails_about(ada)) == [
        ("alert", "lead@example.com"),
        ("alert", "ops@example.com"),
    ]
    response = staff_client.get(f"/reports/?tutor={bo.pk}")
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == 2


def test_demo_start_sends_at_most_one_mail_per_recipient(
    scoring_settings, django_capture_on_commit_callbacks
):
    """generate_data (which scores and opens alerts) then the recompute, as `make demo` does."""
    with django_capture_on_commit_callbacks(execute=True):
        call_command("generate_data", tutors=40, sessions=1200, days=90, seed=42, stdout=io.StringIO())
    opened = Alert.objects.count()
    assert opened > 1
    from scoring import tasks as scoring_tasks

    with django_capture_on_commit_callbacks(execute=True):
        scoring_tasks.recompute_all_task()
        scoring_tasks.rescore_stale()
    outbox.flush(now=NOW + timedelta(days=1))  # well after the window
    outbox.flush(now=NOW + timedelta(days=1, minutes=5))

    assert sorted(m.to[0] for m in django_mail.outbox) == ["lead@example.com", "ops@example.com"]
    row = alert_mails().get(recipient_email="lead@example.com")
    assert row.alerts.count() == opened == Alert.objects.count()


def test_the_send_budget_leaves_the_rest_pending_for_the_next_run(
    scoring_settings, flagged_session, settings, monkeypatch
):
    settings.MAIL_SEND_BUDGET_SECONDS = 0  # used up by the first mail
    clock = iter([0.0, 1.0])  # read once before each mail
    monkeypatch.setattr(outbox, "monotonic", lambda: 0.0)
    monkeypatch.setattr(delivery, "monotonic", lambda: next(clock))
    outbox.queue_session_report(flagged_session, now=NOW)

    assert outbox.flush(now=NOW) == 1
    assert sorted(EmailReport.objects.values_list("status", flat=True)) == ["pending", "sent"]
    monkeypatch.setattr(delivery, "monotonic", lambda: 0.0)
    assert outbox.flush(now=NOW) == 1


def test_the_flush_task_runs_the_outbox(scoring_settings, flagged_session):
    outbox.queue_session_report(flagged_session, now=NOW)
    assert tasks.flush_outbox() == 2


@pytest.mark.parametrize("mode", ["off", "flagged"])
def test_a_session_report_mode_that_wants_nothing_writes_nothing(
    scoring_settings, make_tutor, make_session, make_score, low_risk, mode
):
    scoring_settings.session_report_mode = mode
    scoring_settings.save()
    tutor = make_tutor()
    session = make_session(tutor, days_ago=1)
    assert outbox.queue_session_report(session, score=make_score(tutor, **low_risk), now=NOW) == []
    assert outbox.flush(now=NOW) == 0
