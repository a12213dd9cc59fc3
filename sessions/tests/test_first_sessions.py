"""First-session flags: the rule, and every write path keeping them up to date."""

import io
import random
import threading
import uuid
from collections import defaultdict
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions import first_sessions
from sessions.first_sessions import pair_flags
from sessions.ingest import ingest_sessions
from sessions.models import Session, Tutor
from sessions.schemas import SessionIn
from tutorscore.testing import NOW, day, session_payload

DAY = timedelta(days=1)
FIRST_ID, SECOND_ID = uuid.UUID(int=1), uuid.UUID(int=2)


def stored_flags():
    return {
        session_id: (first, retained)
        for session_id, first, retained in Session.objects.values_list(
            "id", "is_first_session", "first_session_retained"
        )
    }


def flags_from_scratch():
    """What pair_flags says for every session, pair by pair, from the rows as stored now."""
    pairs = defaultdict(list)
    for tutor_id, student_id, *session in Session.objects.values_list(*first_sessions.PAIR_COLUMNS):
        pairs[tutor_id, student_id].append(session)
    return {session_id: flags for pair in pairs.values() for session_id, flags in pair_flags(pair).items()}


# --- the rule -----------------------------------------------------------------------------------


def test_the_earliest_counted_session_is_first_and_retained_by_a_completed_return_within_14_days():
    flags = pair_flags(
        [
            (uuid.UUID(int=3), "completed", NOW + 14 * DAY),  # exactly 14 days later: retained
            (FIRST_ID, "completed", NOW),
            (uuid.UUID(int=4), "scheduled", NOW - DAY),  # has not happened: never first
        ]
    )
    assert flags == {
        FIRST_ID: (True, True),
        uuid.UUID(int=3): (False, False),
        uuid.UUID(int=4): (False, False),
    }


@pytest.mark.parametrize(
    ("follow_up_status", "after", "retained"),
    [
        ("completed", 14 * DAY + timedelta(seconds=1), False),  # too late
        ("no_show", DAY, False),  # the student did not come back
        ("rescheduled", DAY, False),
        ("completed", timedelta(0), False),  # the same moment is not "after"
        ("completed", timedelta(seconds=1), True),
    ],
)
def test_retention_needs_a_completed_session_after_the_first_within_14_days(
    follow_up_status, after, retained
):
    flags = pair_flags([(FIRST_ID, "rescheduled", NOW), (SECOND_ID, follow_up_status, NOW + after)])
    assert flags[FIRST_ID] == (True, retained)


def test_a_tie_on_time_goes_to_the_smaller_id():
    flags = pair_flags([(SECOND_ID, "completed", NOW), (FIRST_ID, "no_show", NOW)])
    assert flags == {FIRST_ID: (True, False), SECOND_ID: (False, False)}


def test_a_pair_without_counted_sessions_has_no_first_session():
    assert pair_flags([(FIRST_ID, "scheduled", NOW)]) == {FIRST_ID: (False, False)}


# --- ORM writes (admin, shell): the signals -----------------------------------------------------


def test_orm_writes_keep_the_flags_of_the_pairs_they_touch(make_tutor, make_session):
    tutor, other = make_tutor("Ada"), make_tutor("Bo")
    later = make_session(tutor, days_ago=10, student_id="s1")
    assert stored_flags() == {later.pk: (True, False)}

    earlier = make_session(tutor, days_ago=20, student_id="s1", status="scheduled")
    assert stored_flags()[earlier.pk] == (False, False)  # not counted (yet)

    earlier.status, earlier.completed_time = "completed", earlier.scheduled_time + timedelta(hours=1)
    earlier.save()  # it happened after all: it is now the first session, and s1 came back in 10 days
    assert stored_flags() == {earlier.pk: (True, True), later.pk: (False, False)}

    earlier.student_id = "s2"
    earlier.save()  # moved to another student: both pairs change
    assert stored_flags() == {earlier.pk: (True, False), later.pk: (True, False)}

    later.tutor = other
    later.save()
    earlier.delete()
    assert stored_flags() == {later.pk: (True, False)}
    assert stored_flags() == flags_from_scratch()


