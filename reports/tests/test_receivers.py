"""The scoring app's signals drive the mails (after commit), and the digest follows the settings."""

from datetime import UTC, datetime, time

from django.core import mail as django_mail
from django_q.models import Schedule

from reports import digest, outbox
from reports.models import EmailReport
from scoring.signals import alert_opened, sessions_scored
from sessions.models import Session
from tutorscore.testing import NOW


def scored(session, score):
    """What a scoring pass sends for one session."""
    sessions_scored.send(sender=Session, sessions=[session], scores={session.tutor_id: score})


def test_a_scored_session_of_a_flagged_tutor_is_mailed_after_commit(
    scoring_settings, flagged_session, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        scored(flagged_session, flagged_session.tutor.score)
    assert django_mail.outbox == []  # nothing is enqueued before the transaction commits
    assert len(callbacks) == 1

    callbacks[0]()
    assert sorted(m.to[0] for m in django_mail.outbox) == ["lead@example.com", "ops@example.com"]
    assert set(EmailReport.objects.values_list("status", "tutor")) == {("sent", flagged_session.tutor_id)}


def test_the_same_session_scored_twice_is_mailed_once(
    scoring_settings, flagged_session, django_capture_on_commit_callbacks
):
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            scored(flagged_session, flagged_session.tutor.score)
    assert len(django_mail.outbox) == 2


def test_no_task_is_enqueued_when_the_mode_does_not_want_a_report(
    scoring_settings, make_tutor, make_session, make_score, low_risk, django_capture_on_commit_callbacks
):
    tutor = make_tutor()
    score = make_score(tutor, **low_risk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        scored(make_session(tutor), score)
    assert callbacks == []
    assert django_mail.outbox == []


def test_an_opened_alert_is_mailed(
    scoring_settings, make_tutor, make_score, make_alert, django_capture_on_commit_callbacks
):
    tutor = make_tutor("Ada Tutor")
    make_score(tutor)
    alert = make_alert(tutor)
    with django_capture_on_commit_callbacks(execute=True):
        alert_opened.send(sender=type(alert), alert=alert)

    assert [m.subject for m in django_mail.outbox] == ["[Alert] Ada Tutor: reschedule rate"] * 2
    assert set(EmailReport.objects.values_list("kind", "alert", "tutor")) == {("alert", alert.pk, tutor.pk)}


def test_an_unavailable_queue_is_logged_not_raised(
    scoring_settings, flagged_session, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("django_q.tasks.async_task", broken)
    with django_capture_on_commit_callbacks(execute=True):
        scored(flagged_session, flagged_session.tutor.score)
    assert "could not enqueue reports.tasks.flush_outbox" in caplog.text
    # The rows were written with the score: the every-minute outbox run sends them.
    assert set(EmailReport.objects.values_list("status", flat=True)) == {"pending"}
    assert outbox.flush(now=NOW) == 2


def test_changing_the_digest_time_moves_the_digest_schedule(scoring_settings, monkeypatch):
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    monkeypatch.setattr("django.utils.timezone.now", lambda: now)
    Schedule.objects.create(
        name=digest.DIGEST_SCHEDULE_NAME,
        func="reports.tasks.send_daily_digest",
        schedule_type=Schedule.DAILY,
        next_run=datetime(2026, 11, 26, 8, 0, tzinfo=UTC),
    )

    scoring_settings.digest_time = time(18, 30)
    scoring_settings.save()
    assert Schedule.objects.get(name=digest.DIGEST_SCHEDULE_NAME).next_run == datetime(
        2026, 11, 25, 18, 30, tzinfo=UTC
    )

    scoring_settings.digest_time = time(7, 0)
    scoring_settings.save()
    assert Schedule.objects.get(name=digest.DIGEST_SCHEDULE_NAME).next_run == datetime(
        2026, 11, 26, 7, 0, tzinfo=UTC
    )


def test_daily_digest_task_sends_one_digest_per_day(scoring_settings):
    from reports import tasks

    assert tasks.send_daily_digest() == 2
    assert tasks.send_daily_digest() == 0
    assert EmailReport.objects.filter(kind="digest").count() == 2


def test_a_burst_of_scored_sessions_reads_the_settings_once(
    scoring_settings, make_tutor, make_session, make_score, low_risk, django_assert_max_num_queries
):
    tutor = make_tutor()
    score = make_score(tutor, **low_risk)
    sessions = [make_session(tutor, days_ago=day) for day in range(1, 11)]
    with django_assert_max_num_queries(1):
        for session in sessions:
            scored(session, score)


def test_a_settings_change_applies_to_the_next_scored_session_at_once(
    scoring_settings, make_tutor, make_session, make_score, low_risk, django_capture_on_commit_callbacks
):
    tutor = make_tutor()
    score = make_score(tutor, **low_risk)
    session = make_session(tutor, days_ago=1)
    with django_capture_on_commit_callbacks() as callbacks:
        scored(session, score)
    assert callbacks == []  # flagged mode, low-risk tutor

    scoring_settings.session_report_mode = "all"
    scoring_settings.save()
    with django_capture_on_commit_callbacks() as callbacks:
        scored(session, score)
    assert len(callbacks) == 1


def test_no_task_is_enqueued_for_an_alert_when_nobody_receives_mail(
    db, make_tutor, make_alert, django_capture_on_commit_callbacks
):
    alert = make_alert(make_tutor())
    with django_capture_on_commit_callbacks() as callbacks:
        alert_opened.send(sender=type(alert), alert=alert)
    assert callbacks == []
