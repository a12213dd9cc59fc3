"""Concurrent posts of one session id, through the API, on PostgreSQL: every session ends in exactly
one of the states posted for it (its reschedule row included), and the newest `updated_at` wins.

Threads need committed data and connections of their own, hence `transaction=True`. SQLite takes
its write lock up front (IMMEDIATE transactions), so it serialises these posts by construction.
"""

import json
import random
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import Client

from sessions import ingest as sessions_ingest
from sessions.models import ApiKey, Reschedule, Session, Tutor
from tutorscore.testing import NOW, iso, session_payload

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises writers anyway"),
]

THREADS = 4
ROUNDS = 40


def conflicting_states(session_id, *, stamped, now=NOW):
    """Four different states of one session (one per thread), optionally with distinct updated_at."""
    scheduled = session_payload("scheduled", session_id=session_id, days_ago=1, now=now)
    by_tutor = session_payload("rescheduled", session_id=session_id, days_ago=1, now=now)
    by_student = session_payload("rescheduled", session_id=session_id, days_ago=1, now=now)
    by_student["reschedule_info"].update(initiator="student", reason="Exam week", new_time=None)
    completed = session_payload("completed", session_id=session_id, days_ago=1, now=now, student_rating=5)
    states = [scheduled, by_tutor, by_student, completed]
    if stamped:  # modification times in a shuffled order: the newest is any thread's state
        seconds = random.Random(session_id).sample(range(THREADS), THREADS)
        for offset, state in zip(seconds, states, strict=True):
            state["updated_at"] = iso(now - timedelta(hours=1) + timedelta(seconds=offset))
    return states


def signature(status, completed_time, rating, reschedule):
    # JSON, so a signature read in another process (the live test) compares equal.
    return json.dumps([status, completed_time, rating, reschedule])


def posted_signature(payload):
    info = payload.get("reschedule_info")
    return signature(
        payload["status"],
        payload.get("completed_time"),
        payload.get("student_rating"),
        (info["initiator"], info["reason"], info["new_time"]) if info else None,
    )


def stored_signatures():
    reschedules = {
        reschedule.session_id: (
            reschedule.initiator,
            reschedule.reason,
            iso(reschedule.new_time) if reschedule.new_time else None,
        )
        for reschedule in Reschedule.objects.all()
    }
    return {
        str(session.pk): signature(
            session.status,
            iso(session.completed_time) if session.completed_time else None,
            session.student_rating,
            reschedules.get(session.pk),
        )
        for session in Session.objects.all()
    }


def post_concurrently(rounds, key):
    """Each thread posts its state of every round's session, all threads released together."""
    barrier = threading.Barrier(THREADS)
    answers = []

    def worker(thread):
        client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        try:
            for states in rounds:
                barrier.wait(timeout=30)
                response = client.post("/api/sessions", states[thread], content_type="application/json")
                answers.append((response.status_code, response.json().get("outcome")))
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=worker, args=(thread,)) for thread in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


@pytest.fixture
def key(monkeypatch):
    # Scoring runs inline in tests; it is not what this test is about, and it would only slow it.
    monkeypatch.setattr("sessions.ingest.enqueue_processing", lambda session_ids: None)
    return ApiKey.create_key("platform")[1]


def assert_each_session_in_one_posted_state(rounds, stored):
    """Each round's session is in exactly one of its posted states: the newest when they carry
    updated_at, else never `scheduled` (three of the four happened)."""
    assert len(stored) == len(rounds)
    mixed = {
        states[0]["session_id"]: stored[states[0]["session_id"]]
        for states in rounds
        if stored[states[0]["session_id"]] not in {posted_signature(state) for state in states}
    }
    assert mixed == {}, f"{len(mixed)} of {len(rounds)} sessions are in no posted state"
    for states in rounds:
        session = stored[states[0]["session_id"]]
        if "updated_at" in states[0]:
            assert session == posted_signature(max(states, key=lambda state: state["updated_at"]))
        else:
            assert json.loads(session)[0] != "scheduled"


@pytest.mark.parametrize("stamped", [False, True], ids=["without-updated_at", "with-updated_at"])
def test_concurrent_conflicting_posts_leave_one_posted_state(key, stamped):
    rounds = [conflicting_states(str(uuid.uuid4()), stamped=stamped) for _ in range(ROUNDS)]

    answers = post_concurrently(rounds, key)

    assert_each_session_in_one_posted_state(rounds, stored_signatures())
    assert len(answers) == THREADS * ROUNDS
    assert {status for status, _ in answers} == {202}


