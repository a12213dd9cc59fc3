"""sessions.ingest: upsert semantics with time injected (no HTTP)."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from sessions import ingest
from sessions.ingest import IngestError, ingest_sessions
from sessions.models import Reschedule, Session, Tutor
from sessions.schemas import SessionIn
from sessions.sql import bulk_update, copy_rows
from tutorscore.testing import TUTOR_ID, iso, session_payload

pytestmark = pytest.mark.django_db


def item(status="completed", **kwargs):
    return SessionIn.model_validate(session_payload(status, **kwargs), strict=False)


def test_reschedule_without_cancelled_at_was_asked_when_received(now):
    data = session_payload("rescheduled", days_ago=-2)  # two days ahead
    data["reschedule_info"].update(cancelled_at=None, reason="Zoom kept crashing")
    payload = SessionIn.model_validate(data, strict=False)

    ingest_sessions([payload], now=now)

    reschedule = Reschedule.objects.get()
    assert reschedule.cancelled_at == now
    assert reschedule.hours_before_session == Decimal("48.00")
    assert reschedule.reason_code == "technical"
    assert not reschedule.is_last_minute


def test_repeat_without_cancelled_at_keeps_the_first_receipt_time(now):
    payload = item("rescheduled")
    info = payload.reschedule_info.model_copy(update={"cancelled_at": None})
    payload = payload.model_copy(update={"reschedule_info": info})
    ingest_sessions([payload], now=now)

    result = ingest_sessions([payload], now=now + timedelta(hours=3))

    assert (result.unchanged, result.changed_session_ids) == (1, [])
    assert Reschedule.objects.get().cancelled_at == now


def test_result_counts(now):
    first, second = item(), item("scheduled")
    assert ingest_sessions([first, second], now=now).created == 2
    changed = second.model_copy(update={"status": "no_show"})
    result = ingest_sessions([first, changed], now=now)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert result.changed_session_ids == [str(second.session_id)]
    assert Session.objects.get(pk=second.session_id).no_show_by == "tutor"


def test_marks_changed_tutors_with_injected_time(now):
    ingest_sessions([item()], now=now)
    assert Tutor.objects.get(pk=TUTOR_ID).sessions_changed_at == now


def test_new_tutor_name_and_email_come_from_the_payload(now):
    ingest_sessions([item(tutor_name="Katherine Johnson", tutor_email="kj@example.com")], now=now)
    tutor = Tutor.objects.get()
    assert (tutor.name, tutor.email, tutor.is_active, tutor.created_at) == (
        "Katherine Johnson",
        "kj@example.com",
        True,
        now,
    )


def test_taken_email_raises_ingest_error_and_stores_nothing(now, make_tutor):
    make_tutor(email="taken@example.com")
    with pytest.raises(IngestError) as error:
        ingest_sessions([item(tutor_id=uuid.uuid4(), tutor_email="taken@example.com")], now=now)
    assert error.value.details == {"tutor_email": ["This e-mail is already used by another tutor."]}
    assert Session.objects.count() == 0


def test_a_lost_race_is_retried_once(now, monkeypatch):
    real = ingest._ingest
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("duplicate key (a concurrent request inserted the same session)")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "_ingest", flaky)
    assert ingest_sessions([item()], now=now).created == 1
    assert len(calls) == 2


def test_a_deadlock_is_retried_once_and_other_database_errors_are_not(now, monkeypatch):
    from django.db import OperationalError

    real = ingest._ingest
    errors = [OperationalError("deadlock detected"), OperationalError("connection refused")]

    def flaky(*args, **kwargs):
        if errors:
            raise errors.pop(0)
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "_ingest", flaky)
    with pytest.raises(OperationalError, match="connection refused"):
        ingest_sessions([item()], now=now)
    assert Session.objects.count() == 0


def test_created_at_survives_updates(now):
    payload = item("scheduled")
    ingest_sessions([payload], now=now)
    ingest_sessions([payload.model_copy(update={"status": "no_show"})], now=now + timedelta(days=1))
    session = Session.objects.get()
    assert (session.created_at, session.updated_at) == (now, now + timedelta(days=1))


def test_a_batch_of_updates_rewrites_every_field_nulls_included_in_one_statement_per_table(now):
    rated = item(student_rating=4)
    upcoming = item("scheduled", days_ago=-1)
    moved = item("rescheduled")
    untouched = item()
    ingest_sessions([rated, upcoming, moved, untouched], now=now)
    untouched_row = Session.objects.get(pk=untouched.session_id)
    later = now + timedelta(hours=1)
    other_tutor = uuid.uuid4()
    info = moved.reschedule_info.model_copy(update={"reason": "Car trouble", "new_time": None})
    updates = [
        rated.model_copy(update={"status": "no_show", "completed_time": None, "student_rating": None}),
        upcoming.model_copy(
            update={"tutor_id": other_tutor, "student_id": "student-7", "duration_minutes": 90}
        ),
        moved.model_copy(update={"reschedule_info": info}),
    ]

    with CaptureQueriesContext(connection) as queries:
        result = ingest_sessions(updates, now=later)

    assert (result.updated, result.created) == (3, 0)
    no_show = Session.objects.get(pk=rated.session_id)
    assert (no_show.status, no_show.completed_time, no_show.student_rating, no_show.no_show_by) == (
        "no_show",
        None,
        None,
        "tutor",
    )
    assert no_show.updated_at == later
    reassigned = Session.objects.get(pk=upcoming.session_id)
    assert (reassigned.tutor_id, reassigned.student_id, reassigned.duration_minutes) == (
        other_tutor,
        "student-7",
        90,
    )
    reschedule = Reschedule.objects.get(session_id=moved.session_id)
    assert (reschedule.reason, reschedule.reason_code, reschedule.new_time) == (
        "Car trouble",
        "personal",
        None,
    )
    assert Session.objects.get(pk=untouched.session_id).updated_at == untouched_row.updated_at
    statements = [query["sql"] for query in queries.captured_queries]
    if connection.vendor == "postgresql":  # each column as one array, whatever the batch size
        assert sum(sql.startswith('UPDATE "sessions" SET') for sql in statements) == 1
        assert sum(sql.startswith('UPDATE "reschedules" SET') for sql in statements) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite does not enforce varchar lengths")
def test_bulk_update_refuses_an_over_long_value_instead_of_truncating_it(now):
    ingest_sessions([item()], now=now)
    session = Session.objects.get()
    session.student_id = "x" * 101

    with pytest.raises(DataError), transaction.atomic():
        bulk_update(Session, [session], ["student_id"])
    assert Session.objects.get().student_id == "student-42"


def test_a_stale_post_is_counted_logged_and_writes_nothing(now, caplog, django_assert_max_num_queries):
    stored = item("completed", updated_at=iso(now - timedelta(minutes=1)))
    ingest_sessions([stored], now=now)
    late = stored.model_copy(update={"status": "scheduled", "completed_time": None, "updated_at": None})

    with caplog.at_level("INFO", logger="sessions.ingest"), django_assert_max_num_queries(5) as captured:
        result = ingest_sessions([late], now=now + timedelta(minutes=1))

    assert (result.stale, result.unchanged, result.changed_session_ids) == (1, 0, [])
    assert result.stale_session_ids == [str(stored.session_id)]
    assert not [q for q in captured.captured_queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))]
    assert f"session_id={stored.session_id} tutor_id={TUTOR_ID} status=scheduled outcome=stale" in caplog.text
    assert Session.objects.get().status == "completed"


def test_a_newer_time_on_an_identical_state_is_stored(now):
    first = item("completed", updated_at=iso(now - timedelta(minutes=2)))
    ingest_sessions([first], now=now)
    confirmed = first.model_copy(update={"updated_at": now - timedelta(minutes=1)})

    assert ingest_sessions([confirmed], now=now).updated == 1
    # ...so a state between the two is now stale.
    between = first.model_copy(
        update={"status": "no_show", "completed_time": None, "updated_at": now - timedelta(seconds=90)}
    )
    assert ingest_sessions([between], now=now).stale == 1


def test_new_rows_are_inserted_with_every_field_and_the_model_defaults(now):
    new = [
        item("no_show", days_ago=3, no_show_by=None),
        item("rescheduled", days_ago=4, duration_minutes=None),
    ]
    ingest_sessions(new, now=now)

    no_show = Session.objects.get(pk=new[0].session_id)
    assert (no_show.status, no_show.no_show_by, no_show.duration_minutes) == ("no_show", "tutor", 60)
    assert no_show.created_at == now <= no_show.updated_at  # auto_now: the clock, as bulk_create sets it
    rescheduled = Reschedule.objects.get(session_id=new[1].session_id)
    assert (rescheduled.initiator, rescheduled.reason_code, rescheduled.hours_before_session) == (
        "tutor",
        "emergency",  # derived from "Family emergency"
        Decimal("6.00"),
    )


def test_inserting_a_stored_session_again_is_an_integrity_error(now):
    """What makes a lost race retryable: COPY's duplicate key surfaces as Django's IntegrityError."""
    ingest_sessions([payload := item()], now=now)
    row = Session.objects.filter(pk=payload.session_id).values_list(*ingest.NEW_SESSION_COLUMNS).get()
    with pytest.raises(IntegrityError), transaction.atomic():
        copy_rows(Session, ingest.NEW_SESSION_COLUMNS, [row])


def test_a_batch_logs_one_line_with_every_session_id(now, caplog):
    batch = [item(days_ago=days) for days in (1, 2, 3)]
    with caplog.at_level("INFO", logger="sessions.ingest"):
        ingest_sessions(batch, now=now)
    [line] = [record.getMessage() for record in caplog.records if record.name == "sessions.ingest"]
    ids = ",".join(str(payload.session_id) for payload in batch)
    assert line == f"sessions accepted count=3 created=3 updated=0 unchanged=0 stale=0 session_ids={ids}"
