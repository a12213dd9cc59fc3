"""End to end inside the process: the scoring task scores a session → the signals → the mails."""

from datetime import timedelta

from django.conf import settings
from django.core import mail as django_mail
from django.utils import timezone

from reports import outbox
from reports.models import EmailReport
from scoring.tasks import process_sessions
from sessions.models import Session


def test_processing_a_session_of_a_flagged_tutor_mails_each_recipient_once(
    scoring_settings, make_tutor, make_session, django_capture_on_commit_callbacks
):
    now = timezone.now()  # the scoring task scores as of the real clock
    tutor = make_tutor("Ada Tutor")
    make_session(tutor, at=now - timezone.timedelta(days=1))
    for days_ago in (2, 3, 4):
        make_session(
            tutor, at=now - timezone.timedelta(days=days_ago), status="rescheduled", reason="conflict"
        )
    # Those arrived yesterday and were scored then (no mail: the tutor was not flagged).
    Session.objects.update(updated_at=now - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        process_sessions([])
    assert django_mail.outbox == []
    session = make_session(
        tutor, at=now - timezone.timedelta(hours=5), status="rescheduled", reason="overslept", hours_before=2
    )

    with django_capture_on_commit_callbacks(execute=True):
        process_sessions([str(session.pk)])

    # The report goes at once; the alert waits for its batch window to close.
    assert sorted(m.to[0] for m in django_mail.outbox) == ["lead@example.com", "ops@example.com"]
    assert outbox.flush(now=timezone.now() + timedelta(seconds=settings.MAIL_ALERT_BATCH_SECONDS)) == 2

    subjects = sorted({(m.to[0], m.subject.split(":")[0]) for m in django_mail.outbox})
    assert subjects == [
        ("lead@example.com", "[Alert] Ada Tutor"),
        ("lead@example.com", "[High risk] Ada Tutor"),
        ("ops@example.com", "[Alert] Ada Tutor"),
        ("ops@example.com", "[High risk] Ada Tutor"),
    ]
    assert len(django_mail.outbox) == 4
    report = next(m for m in django_mail.outbox if m.subject.startswith("[High risk]"))
    assert report.body.startswith("Ada Tutor is high risk: ")
    assert "4 of 5" in report.body  # the engine's own reason sentences reach the mail
    assert str(session.pk) in report.body
    assert set(EmailReport.objects.values_list("kind", "status", "tutor")) == {
        ("session_report", "sent", tutor.pk),
        ("alert", "sent", tutor.pk),
    }

    # The platform re-sends the session; it is processed again: nobody is mailed twice.
    with django_capture_on_commit_callbacks(execute=True):
        process_sessions([str(session.pk)])
    assert outbox.flush(now=now + timedelta(minutes=10)) == 0
    assert len(django_mail.outbox) == 4
    assert EmailReport.objects.count() == 4