def test_random_orm_writes_always_leave_the_flags_of_a_fresh_computation(make_tutor):
    rng = random.Random(11)
    tutors = [make_tutor("Ada"), make_tutor("Bo")]
    sessions = []
    for _ in range(60):
        if sessions and rng.random() < 0.2:
            sessions.pop(rng.randrange(len(sessions))).delete()
        elif sessions and rng.random() < 0.4:
            session = rng.choice(sessions)
            session.status = rng.choice(["completed", "scheduled", "rescheduled", "no_show"])
            session.student_id = rng.choice(["s1", "s2"])
            session.scheduled_time = NOW - rng.randint(0, 30) * DAY
            session.completed_time = (
                session.scheduled_time + timedelta(hours=1) if session.status == "completed" else None
            )
            session.save()
        else:
            status = rng.choice(["completed", "completed", "scheduled", "no_show"])
            at = NOW - rng.randint(0, 30) * DAY
            sessions.append(
                Session.objects.create(
                    tutor=rng.choice(tutors),
                    student_id=rng.choice(["s1", "s2"]),
                    scheduled_time=at,
                    status=status,
                    completed_time=at + timedelta(hours=1) if status == "completed" else None,
                )
            )
        assert stored_flags() == flags_from_scratch()
    assert any(first for first, _ in stored_flags().values())
    assert any(retained for _, retained in stored_flags().values())


# --- the ingest ---------------------------------------------------------------------------------


def ingest(status="completed", **kwargs):
    payload = SessionIn.model_validate(session_payload(status, **kwargs), strict=False)
    ingest_sessions([payload], now=NOW)
    return Session.objects.get(pk=payload.session_id)


@pytest.mark.django_db
def test_the_ingest_keeps_the_flags_when_sessions_arrive_out_of_order_and_change():
    later = ingest(days_ago=10)
    follow_up = ingest("scheduled", days_ago=3, now=NOW)
    assert stored_flags() == {later.pk: (True, False), follow_up.pk: (False, False)}

    earlier = ingest(days_ago=20)  # reported late: it was the student's first session
    assert stored_flags() == {
        earlier.pk: (True, True),
        later.pk: (False, False),
        follow_up.pk: (False, False),
    }

    ingest(days_ago=20, session_id=earlier.pk, student_id="someone-else")  # corrected by the platform
    assert stored_flags()[later.pk] == (True, False)
    ingest(days_ago=3, session_id=follow_up.pk)  # the follow-up happened: later's student came back
    assert stored_flags()[later.pk] == (True, True)
    assert stored_flags() == flags_from_scratch()


@pytest.mark.django_db
def test_the_ingest_writes_a_new_first_session_flagged_in_its_insert():
    with CaptureQueriesContext(connection) as queries:
        session = ingest(days_ago=10)
    assert stored_flags() == {session.pk: (True, False)}
    assert not [
        query for query in queries if query["sql"].startswith("UPDATE") and "first_session" in query["sql"]
    ]

    ingest(days_ago=10, session_id=session.pk, student_rating=5)  # a change that cannot move the flags
    assert stored_flags() == {session.pk: (True, False)}


@pytest.mark.django_db
def test_random_ingest_batches_always_leave_the_flags_of_a_fresh_computation():
    rng = random.Random(7)
    session_ids = [uuid.UUID(int=number) for number in range(100, 116)]
    for _ in range(25):
        batch = []
        for session_id in rng.sample(session_ids, rng.randint(1, 5)):  # new ones and updates
            status = rng.choice(["completed", "completed", "scheduled", "rescheduled", "no_show"])
            payload = session_payload(
                status,
                session_id=session_id,
                tutor_id=rng.choice([uuid.UUID(int=1), uuid.UUID(int=2)]),
                student_id=rng.choice(["s1", "s2"]),
                days_ago=rng.randint(0, 20) + rng.choice([0, 0.5]),
            )
            batch.append(SessionIn.model_validate(payload, strict=False))
        ingest_sessions(batch, now=NOW)
        assert stored_flags() == flags_from_scratch()
    assert sum(retained for _, retained in stored_flags().values()) > 0


