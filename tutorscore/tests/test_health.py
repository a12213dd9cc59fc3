"""GET /healthz: what is broken, 503 only when nothing can be served or queued, never a hang."""

import json
from datetime import timedelta

import pytest
from django_q.models import Schedule

from reports.models import EmailReport
from tutorscore.testing import NOW


@pytest.fixture
def schedules(db):
    """The stale sweep (scoring queue) and the outbox (mail queue), both due in the future."""
    Schedule.objects.create(
        name="sweep", func="scoring.tasks.rescore_stale", next_run=NOW + timedelta(minutes=1)
    )
    Schedule.objects.create(
        name="outbox", func="reports.tasks.flush_outbox", cluster="mail", next_run=NOW + timedelta(minutes=1)
    )


def test_healthy_needs_no_key_and_reports_every_check(client, schedules):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    checks = body["checks"]
    assert set(checks) == {"database", "task_queue", "workers", "outbox", "static_files"}
    assert checks["database"]["status"] == "ok"
    assert checks["task_queue"] | {"last_task_finished_at": None} == {
        "status": "ok",
        "broker": "orm",
        "queued_tasks": 0,
        "queued_mail_tasks": 0,
        "last_task_finished_at": None,
        "seconds_since_last_task": None,
    }
    assert checks["workers"] == {"status": "ok", "overdue_seconds": {"scoring": 0, "mail": 0}}
    assert checks["outbox"] == {
        "status": "ok",
        "waiting": 0,
        "oldest_waiting_seconds": None,
        "stuck_sending": 0,
    }
    assert checks["static_files"] == {"status": "ok", "manifest": "not used"}
    assert "@" not in json.dumps(body)  # no private data


def test_an_unreachable_broker_is_503_with_retry_after(client, schedules, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("no broker")

    monkeypatch.setattr("django_q.brokers.get_broker", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json()["status"] == "error"
    assert response.json()["checks"]["task_queue"] == {"status": "error", "error": "ConnectionError"}


def test_an_unreachable_database_is_503_and_skips_the_checks_that_read_it(client, monkeypatch):
    from django.db import OperationalError

    from tutorscore import health

    def down():
        raise OperationalError("connection refused")

    monkeypatch.setattr(health, "check_database", down)
    monkeypatch.setattr(health, "check_task_queue", down)  # the ORM broker is the database
    response = client.get("/healthz")
    assert response.status_code == 503
    assert set(response.json()["checks"]) == {"database", "task_queue", "static_files"}
    assert response.json()["checks"]["database"] == {"status": "error", "error": "OperationalError"}


def test_a_stopped_mail_worker_is_degraded_not_down(client, schedules):
    Schedule.objects.filter(cluster="mail").update(next_run=NOW - timedelta(minutes=20))
    response = client.get("/healthz")
    assert response.status_code == 200  # the site serves; a person must look
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["workers"]["status"] == "late"
    assert body["checks"]["workers"]["late"] == ["mail"]
    assert body["checks"]["workers"]["overdue_seconds"]["mail"] == 1200


def test_an_old_outbox_backlog_and_a_stuck_mail_are_degraded(client, schedules):
    EmailReport.objects.create(
        kind="digest",
        event_key="digest:1",
        recipient_email="a@example.com",
        created_at=NOW - timedelta(hours=1),
    )
    EmailReport.objects.create(
        kind="digest",
        event_key="digest:2",
        recipient_email="b@example.com",
        status="sending",
        claimed_at=NOW - timedelta(hours=1),
    )
    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["checks"]["outbox"] == {
        "status": "late",
        "waiting": 1,
        "oldest_waiting_seconds": 3600,
        "stuck_sending": 1,
    }


def test_a_missing_static_manifest_in_production_is_degraded(client, schedules, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.STATIC_ROOT = tmp_path
    body = client.get("/healthz").json()
    assert body["checks"]["static_files"] == {"status": "missing", "manifest": "missing"}
    (tmp_path / "staticfiles.json").write_text("{}")
    assert client.get("/healthz").json()["checks"]["static_files"]["status"] == "ok"


def test_healthz_rejects_post(client, db):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
