"""From the platform's POST to an updated score: the on-commit task, a lost task, a failing task.

Tasks run inline (test settings: Q_CLUSTER sync). Time is pinned with NOW for the whole pipeline
(the API, the engine and django-q2 all read django.utils.timezone.now).
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from scoring import engine
from scoring.models import TutorScore
from scoring.tasks import rescore_stale
from sessions.models import ApiKey, Tutor
from tutorscore.testing import NOW, TUTOR_ID, session_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    """A settable clock for every caller of django.utils.timezone.now."""

    class Clock:
        now = NOW

    monkeypatch.setattr(timezone, "now", lambda: Clock.now)
    return Clock


@pytest.fixture
def post(client, clock, django_capture_on_commit_callbacks):
    key = ApiKey.create_key("platform")[1]

    def post(path, payload):
        # Run the on-commit callbacks (the enqueue) as a real commit would.
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, json.dumps(payload), content_type="application/json", HTTP_X_API_KEY=key)

    return post


def test_accepted_session_is_scored_after_commit(post):
    sessions = [session_payload("completed"), session_payload("rescheduled"), session_payload("no_show")]
    response = post("/api/sessions/bulk", {"sessions": sessions})

    assert response.status_code == 202
    score = TutorScore.objects.get(tutor_id=TUTOR_ID)
    assert (score.total_sessions_30d, score.tutor_reschedules_30d, score.no_shows_30d) == (3, 1, 1)
    assert score.last_calculated_at >= Tutor.objects.get().sessions_changed_at


def test_lost_enqueue_still_202_and_the_stale_sweep_scores_the_tutor(post, clock, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    response = post("/api/sessions", session_payload("completed"))

    assert response.status_code == 202
    assert not TutorScore.objects.exists()  # the task never ran

    clock.now = NOW + timedelta(minutes=5)  # the 5-minute sweep
    assert rescore_stale() == 1
    score = TutorScore.objects.get(tutor_id=TUTOR_ID)
    assert score.total_sessions_30d == 1
    assert rescore_stale() == 0  # nothing stale any more


def test_task_failing_once_is_retried_and_succeeds(post, clock, monkeypatch):
    from django_q.scheduler import scheduler

    real_recompute = engine.recompute_all
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return real_recompute(*args, **kwargs)

    monkeypatch.setattr(engine, "recompute_all", fails_once)
    response = post("/api/sessions", session_payload("rescheduled"))

    assert response.status_code == 202
    assert not TutorScore.objects.exists()
    # The failed run scheduled its own retry (scoring.tasks.schedule_retry); in sync mode the
    # task's exception reaches the enqueue wrapper, which logs it and still answers 202.
    retry = Schedule.objects.get(func="scoring.tasks.process_sessions")
    assert retry.next_run == NOW + timedelta(seconds=30)

    clock.now = NOW + timedelta(seconds=31)
    scheduler()  # what the cluster's scheduler does every few seconds

    score = TutorScore.objects.get(tutor_id=TUTOR_ID)
    assert (score.total_sessions_30d, score.tutor_reschedules_30d) == (1, 1)
    assert len(calls) == 2


def test_identical_repeat_enqueues_no_second_processing(post, monkeypatch):
    enqueued = []
    real = __import__("django_q.tasks", fromlist=["async_task"]).async_task
    monkeypatch.setattr(
        "django_q.tasks.async_task",
        lambda func, *args, **kwargs: enqueued.append(func) or real(func, *args, **kwargs),
    )
    payload = session_payload("completed")
    post("/api/sessions", payload)
    post("/api/sessions", payload)
    assert enqueued == ["scoring.tasks.process_sessions"]
