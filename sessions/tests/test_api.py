"""POST /api/sessions, POST /api/sessions/bulk and /healthz over Django's test client."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from sessions.models import ApiKey, Reschedule, Session, Tutor
from tutorscore.testing import NOW, TUTOR_ID, day, iso, session_payload

pytestmark = pytest.mark.django_db


def counts():
    return Tutor.objects.count(), Session.objects.count(), Reschedule.objects.count()


# The statement that locks a request's sessions before reading them (PostgreSQL; SQLite transactions
# take the database's write lock up front).
LOCK = 1 if connection.features.has_select_for_update else 0


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    return body


# --- happy paths -------------------------------------------------------------------------------


def test_post_original_contract_creates_tutor_and_session(api):
    payload = session_payload("completed")
    response = api.post("/api/sessions", payload)

    assert response.status_code == 202
    assert response.json() == {
        "session_id": payload["session_id"],
        "status": "accepted",
        "outcome": "created",
    }
    session = Session.objects.get()
    assert str(session.pk) == payload["session_id"]
    assert session.tutor_id == TUTOR_ID
    assert session.status == "completed"
    assert session.duration_minutes == 60
    assert session.tutor.name == "Tutor 11111111"  # unknown tutor: created with a default name


def test_post_with_optional_extras(api):
    payload = session_payload(
        "no_show", tutor_name="Grace Hopper", tutor_email="grace@example.com", no_show_by="student"
    )
    payload["student_rating"] = None
    assert api.post("/api/sessions", payload).status_code == 202

    session = Session.objects.select_related("tutor").get()
    assert (session.tutor.name, session.tutor.email) == ("Grace Hopper", "grace@example.com")
    assert session.no_show_by == "student"


def test_no_show_defaults_to_the_tutor(api):
    assert api.post("/api/sessions", session_payload("no_show")).status_code == 202
    assert Session.objects.get().no_show_by == "tutor"


def test_rescheduled_session_gets_derived_fields(api):
    payload = session_payload("rescheduled")
    assert api.post("/api/sessions", payload).status_code == 202

    reschedule = Reschedule.objects.get()
    assert reschedule.reason_code == "emergency"  # classified from "Family emergency"
    assert reschedule.hours_before_session == Decimal("6.00")
    assert reschedule.is_last_minute


def test_platform_reason_code_wins_over_classification(api):
    payload = session_payload("rescheduled")
    payload["reschedule_info"]["reason_code"] = "personal"
    assert api.post("/api/sessions", payload).status_code == 202
    assert Reschedule.objects.get().reason_code == "personal"


def test_existing_tutor_keeps_its_name(api, make_tutor):
    make_tutor(id=TUTOR_ID, name="Ada Lovelace")
    assert api.post("/api/sessions", session_payload(tutor_name="Someone Else")).status_code == 202
    assert Tutor.objects.get().name == "Ada Lovelace"


def test_x_api_key_header_works(api, api_key):
    response = api.post("/api/sessions", session_payload(), HTTP_AUTHORIZATION="", HTTP_X_API_KEY=api_key)
    assert response.status_code == 202


# --- upsert and idempotency --------------------------------------------------------------------


def test_scheduled_then_completed_updates_the_same_row(api):
    session_id = uuid.uuid4()
    scheduled = session_payload("scheduled", session_id=session_id)
    assert api.post("/api/sessions", scheduled).json()["outcome"] == "created"

    completed = session_payload("completed", session_id=session_id, duration_minutes=45)
    response = api.post("/api/sessions", completed)

    assert response.status_code == 202
    assert response.json()["outcome"] == "updated"
    session = Session.objects.get()
    assert (session.status, session.duration_minutes) == ("completed", 45)
    assert session.completed_time is not None


def test_scheduled_then_rescheduled_then_completed_keeps_one_reschedule_at_most(api):
    session_id = uuid.uuid4()
    api.post("/api/sessions", session_payload("scheduled", session_id=session_id))
    api.post("/api/sessions", session_payload("rescheduled", session_id=session_id))
    assert Reschedule.objects.count() == 1
    api.post("/api/sessions", session_payload("completed", session_id=session_id))
    assert (Session.objects.get().status, Reschedule.objects.count()) == ("completed", 0)


def test_a_late_retry_of_the_scheduled_state_does_not_revert_a_reschedule(api):
    session_id = uuid.uuid4()
    scheduled = session_payload("scheduled", session_id=session_id)
    api.post("/api/sessions", scheduled)
    api.post("/api/sessions", session_payload("rescheduled", session_id=session_id))

    response = api.post("/api/sessions", scheduled)  # the platform's retry of its first post

    assert response.status_code == 202
    assert response.json()["outcome"] == "stale"
    assert (Session.objects.get().status, Reschedule.objects.count()) == ("rescheduled", 1)


def test_a_post_older_than_the_stored_updated_at_is_stale_and_changes_nothing(
    api, now, monkeypatch, django_capture_on_commit_callbacks
):
    session_id = uuid.uuid4()
    newer = session_payload("completed", session_id=session_id, updated_at=iso(now - timedelta(minutes=5)))
    api.post("/api/sessions", newer)
    before = Session.objects.values().get()
    older = session_payload("no_show", session_id=session_id, updated_at=iso(now - timedelta(minutes=6)))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post("/api/sessions", older)

    assert (response.status_code, response.json()["outcome"]) == (202, "stale")
    assert Session.objects.values().get() == before  # not even our own updated_at moved
    assert callbacks == []  # nothing to rescore


def test_a_newer_updated_at_may_correct_a_session_back_to_scheduled(api, now):
    session_id = uuid.uuid4()
    stamp = now - timedelta(minutes=30)
    api.post("/api/sessions", session_payload("rescheduled", session_id=session_id, updated_at=iso(stamp)))
    correction = session_payload(
        "scheduled", session_id=session_id, updated_at=iso(stamp + timedelta(seconds=1))
    )

    assert api.post("/api/sessions", correction).json()["outcome"] == "updated"
    session = Session.objects.get()
    assert (session.status, session.platform_updated_at, Reschedule.objects.count()) == (
        "scheduled",
        stamp + timedelta(seconds=1),
        0,
    )


def test_a_post_without_updated_at_keeps_the_stored_one(api, now):
    session_id = uuid.uuid4()
    stamp = now - timedelta(minutes=30)
    api.post("/api/sessions", session_payload("completed", session_id=session_id, updated_at=iso(stamp)))

    undated = session_payload("completed", session_id=session_id, student_rating=4)
    assert api.post("/api/sessions", undated).json()["outcome"] == "updated"
    assert Session.objects.values_list("student_rating", "platform_updated_at").get() == (4, stamp)
    older = session_payload("no_show", session_id=session_id, updated_at=iso(stamp - timedelta(seconds=1)))
    assert api.post("/api/sessions", older).json()["outcome"] == "stale"


def test_updated_at_in_the_future_is_refused(api, now):
    payload = session_payload(updated_at=iso(now + timedelta(minutes=6)))
    body = assert_error(api.post("/api/sessions", payload), 422, "validation_error")
    assert body["details"] == {"updated_at": ["updated_at must not be in the future."]}
    within_skew = session_payload(updated_at=iso(now + timedelta(minutes=4)))
    assert api.post("/api/sessions", within_skew).status_code == 202


def test_bulk_counts_stale_sessions(api, now):
    stamp = iso(now - timedelta(minutes=5))
    stored = [session_payload("completed", updated_at=stamp) for _ in range(2)]
    api.post("/api/sessions/bulk", {"sessions": stored})
    late = [dict(item, status="scheduled", completed_time=None) for item in stored]
    late[0]["updated_at"] = iso(now - timedelta(minutes=10))
    del late[1]["updated_at"]

    response = api.post("/api/sessions/bulk", {"sessions": [*late, session_payload()]})

    assert response.status_code == 202
    assert {key: response.json()[key] for key in ("count", "created", "updated", "unchanged", "stale")} == {
        "count": 3,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "stale": 2,
    }
    assert set(Session.objects.values_list("status", flat=True)) == {"completed"}


def test_bulk_same_session_twice_applies_in_order_with_the_ordering_rule(api, now):
    session_id = uuid.uuid4()
    newer = session_payload("no_show", session_id=session_id, updated_at=iso(now - timedelta(minutes=1)))
    older = session_payload("completed", session_id=session_id, updated_at=iso(now - timedelta(minutes=2)))
    response = api.post("/api/sessions/bulk", {"sessions": [newer, older]})
    assert (response.json()["created"], Session.objects.get().status) == (1, "no_show")

    # Equal times: the later item wins unless it would send a held session back to scheduled.
    same_time = [
        session_payload("rescheduled", session_id=session_id),
        session_payload("scheduled", session_id=session_id),
    ]
    for item in same_time:
        item["updated_at"] = iso(now)
    response = api.post("/api/sessions/bulk", {"sessions": same_time})
    assert (response.json()["updated"], Session.objects.get().status) == (1, "rescheduled")


def test_identical_repeat_writes_nothing(api, django_assert_max_num_queries):
    payload = session_payload("rescheduled")
    api.post("/api/sessions", payload)
    before = Session.objects.values("updated_at").get()["updated_at"]
    Tutor.objects.update(sessions_changed_at=None)

    # key, tutors, sessions (lock, read), and the savepoint pair of the test transaction
    with django_assert_max_num_queries(5 + LOCK) as captured:
        response = api.post("/api/sessions", payload)

    assert response.json()["outcome"] == "unchanged"
    assert not [q for q in captured.captured_queries if q["sql"].startswith(("INSERT", 'UPDATE "sessions'))]
    assert Session.objects.values("updated_at").get()["updated_at"] == before
    assert Tutor.objects.get().sessions_changed_at is None  # not marked: nothing to rescore


def test_changed_session_marks_its_tutor(api):
    api.post("/api/sessions", session_payload())
    assert Tutor.objects.get().sessions_changed_at is not None


def test_session_moved_to_another_tutor_marks_both(api):
    session_id = uuid.uuid4()
    other_tutor = uuid.UUID("22222222-2222-4222-8222-222222222222")
    api.post("/api/sessions", session_payload(session_id=session_id))
    Tutor.objects.update(sessions_changed_at=None)

    api.post("/api/sessions", session_payload(session_id=session_id, tutor_id=other_tutor))

    assert Session.objects.get().tutor_id == other_tutor
    assert Tutor.objects.filter(sessions_changed_at__isnull=False).count() == 2


def test_enqueues_one_task_per_request_and_none_for_repeats(
    api, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, ids, **kw: calls.append((func, ids)))
    payload = session_payload()
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/sessions", payload)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        api.post("/api/sessions", payload)

    assert calls == [("scoring.tasks.process_sessions", [payload["session_id"]])]
    assert callbacks == []


def test_bulk_enqueues_one_task_for_the_batch(api, monkeypatch, django_capture_on_commit_callbacks):
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, ids, **kw: calls.append((func, ids)))
    sessions = [session_payload() for _ in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/sessions/bulk", {"sessions": sessions})
    assert calls == [("scoring.tasks.process_sessions", [item["session_id"] for item in sessions])]


def test_broker_failure_still_answers_202(api, monkeypatch, django_capture_on_commit_callbacks, caplog):
    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("django_q.tasks.async_task", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/sessions", session_payload())

    assert response.status_code == 202
    assert Session.objects.count() == 1
    assert Tutor.objects.get().sessions_changed_at is not None  # the stale sweep will find it
    assert "could not enqueue scoring.tasks.process_sessions (process 1 sessions)" in caplog.text


def test_accepted_sessions_are_logged_with_ids(api, caplog):
    payload = session_payload()
    with caplog.at_level("INFO", logger="sessions.ingest"):
        api.post("/api/sessions", payload)
    assert f"session accepted session_id={payload['session_id']} tutor_id={TUTOR_ID}" in caplog.text


# --- bulk -------------------------------------------------------------------------------------


def test_bulk_stores_every_session(api):
    sessions = [session_payload(status) for status in ("completed", "rescheduled", "no_show", "scheduled")]
    response = api.post("/api/sessions/bulk", {"sessions": sessions})

    assert response.status_code == 202
    assert response.json() == {
        "status": "accepted",
        "count": 4,
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "stale": 0,
        "session_ids": [item["session_id"] for item in sessions],
    }
    assert counts() == (1, 4, 1)


def test_same_batch_twice_leaves_one_copy(api):
    sessions = [session_payload("rescheduled") for _ in range(3)] + [session_payload() for _ in range(3)]
    api.post("/api/sessions/bulk", {"sessions": sessions})
    response = api.post("/api/sessions/bulk", {"sessions": sessions})

    assert response.json()["unchanged"] == 6
    assert counts() == (1, 6, 3)


def test_bulk_same_session_twice_in_one_batch_later_wins(api):
    session_id = uuid.uuid4()
    sessions = [session_payload("scheduled", session_id=session_id), session_payload(session_id=session_id)]
    assert api.post("/api/sessions/bulk", {"sessions": sessions}).status_code == 202
    assert Session.objects.get().status == "completed"


def test_bulk_is_all_or_nothing_and_lists_errors_by_index(api):
    sessions = [session_payload() for _ in range(5)]
    sessions[3]["status"] = "finished"
    sessions[4]["scheduled_time"] = "2026-01-15T14:00:00"

    body = assert_error(api.post("/api/sessions/bulk", {"sessions": sessions}), 422, "validation_error")

    assert set(body["details"]) == {"sessions[3].status", "sessions[4].scheduled_time"}
    assert counts() == (0, 0, 0)


def test_bulk_limits(api):
    assert_error(api.post("/api/sessions/bulk", {"sessions": []}), 422, "validation_error")
    too_many = {"sessions": [session_payload() for _ in range(1001)]}
    body = assert_error(api.post("/api/sessions/bulk", too_many), 422, "validation_error")
    assert body["details"] == {"sessions": ["List should have at most 1000 items after validation, not 1001"]}
    assert_error(api.post("/api/sessions/bulk", {"items": []}), 422, "validation_error")


def test_bulk_new_tutors_with_the_same_email_are_rejected(api):
    first = session_payload(tutor_id=uuid.uuid4(), tutor_email="same@example.com")
    second = session_payload(tutor_id=uuid.uuid4(), tutor_email="same@example.com")
    body = assert_error(
        api.post("/api/sessions/bulk", {"sessions": [first, second]}), 422, "validation_error"
    )
    assert list(body["details"]) == ["sessions[1].tutor_email"]
    assert counts() == (0, 0, 0)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["{", "", "not json", "[1, 2]", '"text"', "null", "42"])
def test_malformed_or_non_object_json_is_400(api, raw):
    assert_error(api.post("/api/sessions", None, raw=raw), 400, "invalid_json")
    assert_error(api.post("/api/sessions/bulk", None, raw=raw), 400, "invalid_json")


def test_broken_utf8_is_400(api):
    assert_error(api.post("/api/sessions", None, raw=b'{"student_id": "\xff\xfe"}'), 400, "invalid_json")


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": ""},
        {"HTTP_AUTHORIZATION": "Bearer wrong-key"},
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
        {"HTTP_AUTHORIZATION": "", "HTTP_X_API_KEY": "wrong-key"},
    ],
)
def test_missing_or_invalid_key_is_401(api, headers):
    response = api.post("/api/sessions", session_payload(), **headers)
    assert_error(response, 401, "unauthorized")
    assert response["WWW-Authenticate"] == "Bearer"
    assert counts() == (0, 0, 0)


def test_revoked_key_is_401(api, now):
    ApiKey.objects.update(revoked_at=now)
    body = assert_error(api.post("/api/sessions", session_payload()), 401, "unauthorized")
    assert body["message"] == "This API key has been revoked."


@pytest.mark.parametrize("path", ["/api/sessions", "/api/sessions/bulk"])
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_wrong_method_is_405_with_allow(api, path, method):
    response = getattr(api.client, method)(path)
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


def test_body_too_large_is_413(api, settings):
    settings.API_MAX_BODY_BYTES = 1000
    body = assert_error(
        api.post("/api/sessions", session_payload(student_id="x" * 2000)), 413, "payload_too_large"
    )
    assert "1000 bytes" in body["message"]
    assert counts() == (0, 0, 0)


def test_body_above_djangos_upload_limit_is_413_not_500(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100  # Django raises RequestDataTooBig on request.body
    assert_error(api.post("/api/sessions", session_payload()), 413, "payload_too_large")


def test_naive_timestamp_is_rejected_with_a_clear_message(api):
    body = assert_error(
        api.post("/api/sessions", session_payload(scheduled_time="2026-01-15T14:00:00")),
        422,
        "validation_error",
    )
    assert body["details"] == {
        "scheduled_time": [
            "Timestamp has no timezone: send ISO 8601 with an offset, e.g. 2026-01-15T14:00:00Z."
        ]
    }


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"session_id": "not-a-uuid"}, "session_id", None),
        ({"tutor_id": 12}, "tutor_id", None),
        ({"student_id": ""}, "student_id", None),
        ({"student_id": 42}, "student_id", "Input should be a valid string"),
        ({"status": "done"}, "status", None),
        ({"duration_minutes": 0}, "duration_minutes", "Input should be greater than or equal to 1"),
        ({"duration_minutes": 301}, "duration_minutes", "Input should be less than or equal to 300"),
        ({"duration_minutes": "60"}, "duration_minutes", "Input should be a valid integer"),
        ({"duration_minutes": True}, "duration_minutes", "Input should be a valid integer"),
        ({"student_rating": 6}, "student_rating", "Input should be less than or equal to 5"),
        ({"no_show_by": "tutor"}, "no_show_by", "no_show_by is only allowed when status is no_show."),
        ({"completed_time": day(24, "%Y-%m-%dT%H:%M:%SZ")}, "completed_time", None),  # before it began
        (
            {"status": "scheduled"},
            "completed_time",
            "completed_time is only allowed when status is completed.",
        ),
        (
            {"status": "rescheduled"},
            "reschedule_info",
            "reschedule_info is required when status is rescheduled.",
        ),
        ({"tutor_email": "not-an-email"}, "tutor_email", "Enter a valid e-mail address."),
        ({"student_id": "a\x00b"}, "student_id", "Text must not contain NUL characters."),
        ({"scheduled_time": "1999-12-31T23:00:00Z"}, "scheduled_time", None),
        ({"scheduled_time": 1700000000}, "scheduled_time", None),
    ],
)
def test_validation_errors_name_the_field(api, changes, field, message):
    payload = session_payload("completed", days_ago=2)
    payload.update(changes)
    body = assert_error(api.post("/api/sessions", payload), 422, "validation_error")
    assert field in body["details"], body
    if message:
        assert body["details"][field] == [message]
    assert counts() == (0, 0, 0)


NIL_UUID = "00000000-0000-0000-0000-000000000000"


def later(**delta):
    return iso(NOW + timedelta(**delta))


# A completed session 2 days ago, 60 minutes long, changed as each case says.
@pytest.mark.parametrize(
    ("changes", "details"),
    [
        ({"session_id": NIL_UUID}, {"session_id": ["The all-zero UUID is not a valid id."]}),
        ({"tutor_id": NIL_UUID}, {"tutor_id": ["The all-zero UUID is not a valid id."]}),
        ({"student_id": "   "}, {"student_id": ["student_id must not be blank."]}),
        ({"student_id": " stu-1"}, {"student_id": ["student_id must not start or end with whitespace."]}),
        ({"student_id": "stu-1\n"}, {"student_id": ["student_id must not start or end with whitespace."]}),
        ({"student_id": "stu\t1"}, {"student_id": ["student_id must not contain control characters."]}),
        ({"student_id": "stu\x1b[31m"}, {"student_id": ["student_id must not contain control characters."]}),
        ({"student_id": "stu\x851"}, {"student_id": ["student_id must not contain control characters."]}),
        (
            {"scheduled_time": later(hours=1), "completed_time": later(hours=2)},
            {
                "scheduled_time": ["A completed or no-show session must not be scheduled in the future."],
                "completed_time": ["completed_time must not be in the future."],
            },
        ),
        (
            {"status": "no_show", "scheduled_time": later(minutes=6), "completed_time": None},
            {"scheduled_time": ["A completed or no-show session must not be scheduled in the future."]},
        ),
        (
            {"scheduled_time": later(minutes=-50), "completed_time": later(minutes=10)},
            {"completed_time": ["completed_time must not be in the future."]},
        ),
        (
            {"duration_minutes": 90},
            {
                "duration_minutes": [
                    "duration_minutes contradicts completed_time − scheduled_time (60 minutes): "
                    "a session starts at most 15 minutes early and 60 minutes late."
                ]
            },
        ),
        (
            {"scheduled_time": later(days=-2, hours=-3)},  # 4 h from start to end for 60 minutes
            {
                "duration_minutes": [
                    "duration_minutes contradicts completed_time − scheduled_time (240 minutes): "
                    "a session starts at most 15 minutes early and 60 minutes late."
                ]
            },
        ),
        (
            {"status": "no_show", "completed_time": None, "student_rating": 3},
            {"student_rating": ["student_rating is only allowed when status is completed."]},
        ),
        (
            {"status": "scheduled", "completed_time": None, "student_rating": 5},
            {"student_rating": ["student_rating is only allowed when status is completed."]},
        ),
        ({"updated_at": later(minutes=6)}, {"updated_at": ["updated_at must not be in the future."]}),
    ],
)
def test_implausible_sessions_are_refused_with_the_rule(api, changes, details):
    payload = session_payload("completed", days_ago=2)
    payload.update(changes)
    body = assert_error(api.post("/api/sessions", payload), 422, "validation_error")
    assert body["details"] == details
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize(
    "changes",
    [
        {"scheduled_time": later(minutes=-56), "completed_time": later(minutes=4)},  # clock skew
        {"status": "no_show", "scheduled_time": later(minutes=4), "completed_time": None},
        {"duration_minutes": 75},  # began 15 minutes early
        {"duration_minutes": 1, "completed_time": later(days=-2, minutes=61)},  # 60 minutes late
        {"student_id": "Zoë-42 (2nd account)"},
        {"updated_at": later(minutes=4)},
    ],
)
def test_plausible_edge_cases_are_accepted(api, changes):
    payload = session_payload("completed", days_ago=2)
    payload.update(changes)
    response = api.post("/api/sessions", payload)
    assert response.status_code == 202, response.content


def test_clock_skew_is_a_setting(api, settings):
    settings.INGEST_CLOCK_SKEW_SECONDS = 0
    payload = session_payload("completed", scheduled_time=later(minutes=-59), completed_time=later(minutes=1))
    body = assert_error(api.post("/api/sessions", payload), 422, "validation_error")
    assert body["details"] == {"completed_time": ["completed_time must not be in the future."]}


@pytest.mark.parametrize(
    ("cancelled_at", "message"),
    [
        (later(days=5 * 365), "cancelled_at must not be in the future."),  # years ahead: "last-minute"
        (later(minutes=6), "cancelled_at must not be in the future."),
        (
            later(days=-2, hours=24, seconds=1),
            "cancelled_at must not be more than 24 hours after original_time.",
        ),
    ],
)
def test_implausible_reschedule_requests_are_refused(api, cancelled_at, message):
    payload = session_payload("rescheduled", days_ago=2)
    payload["reschedule_info"]["cancelled_at"] = cancelled_at
    body = assert_error(api.post("/api/sessions", payload), 422, "validation_error")
    assert body["details"] == {"reschedule_info.cancelled_at": [message]}
    assert counts() == (0, 0, 0)


def test_a_reschedule_asked_after_the_start_counts_as_last_minute(api):
    payload = session_payload("rescheduled", days_ago=2)
    payload["reschedule_info"]["cancelled_at"] = later(days=-2, hours=23)
    assert api.post("/api/sessions", payload).status_code == 202
    reschedule = Reschedule.objects.get()
    assert (reschedule.hours_before_session, reschedule.is_last_minute) == (Decimal("-23.00"), True)


def test_bulk_lists_implausible_items_by_index_and_stores_nothing(api):
    sessions = [session_payload() for _ in range(4)]
    sessions[1].update(status="no_show", completed_time=None, student_rating=2)
    sessions[3]["student_id"] = "\t"

    body = assert_error(api.post("/api/sessions/bulk", {"sessions": sessions}), 422, "validation_error")

    assert body["details"] == {
        "sessions[1].student_rating": ["student_rating is only allowed when status is completed."],
        "sessions[3].student_id": ["student_id must not be blank."],
    }
    assert counts() == (0, 0, 0)


def test_missing_fields_are_listed(api):
    body = assert_error(api.post("/api/sessions", {}), 422, "validation_error")
    assert body["details"] == {
        name: ["This field is required."]
        for name in ("session_id", "tutor_id", "student_id", "scheduled_time", "status")
    }


def test_reschedule_new_time_must_follow_original_time(api):
    payload = session_payload("rescheduled")
    payload["reschedule_info"]["new_time"] = payload["reschedule_info"]["original_time"]
    body = assert_error(api.post("/api/sessions", payload), 422, "validation_error")
    assert body["details"] == {"reschedule_info.new_time": ["new_time must be later than original_time."]}


def test_reschedule_cancelled_outright_has_no_new_time(api):
    payload = session_payload("rescheduled")
    payload["reschedule_info"]["new_time"] = None
    assert api.post("/api/sessions", payload).status_code == 202
    assert Reschedule.objects.get().new_time is None


def test_email_of_another_tutor_is_422_not_500(api, make_tutor):
    make_tutor(name="Existing", email="taken@example.com")
    payload = session_payload(tutor_id=uuid.uuid4(), tutor_email="taken@example.com")
    body = assert_error(api.post("/api/sessions", payload), 422, "validation_error")
    assert body["details"] == {"tutor_email": ["This e-mail is already used by another tutor."]}
    assert counts() == (1, 0, 0)


def test_unknown_fields_are_ignored(api):
    assert api.post("/api/sessions", session_payload(platform_extra={"x": 1})).status_code == 202


# --- API keys ---------------------------------------------------------------------------------


def test_last_used_at_is_written_at_most_once_a_minute(api, django_assert_num_queries):
    api.post("/api/sessions", session_payload())
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    api.post("/api/sessions", session_payload())
    assert ApiKey.objects.get().last_used_at == first


# --- query counts -----------------------------------------------------------------------------

# key lookup, key touch, tutors, existing sessions (lock on PostgreSQL, read on SQLite: a new session
# locks nothing there, so there is nothing to read), tutor insert, mark tutors changed, the pair's
# sessions (first-session flags), session insert, reschedule insert (+ savepoints inside the test
# transaction).
SINGLE_POST_MAX_QUERIES = 11


def test_single_post_query_count(api, django_assert_max_num_queries):
    with django_assert_max_num_queries(SINGLE_POST_MAX_QUERIES):
        assert api.post("/api/sessions", session_payload("rescheduled")).status_code == 202


def sqlite_insert_chunks(model, rows):
    """Extra INSERTs Django needs on SQLite (999 parameters per statement); 0 on PostgreSQL."""
    fields = model._meta.concrete_fields
    batch = connection.ops.bulk_batch_size(fields, [None] * rows)
    return -(-rows // batch) - 1


@pytest.mark.parametrize("size", [50, 1000])
def test_bulk_query_count_does_not_grow_with_the_batch(api, size, django_assert_max_num_queries):
    sessions = [
        session_payload(("completed", "rescheduled")[i % 2], tutor_id=uuid.UUID(int=i % 7 + 1))
        for i in range(size)
    ]
    api.post("/api/sessions/bulk", {"sessions": sessions[: size // 2]})  # half exist: updates too
    for item in sessions[: size // 2]:
        item["duration_minutes"] = 70  # began 10 minutes early
    # key, savepoint, tutors, sessions (lock, read), mark tutors changed, the pairs' sessions
    # (first-session flags), INSERT sessions, UPDATE sessions, INSERT + UPDATE reschedules, release
    # savepoint: 11 on PostgreSQL at any size.
    fixed = 10 + LOCK
    extra = (
        (
            sqlite_insert_chunks(Session, size)
            + sqlite_insert_chunks(Reschedule, size)
            + 2 * -(-size // 999)  # in_bulk() splits its IN list on SQLite as well
        )
        if connection.vendor == "sqlite"
        else 0
    )
    with django_assert_max_num_queries(fixed + extra):
        response = api.post("/api/sessions/bulk", {"sessions": sessions})
    assert response.json()["created"] == size - size // 2
    assert response.json()["updated"] == size // 2
    assert Session.objects.count() == size


def test_database_refusal_is_422_not_500(api, monkeypatch):
    from django.db import IntegrityError

    def refuse(*args, **kwargs):
        raise IntegrityError("violates check constraint")

    monkeypatch.setattr("sessions.api.ingest_sessions", refuse)
    body = assert_error(api.post("/api/sessions", session_payload()), 422, "conflict")
    assert body["message"] == "The session conflicts with stored data; nothing was stored."