def test_posts_swapping_sessions_between_two_tutors_do_not_deadlock(key, monkeypatch):
    # A session moved to another tutor changes both tutors. Each post holds its tutors' locks
    # while it writes: two posts swapping sessions between the same two tutors must take both
    # locks at once, or each holds one and waits for the other (a deadlock: one post retried,
    # or answered 503). Both are held here until they meet or a second has passed.
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    ada, bo = uuid.uuid4(), uuid.uuid4()
    to_ada = session_payload(tutor_id=bo, days_ago=1)
    to_bo = session_payload(tutor_id=ada, days_ago=2)
    for payload in (to_ada, to_bo):
        assert client.post("/api/sessions", payload, content_type="application/json").status_code == 202
    to_ada["tutor_id"], to_bo["tutor_id"] = str(ada), str(bo)

    meeting = threading.Barrier(2)
    mark_changed, runs = Tutor.mark_changed, []

    def meet_then_mark_changed(tutor_ids, **kwargs):
        try:
            meeting.wait(timeout=1)
        except threading.BrokenBarrierError:  # the other post waits for our locks: go on alone
            pass
        mark_changed(tutor_ids, **kwargs)

    ingest = sessions_ingest._ingest
    monkeypatch.setattr(Tutor, "mark_changed", meet_then_mark_changed)
    monkeypatch.setattr(
        sessions_ingest, "_ingest", lambda *args, **kwargs: runs.append(1) or ingest(*args, **kwargs)
    )
    answers = []

    def post(payload):
        try:
            answers.append(
                Client(HTTP_AUTHORIZATION=f"Bearer {key}")
                .post("/api/sessions", payload, content_type="application/json")
                .status_code
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(payload,)) for payload in (to_ada, to_bo)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert answers == [202, 202]
    assert len(runs) == 2  # no post ran twice
    stored = dict(Session.objects.values_list("pk", "tutor_id"))
    assert stored == {uuid.UUID(to_ada["session_id"]): ada, uuid.UUID(to_bo["session_id"]): bo}


def test_posts_racing_to_create_a_tutor_take_its_lock_before_the_session(key, monkeypatch):
    # Three posts of one new session for a new tutor. `first` creates the tutor and the session;
    # `waiter` waits for `first`'s insert of the tutor (it found no tutor to lock), then locks the
    # session; `third` starts once `first` has committed, so it finds the tutor and locks it, then
    # waits for the session. Were `waiter` to go on without the tutor's lock, it would now wait
    # at mark_changed for `third`'s, and `third` for its session: a deadlock (one post retried,
    # or answered 503). Each step is released by the one before, so the order is the same in
    # every run.
    tutor_id, session_id = uuid.uuid4(), uuid.uuid4()
    payloads = {
        name: session_payload(status, session_id=session_id, tutor_id=tutor_id, days_ago=1)
        for name, status in (("first", "scheduled"), ("waiter", "completed"), ("third", "no_show"))
    }
    first_inside, release_first, waiter_inside, third_locked = (threading.Event() for _ in range(4))
    mark_changed, fetch, runs, answers = Tutor.mark_changed, sessions_ingest.fetch, [], {}

    def paced_mark_changed(tutor_ids, **kwargs):
        name = threading.current_thread().name
        if name == "first":
            first_inside.set()  # its insert of the tutor is not committed yet
            release_first.wait(timeout=10)
        elif name == "waiter":
            waiter_inside.set()  # it holds the session's lock
            third_locked.wait(timeout=1)  # with the tutor's lock held, `third` cannot get it
        mark_changed(tutor_ids, **kwargs)

    def noting_fetch(sql, params, fields):
        rows = fetch(sql, params, fields)
        if threading.current_thread().name == "third" and "FROM tutors" in sql:
            third_locked.set()
        return rows

    ingest = sessions_ingest._ingest
    monkeypatch.setattr(Tutor, "mark_changed", paced_mark_changed)
    monkeypatch.setattr(sessions_ingest, "fetch", noting_fetch)
    monkeypatch.setattr(
        sessions_ingest, "_ingest", lambda *args, **kwargs: runs.append(1) or ingest(*args, **kwargs)
    )

    def post(name):
        try:
            response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(
                "/api/sessions", payloads[name], content_type="application/json"
            )
            answers[name] = response.status_code
        finally:
            connections.close_all()

    def start(name):
        thread = threading.Thread(target=post, args=(name,), name=name)
        thread.start()
        return thread

    def waiting_for_a_lock():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return cursor.fetchone()[0]

    first = start("first")
    assert first_inside.wait(timeout=10)
    waiter = start("waiter")
    for _ in range(500):  # until `waiter` waits for `first`'s insert of the tutor
        if waiting_for_a_lock():
            break
        time.sleep(0.01)
    else:
        pytest.fail("the second post never waited for the first")
    release_first.set()
    first.join(timeout=10)
    assert waiter_inside.wait(timeout=10)
    third = start("third")
    for thread in (waiter, third):
        thread.join(timeout=30)

    assert answers == {"first": 202, "waiter": 202, "third": 202}
    assert len(runs) == 3  # no post ran twice
    assert Tutor.objects.filter(pk=tutor_id).count() == 1
