"""Faults, reproduced in process: a lost processing task, a lost mail task, a worker killed
mid-send, a provider that hangs or refuses, a database that drops its connections. In every
case each (session, recipient) gets its report once (the one documented at-least-once case
aside), and the platform is never answered with a 500.

The process-level version (real gunicorn + two qcluster processes, a hanging provider) is
test_live_reliability.py; sustained load is bench/soak.py.
"""

import json
from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail as django_mail
from django.db import connection

from reports import delivery, outbox
from reports.models import EmailReport
from reports.tests.backends import WorkerKilled
from scoring import tasks as scoring_tasks
from scoring.models import TutorScore
from sessions.models import ApiKey
from tutorscore.testing import NOW, TUTOR_ID, session_payload


@pytest.fixture
def every_session(scoring_settings):
    """Mode `all`: every session is reported, whatever the engine decides about flags."""
    scoring_settings.session_report_mode = "all"
    scoring_settings.save()
    return scoring_settings


@pytest.fixture
def post(client, db, django_capture_on_commit_callbacks):
    key = ApiKey.create_key("platform")[1]

    def post(payload):
        with django_capture_on_commit_callbacks(execute=True):  # the enqueue, as a real commit runs it
            return client.post(
                "/api/sessions", json.dumps(payload), content_type="application/json", HTTP_X_API_KEY=key
            )

    return post


