"""Sending: failures are recorded and retried with backoff by the outbox, and nothing is ever
sent twice."""

from datetime import timedelta

import pytest
from anymail.message import AnymailRecipientStatus
from django.core import mail as django_mail
from django.db import connection

from reports import delivery, outbox, tasks
from reports.models import EmailReport
from reports.tests.backends import CommitModeBackend, FlakyBackend
from tutorscore.testing import NOW


@pytest.fixture
def one_recipient(scoring_settings):
    scoring_settings.report_recipients = "lead@example.com"
    scoring_settings.save()
    return scoring_settings


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = "reports.tests.backends.FlakyBackend"
    yield FlakyBackend
    FlakyBackend.failures_left = 0


def test_a_failure_is_recorded_retried_with_backoff_and_sent_once(one_recipient, flagged_session, flaky):
    flaky.failures_left = 1
    ids = outbox.queue_session_report(flagged_session, now=NOW)

    assert delivery.deliver_reports(ids, now=NOW) == 0
    report = EmailReport.objects.get()
    assert (report.status, report.attempts) == ("failed", 1)
    assert report.error_message == "ConnectionError: provider unavailable (503)"
    assert report.sent_at is None
    assert django_mail.outbox == []
    assert report.next_attempt_at == NOW + timedelta(minutes=1)

    assert outbox.flush(now=NOW + timedelta(seconds=59)) == 0  # not due yet
    assert outbox.flush(now=NOW + timedelta(minutes=1)) == 1
    report.refresh_from_db()
    assert (report.status, report.attempts, report.error_message) == ("sent", 2, "")
    assert report.next_attempt_at is None
    assert len(django_mail.outbox) == 1

    # The outbox running again, or the session being queued again, sends nothing more.
    assert outbox.flush(now=NOW + timedelta(minutes=2)) == 0
    assert outbox.queue_session_report(flagged_session, now=NOW) == []
    assert len(django_mail.outbox) == 1
    assert EmailReport.objects.get().attempts == 2


def test_backoff_grows_and_attempts_are_bounded(one_recipient, flagged_session, flaky):
    flaky.failures_left = 99
    [report_id] = outbox.queue_session_report(flagged_session, now=NOW)

    delays, now = [], NOW
    for _ in range(delivery.MAX_ATTEMPTS):
        outbox.flush(now=now)
        next_attempt_at = EmailReport.objects.get().next_attempt_at
        delays.append(next_attempt_at and next_attempt_at - now)
        now = next_attempt_at or now

    assert delays == [timedelta(minutes=minutes) for minutes in (1, 4, 16, 64)] + [None]
    report = EmailReport.objects.get()
    assert (report.status, report.attempts) == ("failed", 5)
    assert outbox.flush(now=now + timedelta(days=1)) == 0  # given up: only a person resends it
    assert EmailReport.objects.get().attempts == 5


def test_resend_requeues_a_failed_mail_and_sends_it_once(one_recipient, flagged_session, flaky):
    flaky.failures_left = 1
    [report_id] = outbox.queue_session_report(flagged_session, now=NOW)
    delivery.deliver_reports([report_id], now=NOW)

    assert delivery.resend([report_id]) == [report_id]
    assert EmailReport.objects.get().status == "pending"
    assert tasks.deliver_reports([str(report_id)]) == 1
    assert delivery.resend([report_id]) == []  # sent: nothing to resend
    assert len(django_mail.outbox) == 1


def test_reprocessing_a_session_never_mails_a_recipient_twice(scoring_settings, flagged_session):
    assert len(outbox.queue_session_report(flagged_session, now=NOW)) == 2
    assert outbox.flush(now=NOW) == 2
    assert outbox.queue_session_report(flagged_session, now=NOW) == []
    assert outbox.flush(now=NOW) == 0
    delivery.deliver_reports(EmailReport.objects.values_list("pk", flat=True))

    assert len(django_mail.outbox) == 2
    assert EmailReport.objects.count() == 2


