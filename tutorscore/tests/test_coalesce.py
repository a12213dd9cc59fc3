"""Coalesced enqueueing: one waiting task per key, released by the task as it starts. The marker
cache is the one the settings choose: here the database table (Redis with REDIS_URL)."""

import pytest

from tutorscore.coalesce import enqueue_coalesced, release_coalesced


@pytest.fixture
def enqueued(db, monkeypatch, settings):
    settings.TASK_COALESCE_SECONDS = 30
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kwargs: calls.append((func, args)))
    yield calls
    from django.core.cache import caches

    caches["coalesce"].clear()


def test_one_task_waits_at_a_time_until_it_starts(enqueued):
    assert [enqueue_coalesced("app.tasks.work", number) for number in range(5)] == [True] + [False] * 4
    assert enqueued == [("app.tasks.work", (0,))]

    release_coalesced("app.tasks.work")  # the task starts: it will not see what comes next
    assert enqueue_coalesced("app.tasks.work", 5) is True
    assert enqueue_coalesced("app.tasks.other") is True  # another key, its own marker
    assert len(enqueued) == 3


def test_a_failed_enqueue_clears_the_marker_and_raises(enqueued, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("django_q.tasks.async_task", down)
    with pytest.raises(ConnectionError):
        enqueue_coalesced("app.tasks.work")
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    assert enqueue_coalesced("app.tasks.work") is True  # not blocked by a task that never was


def test_a_cache_that_is_down_only_costs_the_coalescing(enqueued, monkeypatch):
    from django.core.cache import caches

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(caches["coalesce"], "add", down)
    monkeypatch.setattr(caches["coalesce"], "delete", down)
    assert [enqueue_coalesced("app.tasks.work") for _ in range(2)] == [True, True]
    release_coalesced("app.tasks.work")  # logged, not raised


def test_without_a_shared_cache_every_call_enqueues(enqueued, settings):
    settings.TASK_COALESCE_SECONDS = 0
    assert [enqueue_coalesced("app.tasks.work") for _ in range(3)] == [True] * 3


def test_a_burst_of_ingests_enqueues_one_processing_task_which_scores_them_all(
    enqueued, client, db, django_capture_on_commit_callbacks
):
    import json

    from scoring.models import TutorScore
    from scoring.tasks import process_sessions
    from sessions.models import ApiKey
    from tutorscore.testing import session_payload

    key = ApiKey.create_key("platform")[1]

    def post(payload):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/api/sessions", json.dumps(payload), content_type="application/json", HTTP_X_API_KEY=key
            )

    tutors = [f"00000000-0000-0000-0000-00000000000{number}" for number in range(1, 4)]
    assert [post(session_payload(tutor_id=tutor)).status_code for tutor in tutors] == [202] * 3
    [(func, (session_ids,))] = enqueued
    assert func == "scoring.tasks.process_sessions"

    assert process_sessions(*enqueued[0][1]) == 3  # the waiting task covers the skipped ingests
    assert TutorScore.objects.count() == 3
    assert post(session_payload(tutor_id=tutors[0])).status_code == 202
    assert len(enqueued) == 2  # it started: the next ingest enqueues again


def test_a_failed_redis_broker_is_not_asked_again_for_a_while(enqueued, monkeypatch, settings):
    from tutorscore import coalesce

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": {"host": "127.0.0.1"}}
    clock = {"now": 100.0}
    monkeypatch.setattr(coalesce, "monotonic", lambda: clock["now"])
    monkeypatch.setitem(coalesce._broker, "unavailable_until", 0.0)
    attempts = []

    def hung(*args, **kwargs):
        attempts.append(args)
        raise TimeoutError("Timeout reading from socket")

    monkeypatch.setattr("django_q.tasks.async_task", hung)
    with pytest.raises(TimeoutError):
        enqueue_coalesced("app.tasks.work")
    with pytest.raises(coalesce.BrokerUnavailable):  # at once: no second socket timeout
        enqueue_coalesced("app.tasks.work")
    assert len(attempts) == 1

    clock["now"] += coalesce.BROKER_RETRY_SECONDS
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    assert enqueue_coalesced("app.tasks.work") is True  # tried again, and it is back