@pytest.fixture
def broker_down(monkeypatch):
    def unavailable(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("django_q.tasks.async_task", unavailable)
    return monkeypatch


def reports_sent():
    return Counter(
        EmailReport.objects.filter(kind="session_report", status="sent").values_list("session_id", flat=True)
    )


def test_a_lost_processing_task_loses_no_report(
    every_session, post, broker_down, django_capture_on_commit_callbacks
):
    payloads = [session_payload("completed", days_ago=days) for days in (1, 2, 3)]
    assert [post(payload).status_code for payload in payloads] == [202, 202, 202]
    assert not TutorScore.objects.exists()  # every enqueue failed: nothing processed
    assert not EmailReport.objects.exists()

    broker_down.undo()  # the broker is back; the 5-minute stale sweep runs
    with django_capture_on_commit_callbacks(execute=True):
        scoring_tasks.rescore_stale()

    assert len(django_mail.outbox) == 6  # 3 sessions × 2 recipients
    assert set(reports_sent().values()) == {2}
    # Processing the same sessions again (a task that was only late) mails nobody twice.
    with django_capture_on_commit_callbacks(execute=True):
        scoring_tasks.process_sessions([payload["session_id"] for payload in payloads])
        scoring_tasks.rescore_stale()
    assert outbox.flush(now=NOW + timedelta(minutes=5)) == 0
    assert len(django_mail.outbox) == 6


def test_a_lost_mail_task_loses_no_report(every_session, post, monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", _mail_queue_down_wrapper())
    assert post(session_payload("no_show")).status_code == 202
    assert TutorScore.objects.filter(tutor_id=TUTOR_ID).exists()
    assert set(EmailReport.objects.values_list("status", flat=True)) == {"pending"}  # written with the score
    assert django_mail.outbox == []

    assert outbox.flush(now=NOW + timedelta(minutes=1)) == 2  # the every-minute schedule
    assert outbox.flush(now=NOW + timedelta(minutes=2)) == 0


def _mail_queue_down_wrapper():
    """async_task that runs scoring inline (as the test settings do) but fails for the mail queue."""
    from django_q.tasks import async_task

    def patched(func, *args, **kwargs):
        if kwargs.get("cluster") == "mail":
            raise ConnectionError("mail queue down")
        return async_task(func, *args, **kwargs)

    return patched


def test_a_worker_killed_mid_send_is_reclaimed_and_sent_again(every_session, flagged_session, settings):
    """At-least-once: the provider took the first recipient's mail, then the worker died before
    recording it. The row is reclaimed after the lease and sent again: that recipient gets it
    twice (the documented case); everyone else once, and nothing is lost."""
    outbox.queue_session_report(flagged_session, now=NOW)
    settings.EMAIL_BACKEND = "reports.tests.backends.DyingBackend"
    with pytest.raises(WorkerKilled):
        outbox.flush(now=NOW)
    assert sorted(EmailReport.objects.values_list("status", flat=True)) == ["pending", "sending"]

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # a new worker
    assert outbox.flush(now=NOW + timedelta(seconds=30)) == 1  # the other row; the lease still holds
    assert outbox.flush(now=NOW + timedelta(minutes=2)) == 1  # reclaimed
    assert set(EmailReport.objects.values_list("status", "attempts")) == {("sent", 1), ("sent", 2)}
    assert Counter(m.to[0] for m in django_mail.outbox) == {"lead@example.com": 2, "ops@example.com": 1}


def test_a_worker_killed_before_the_provider_answered_sends_exactly_once(
    every_session, flagged_session, monkeypatch
):
    outbox.queue_session_report(flagged_session, now=NOW)

    def killed(message):
        raise WorkerKilled

    with monkeypatch.context() as patch:
        patch.setattr(delivery.mail.EmailMultiAlternatives, "send", killed)
        with pytest.raises(WorkerKilled):
            outbox.flush(now=NOW)

    outbox.flush(now=NOW + timedelta(minutes=2))
    assert Counter(m.to[0] for m in django_mail.outbox) == {"lead@example.com": 1, "ops@example.com": 1}


def test_a_row_that_kills_its_worker_every_time_ends_failed(every_session, flagged_session, monkeypatch):
    [report_id, _] = outbox.queue_session_report(flagged_session, now=NOW)
    EmailReport.objects.filter(pk=report_id).update(
        status="sending", attempts=delivery.MAX_ATTEMPTS, claimed_at=NOW - timedelta(hours=1)
    )
    outbox.reclaim_stuck(now=NOW)
    report = EmailReport.objects.get(pk=report_id)
    assert (report.status, report.next_attempt_at) == ("failed", None)
    assert report.can_resend


def test_a_hanging_provider_fails_the_attempt_and_the_mail_goes_when_it_is_back(
    every_session, post, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "reports.tests.backends.HangingBackend"
    settings.EMAIL_TIMEOUT = 0  # the client's timeout, here immediate
    assert post(session_payload("completed")).status_code == 202

    assert TutorScore.objects.filter(tutor_id=TUTOR_ID).exists()  # scored whatever the provider does
    rows = EmailReport.objects.all()
    assert {(row.status, row.attempts) for row in rows} == {("failed", 1)}
    assert {row.error_message for row in rows} == {"TimeoutError: provider did not answer within 0s"}

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # the provider recovers
    assert outbox.flush(now=NOW + timedelta(minutes=2)) == 2  # after the first backoff (1 min)
    assert outbox.flush(now=NOW + timedelta(hours=2)) == 0
    assert len(django_mail.outbox) == 2


def test_a_refusing_provider_fails_visibly_without_retrying(every_session, flagged_session, settings):
    settings.EMAIL_BACKEND = "reports.tests.backends.RefusingBackend"
    outbox.queue_session_report(flagged_session, now=NOW)

    assert outbox.flush(now=NOW) == 0
    assert outbox.flush(now=NOW + timedelta(days=1)) == 0
    rows = EmailReport.objects.all()
    assert {(row.status, row.attempts, row.next_attempt_at) for row in rows} == {("failed", 1, None)}
    assert all(row.error_message.startswith("Refused by the provider") for row in rows)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_terminate_backend is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_database_restart_never_answers_500(client, scoring_settings):
    """Every server connection is terminated, as a restart does: the next request either works
    (the reused connection is checked and reopened) or is a 503 with Retry-After, never a 500."""
    import psycopg

    key = ApiKey.create_key("platform")[1]
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as admin:
        connection.ensure_connection()
        backend_pid = connection.connection.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid])

    response = client.post(
        "/api/sessions",
        json.dumps(session_payload("completed")),
        content_type="application/json",
        HTTP_X_API_KEY=key,
    )
    assert response.status_code in (202, 503), response.content
    if response.status_code == 503:
        assert response["Retry-After"] == "10"
        assert response.json()["error"] == "service_unavailable"
    connection.close()
    assert client.get("/healthz").json()["checks"]["database"]["status"] == "ok"