def test_a_claimed_row_is_skipped_by_a_second_worker(one_recipient, flagged_session):
    [report_id] = outbox.queue_session_report(flagged_session, now=NOW)

    assert delivery.claim(report_id, now=NOW) is True  # worker A is talking to the provider
    assert delivery.claim(report_id, now=NOW) is False
    assert delivery.deliver_reports([report_id], now=NOW) == 0  # worker B
    assert django_mail.outbox == []
    assert EmailReport.objects.get().status == "sending"
    # Worker A may still be at it until its send times out (EMAIL_TIMEOUT) plus a margin.
    assert delivery.resend([report_id], now=NOW + timedelta(seconds=69)) == []
    assert outbox.flush(now=NOW + timedelta(seconds=69)) == 0


def test_a_row_a_dead_worker_left_in_sending_can_be_resent_once(one_recipient, flagged_session):
    [report_id] = outbox.queue_session_report(flagged_session, now=NOW)
    delivery.claim(report_id, now=NOW)  # ... and the worker dies before it records the outcome
    assert (
        delivery.resend([report_id], now=NOW + timedelta(seconds=60)) == []
    )  # fate unknown until the lease ends

    assert delivery.resend([report_id], now=NOW + timedelta(minutes=2)) == [report_id]
    assert delivery.deliver_reports([report_id], now=NOW + timedelta(minutes=2)) == 1
    report = EmailReport.objects.get()
    assert (report.status, report.attempts) == ("sent", 2)
    assert len(django_mail.outbox) == 1


def test_anymail_keeps_the_provider_message_id(one_recipient, flagged_session, settings):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    delivery.deliver_reports(outbox.queue_session_report(flagged_session, now=NOW), now=NOW)

    report = EmailReport.objects.get()
    assert report.status == "sent"
    assert report.provider_message_id == "0"  # the test ESP's id: the message's index in the outbox
    sent = django_mail.outbox[0]
    assert sent.anymail_test_params["tags"] == ["session_report"]
    assert sent.anymail_test_params["metadata"]["report_id"] == str(report.pk)


def test_a_refused_recipient_fails_without_retrying(one_recipient, flagged_session, settings, monkeypatch):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    build = delivery.build_message

    def refused(report, rendered):
        message = build(report, rendered)
        message.anymail_test_response = {
            "recipient_status": {
                report.recipient_email: AnymailRecipientStatus(message_id="x1", status="rejected")
            }
        }
        return message

    monkeypatch.setattr(delivery, "build_message", refused)
    delivery.deliver_reports(outbox.queue_session_report(flagged_session, now=NOW), now=NOW)

    report = EmailReport.objects.get()
    assert report.status == "failed"
    assert report.error_message.startswith("Refused by the provider")
    assert report.next_attempt_at is None  # never tried again by itself


def test_a_report_whose_session_is_gone_fails_without_retrying(one_recipient, flagged_session):
    [report_id] = outbox.queue_session_report(flagged_session, now=NOW)
    flagged_session.delete()

    assert delivery.deliver_reports([report_id], now=NOW) == 0
    report = EmailReport.objects.get()
    assert (report.status, report.error_message) == ("failed", "The session of this report no longer exists.")
    assert report.next_attempt_at is None  # never tried again by itself


def test_tasks_ignore_rows_that_are_gone(db):
    assert tasks.deliver_reports(["00000000-0000-0000-0000-000000000009"]) == 0


def test_a_message_that_cannot_be_built_fails_visibly(one_recipient, flagged_session, monkeypatch):
    [report_id] = outbox.queue_session_report(flagged_session, now=NOW)

    def broken(report):
        raise ValueError("template bug")

    monkeypatch.setattr(delivery, "render_report", broken)
    assert delivery.deliver_reports([report_id], now=NOW) == 0
    report = EmailReport.objects.get()
    assert (report.status, report.error_message) == (
        "failed",
        "Could not build the message: ValueError: template bug",
    )
    assert report.next_attempt_at == NOW + timedelta(minutes=1)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting")
def test_delivery_updates_skip_the_disk_wait_and_leave_the_connection_as_it_was(
    one_recipient, flagged_session, settings
):
    """claim/sent UPDATEs commit without waiting for the disk (a lost one means a resend, the
    outbox's at-least-once rule); nothing else on the connection is affected."""
    settings.EMAIL_BACKEND = "reports.tests.backends.CommitModeBackend"
    CommitModeBackend.seen = []
    ids = outbox.queue_session_report(flagged_session, now=NOW)

    assert delivery.deliver_reports(ids, now=NOW) == 1
    assert CommitModeBackend.seen == ["off"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