# --- the generator and the migration ------------------------------------------------------------


@pytest.mark.django_db
def test_generated_data_carries_the_flags_and_the_backfill_rebuilds_them(django_assert_max_num_queries):
    call_command(
        "generate_data", "--tutors=6", "--sessions=300", "--seed=5", "--no-scores", stdout=io.StringIO()
    )
    generated = stored_flags()
    assert generated == flags_from_scratch()
    assert sum(first for first, _ in generated.values()) > 20

    Session.objects.update(
        is_first_session=False, first_session_retained=False
    )  # as the migration finds them
    with django_assert_max_num_queries(3):  # one read, one UPDATE per combination of flags
        first_sessions.backfill(Session)
    assert stored_flags() == generated


# --- concurrent batches -------------------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite runs one writer at a time: nothing to interleave"
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_one_pair_leave_consistent_flags():
    """Two requests write sessions of the same pair at once; whichever commits second must see
    the first one's session (the tutor's row lock makes them take turns), so the pair ends with
    exactly one first session whichever order they commit in."""
    ingest(days_ago=30, student_id="someone")  # the tutor exists before the race
    for round_number in range(5):
        student = f"student-{round_number}"
        items = [
            SessionIn.model_validate(session_payload(days_ago=days_ago, student_id=student), strict=False)
            for days_ago in (10, 20)
        ]
        barrier = threading.Barrier(2)
        errors = []

        def post(item, barrier=barrier, errors=errors):
            try:
                barrier.wait()
                ingest_sessions([item], now=NOW)
            except Exception as exc:  # reported below: an exception in a thread fails nothing
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=post, args=(item,)) for item in items]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert stored_flags() == flags_from_scratch()
        assert Session.objects.filter(student_id=student, is_first_session=True).count() == 1


# --- repairing flags written around the app -----------------------------------------------------


def test_refresh_first_sessions_repairs_flags_and_marks_those_tutors(make_tutor, make_session):
    broken, fine = make_tutor("Broken"), make_tutor("Fine")
    first = make_session(broken, days_ago=20)
    make_session(broken, days_ago=10)
    make_session(fine, days_ago=10)
    expected = stored_flags()
    Session.objects.filter(pk=first.pk).update(is_first_session=False)  # a write around the app
    versions = dict(Tutor.objects.values_list("pk", "sessions_version"))
    out = io.StringIO()

    call_command("refresh_first_sessions", stdout=out)

    assert stored_flags() == expected
    assert "Checked the pairs of 2 tutors; fixed 1 sessions." in out.getvalue()
    assert "Tutors 2 / 2" in out.getvalue()
    now_versions = dict(Tutor.objects.values_list("pk", "sessions_version"))
    assert now_versions == {broken.pk: versions[broken.pk] + 1, fine.pk: versions[fine.pk]}  # rescored


def test_refresh_first_sessions_since_only_reads_recently_written_pairs(make_tutor, make_session):
    old, recent = make_tutor("Old"), make_tutor("Recent")
    stale = make_session(old, days_ago=20)
    fresh = make_session(recent, days_ago=20)
    Session.objects.update(is_first_session=False)
    Session.objects.filter(pk=stale.pk).update(updated_at=NOW - 30 * DAY)
    Session.objects.filter(pk=fresh.pk).update(updated_at=NOW)

    call_command("refresh_first_sessions", since=day(0, "%Y-%m-%dT00:00:00Z"), stdout=io.StringIO())

    assert stored_flags() == {stale.pk: (False, False), fresh.pk: (True, False)}


@pytest.mark.parametrize("since", ["yesterday", day(0, "%Y-%m-%dT00:00:00")])
def test_refresh_first_sessions_rejects_a_bad_since(db, since):
    with pytest.raises(CommandError, match="--since"):
        call_command("refresh_first_sessions", since=since)
