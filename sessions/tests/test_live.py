"""Live end to end: real gunicorn + real qcluster on their own database, sessions over HTTP,
until the tutor's score (read back through the API) covers them. Runs on PostgreSQL when
DATABASE_URL is PostgreSQL (scratch database), else on a temporary SQLite file."""

import json
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from sessions.tests.test_ingest_concurrency import (
    THREADS,
    assert_each_session_in_one_posted_state,
    conflicting_states,
)
from testsupport.livestack import LiveStack
from tutorscore.testing import session_payload

pytestmark = pytest.mark.live

WAIT_SECONDS = 45  # bounded: normally a second or two; generous for a loaded 2-core CI


def payload(tutor_id, status, hours_ago, **extra):
    return session_payload(status, tutor_id=tutor_id, days_ago=hours_ago / 24, now=datetime.now(UTC), **extra)


def wait_until_scored(stack, key, tutor_id, *, sessions):
    """The tutor read back through the API once its score counts `sessions` sessions in 30 days."""
    deadline = time.monotonic() + WAIT_SECONDS
    score = None
    while time.monotonic() < deadline:
        status, body = stack.request("GET", f"/api/tutors/{tutor_id}", key=key)
        assert status == 200, body
        score = body["score"]
        if score and score["windows"]["30d"]["total_sessions"] == sessions:
            return body
        time.sleep(0.25)
    pytest.fail(f"score not updated within {WAIT_SECONDS}s: {score}\n{stack.logs()}")


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.mark.parametrize("redis_url", [None, REDIS_URL], ids=["orm-broker", "redis-broker"])
def test_sessions_posted_over_http_are_scored_by_the_worker(redis_url):
    tutor_id = uuid.uuid4()
    with LiveStack(redis_url=redis_url) as stack:
        key = stack.create_api_key("live-test")
        status, health = stack.request("GET", "/healthz")
        assert status == 200
        assert health["checks"]["task_queue"]["broker"] == ("redis" if redis_url else "orm")
        assert stack.request("GET", "/api/tutors")[0] == 401

        posted_at = datetime.now(UTC)
        first = payload(tutor_id, "completed", 30, tutor_name="Live Tutor")
        status, body = stack.request("POST", "/api/sessions", first, key=key)
        assert (status, body["status"]) == (202, "accepted"), body
        batch = [payload(tutor_id, "completed", hours) for hours in (20, 10)]
        batch += [payload(tutor_id, "rescheduled", hours) for hours in (8, 4)]
        status, body = stack.request("POST", "/api/sessions/bulk", {"sessions": batch}, key=key)
        assert (status, body["created"]) == (202, 4), body
        status, body = stack.request("POST", "/api/sessions", {"status": "nope"}, key=key)
        assert status == 422

        body = wait_until_scored(stack, key, tutor_id, sessions=5)
        score = body["score"]

        assert body["name"] == "Live Tutor"
        assert score["windows"]["30d"] == {
            "total_sessions": 5,
            "tutor_reschedules": 2,
            "reschedule_rate": 40.0,
        }
        assert datetime.fromisoformat(score["last_calculated_at"]) >= posted_at
        status, history = stack.request("GET", f"/api/tutors/{tutor_id}/history", key=key)
        assert len(history["recent_reschedules"]) == 2


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="drops PostgreSQL connections"
)
def test_a_database_restart_costs_no_request_and_no_scoring_task():
    tutor_id = uuid.uuid4()
    with LiveStack() as stack:
        key = stack.create_api_key("live-test")

        def post_sessions(tutor_ids):
            return [
                stack.request("POST", "/api/sessions", payload(tutor, "completed", hours), key=key)[0]
                for hours, tutor in enumerate(tutor_ids, start=1)
            ]

        # Every gunicorn thread and the worker now hold a connection.
        assert post_sessions(uuid.uuid4() for _ in range(16)) == [202] * 16
        time.sleep(1)

        stack.drop_connections()

        assert post_sessions([tutor_id] * 16) == [202] * 16
        wait_until_scored(stack, key, tutor_id, sessions=16)
        worker_log = stack.log("worker")
        assert "Failed to pull task from broker" not in worker_log
        assert "Failed 'scoring.tasks.process_sessions'" not in worker_log


LIVE_ROUNDS = 12


def test_concurrent_conflicting_posts_over_http_leave_one_posted_state():
    """Four clients post four states of each session at once to gunicorn (2 processes x 4 threads):
    every answer is a 202 and every session ends in one of its posted states, reschedule included."""
    now = datetime.now(UTC)
    rounds = [
        conflicting_states(str(uuid.uuid4()), stamped=round_number % 2 == 1, now=now)
        for round_number in range(LIVE_ROUNDS)
    ]
    answers = []
    with LiveStack() as stack:
        key = stack.create_api_key("live-test")
        barrier = threading.Barrier(THREADS)

        def client(thread):
            for states in rounds:
                barrier.wait(timeout=30)
                answers.append(stack.request("POST", "/api/sessions", states[thread], key=key))

        threads = [threading.Thread(target=client, args=(thread,)) for thread in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        output = stack.manage(
            "shell",
            "--no-imports",
            "-c",
            "import json; from sessions.tests.test_ingest_concurrency import stored_signatures; "
            "print(json.dumps(stored_signatures()))",
        )
        stored = json.loads(output.splitlines()[-1])

    assert_each_session_in_one_posted_state(rounds, stored)
    assert [status for status, _ in answers] == [202] * THREADS * LIVE_ROUNDS, answers


def test_two_clusters_sharing_one_queue_score_every_session():
    """Two `qcluster` processes take tasks from one queue while 8 connections post a burst for 20
    tutors: every tutor's score ends up counting exactly its sessions (nothing lost, no stale
    score left behind by a race between the clusters)."""
    tutors = [uuid.uuid4() for _ in range(20)]
    plan = [
        (tutors[number % 20], "rescheduled" if number % 4 == 0 else "completed", 1 + number % 500)
        for number in range(200)
    ]
    expected = {tutor_id: [0, 0] for tutor_id in tutors}  # sessions, tutor reschedules
    for tutor_id, status, _ in plan:
        expected[tutor_id][0] += 1
        expected[tutor_id][1] += status == "rescheduled"

    with LiveStack(clusters=2, q_workers=1) as stack:
        key = stack.create_api_key("live-test")

        def post(item):
            tutor_id, status, hours_ago = item
            return stack.request("POST", "/api/sessions", payload(tutor_id, status, hours_ago), key=key)[0]

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(post, plan)) == {202}

        for tutor_id, (sessions, reschedules) in expected.items():
            window = wait_until_scored(stack, key, tutor_id, sessions=sessions)["score"]["windows"]["30d"]
            assert window["tutor_reschedules"] == reschedules
        tasks = {name: stack.log(name).count("process_sessions:") for name in stack.worker_names}
        assert sum(tasks.values()) > 0, stack.logs()
        print(f"scoring tasks per cluster: {tasks}")
