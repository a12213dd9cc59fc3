"""The database itself rejects bad rows; derived reschedule fields are computed in one place."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from sessions.models import ApiKey, Reschedule, Session, Tutor, hash_api_key
from sessions.rescheduling import classify_reason, fill_derived_fields, hours_before_session
from tutorscore.testing import NOW


@pytest.fixture
def tutor(make_tutor):
    return make_tutor()


def rejected(create):
    """True when the database refuses the write (IntegrityError), leaving the transaction usable."""
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


def session_fields(tutor, **overrides):
    fields = {
        "tutor": tutor,
        "student_id": "s1",
        "scheduled_time": NOW,
        "status": "completed",
        "completed_time": NOW + timedelta(hours=1),
        "duration_minutes": 60,
    }
    return {**fields, **overrides}


def test_a_valid_session_is_accepted(tutor):
    assert not rejected(lambda: Session.objects.create(**session_fields(tutor)))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"completed_time": NOW - timedelta(minutes=1)}, id="completed-before-scheduled"),
        pytest.param({"status": "rescheduled"}, id="completed_time-on-rescheduled"),
        pytest.param({"status": "scheduled"}, id="completed_time-on-scheduled"),
        pytest.param({"status": "cancelled", "completed_time": None}, id="unknown-status"),
        pytest.param({"duration_minutes": 0}, id="duration-0"),
        pytest.param({"duration_minutes": 301}, id="duration-301"),
        pytest.param({"student_rating": 0}, id="rating-0"),
        pytest.param({"student_rating": 6}, id="rating-6"),
    ],
)
def test_the_database_rejects_bad_sessions(tutor, overrides):
    assert rejected(lambda: Session.objects.create(**session_fields(tutor, **overrides)))


@pytest.mark.parametrize("edge", [{"duration_minutes": 1}, {"duration_minutes": 300}, {"student_rating": 1}])
def test_boundary_values_are_accepted(tutor, edge):
    assert not rejected(lambda: Session.objects.create(**session_fields(tutor, **edge)))


def test_no_show_by_only_on_no_shows(tutor):
    # save() applies the defaults, so go around it to reach the database constraint.
    completed = Session.objects.create(**session_fields(tutor))
    assert rejected(lambda: Session.objects.filter(pk=completed.pk).update(no_show_by="tutor"))
    no_show = Session.objects.create(**session_fields(tutor, status="no_show", completed_time=None))
    assert no_show.no_show_by == "tutor"  # the default
    assert rejected(lambda: Session.objects.filter(pk=no_show.pk).update(no_show_by=None))
    assert rejected(lambda: Session.objects.filter(pk=no_show.pk).update(no_show_by="parent"))


def test_apply_defaults_clears_no_show_by_when_the_status_changes(tutor):
    session = Session.objects.create(
        **session_fields(tutor, status="no_show", completed_time=None, no_show_by="student")
    )
    assert session.no_show_by == "student"  # kept when the platform says so
    session.status = "scheduled"
    session.save()
    session.refresh_from_db()
    assert session.no_show_by is None


@pytest.fixture
def rescheduled(tutor):
    return Session.objects.create(**session_fields(tutor, status="rescheduled", completed_time=None))


def reschedule_fields(session, **overrides):
    fields = {
        "session": session,
        "initiator": "tutor",
        "original_time": NOW,
        "new_time": NOW + timedelta(days=1),
        "reason": "Scheduling conflict",
        "cancelled_at": NOW - timedelta(hours=30),
    }
    return {**fields, **overrides}


def test_one_reschedule_per_session(rescheduled):
    Reschedule.objects.create(**reschedule_fields(rescheduled))
    assert rejected(lambda: Reschedule.objects.create(**reschedule_fields(rescheduled)))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"new_time": NOW}, id="new_time-equal-to-original"),
        pytest.param({"new_time": NOW - timedelta(hours=1)}, id="new_time-before-original"),
        pytest.param({"initiator": "parent"}, id="unknown-initiator"),
        pytest.param({"reason_code": "boredom"}, id="unknown-reason_code"),
    ],
)
def test_the_database_rejects_bad_reschedules(rescheduled, overrides):
    assert rejected(lambda: Reschedule.objects.create(**reschedule_fields(rescheduled, **overrides)))


def test_a_reschedule_cancelled_outright_has_no_new_time(rescheduled):
    assert not rejected(lambda: Reschedule.objects.create(**reschedule_fields(rescheduled, new_time=None)))


def test_cancelled_at_cannot_be_erased(rescheduled):
    reschedule = Reschedule.objects.create(**reschedule_fields(rescheduled))
    assert rejected(lambda: Reschedule.objects.filter(pk=reschedule.pk).update(cancelled_at=None))


def test_a_second_scoring_settings_row_is_rejected(db):
    from scoring.models import ScoringSettings

    ScoringSettings.load()
    assert rejected(lambda: ScoringSettings.objects.create(id=uuid.uuid4()))
    assert ScoringSettings.objects.count() == 1


def test_one_unresolved_alert_per_tutor_and_kind(tutor):
    from scoring.models import Alert

    Alert.objects.create(tutor=tutor, kind="reschedule_rate", message="m")
    assert rejected(lambda: Alert.objects.create(tutor=tutor, kind="reschedule_rate", message="again"))
    assert not rejected(lambda: Alert.objects.create(tutor=tutor, kind="no_show_rate", message="other kind"))


def test_tutor_email_is_unique_but_optional(db):
    Tutor.objects.create(name="A", email="a@example.com")
    assert rejected(lambda: Tutor.objects.create(name="B", email="a@example.com"))
    Tutor.objects.create(name="C", email=None)
    assert not rejected(lambda: Tutor.objects.create(name="D", email=None))


# --- derived fields ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Family emergency", "emergency"),  # the more specific cause wins
        ("Had to go to the ER", "emergency"),
        ("URGENT: car accident", "emergency"),
        ("Feeling sick today", "health"),
        ("Dentist appointment", "health"),
        ("My kid is ill", "health"),
        ("Daughter's school play", "family"),
        ("Parent-teacher conference", "family"),
        ("Internet connection down", "technical"),
        ("Power outage in the area", "technical"),
        ("Double-booked by mistake", "scheduling_conflict"),
        ("Scheduling conflict with another class", "scheduling_conflict"),
        ("Work meeting ran over", "scheduling_conflict"),
        ("Running an errand", "personal"),
        ("Stuck in traffic", "personal"),
        # Keywords are whole-word starts: these once matched "er", "ill", "son", "parent".
        ("I will be later than planned", "other"),
        ("No reason given", "other"),
        ("Apparently busy", "other"),
        ("", "other"),
        (None, "other"),
    ],
)
def test_classify_reason(text, code):
    assert classify_reason(text) == code


@pytest.mark.parametrize(
    ("before", "hours"),
    [
        (timedelta(hours=30), Decimal("30.00")),
        (timedelta(minutes=90), Decimal("1.50")),
        (timedelta(seconds=18), Decimal("0.01")),  # 0.005 rounds half up
        (timedelta(seconds=17), Decimal("0.00")),
        (timedelta(0), Decimal("0.00")),
        (-timedelta(minutes=30), Decimal("-0.50")),  # asked after the start
        (-timedelta(seconds=18), Decimal("-0.01")),
        (timedelta(days=20, minutes=20), Decimal("480.33")),
    ],
)
def test_hours_before_session(before, hours):
    assert hours_before_session(NOW, NOW - before) == hours


def test_fill_derived_fields_keeps_what_the_platform_sent():
    reschedule = Reschedule(
        reason="Feeling sick",
        reason_code="personal",
        original_time=NOW,
        cancelled_at=NOW - timedelta(hours=2),
    )
    fill_derived_fields(reschedule, received_at=NOW - timedelta(hours=1))
    assert (reschedule.reason_code, reschedule.cancelled_at) == ("personal", NOW - timedelta(hours=2))
    assert reschedule.hours_before_session == Decimal("2.00")


def test_fill_derived_fields_defaults_cancelled_at_to_the_time_received():
    reschedule = Reschedule(reason="Zoom crashed", original_time=NOW)
    fill_derived_fields(reschedule, received_at=NOW + timedelta(minutes=45))
    assert reschedule.reason_code == "technical"
    assert reschedule.cancelled_at == NOW + timedelta(minutes=45)
    assert reschedule.hours_before_session == Decimal("-0.75")
    assert reschedule.is_last_minute  # negative hours are last-minute


def test_saving_a_reschedule_derives_its_fields(rescheduled):
    reschedule = Reschedule.objects.create(
        **reschedule_fields(rescheduled, reason="Doctor's appointment", cancelled_at=NOW - timedelta(hours=5))
    )
    reschedule.refresh_from_db()
    assert reschedule.reason_code == "health"
    assert reschedule.hours_before_session == Decimal("5.00")
    assert reschedule.is_last_minute


def test_saving_a_session_or_reschedule_marks_the_tutor_changed(tutor, rescheduled):
    Tutor.objects.update(sessions_changed_at=None)
    Reschedule.objects.create(**reschedule_fields(rescheduled))
    tutor.refresh_from_db()
    assert tutor.sessions_changed_at is not None


def test_api_keys_store_only_a_hash(db):
    api_key, raw_key = ApiKey.create_key("platform")
    api_key.refresh_from_db()
    assert raw_key.startswith("ts_") and len(raw_key) > 40
    assert api_key.key_hash == hash_api_key(raw_key) and raw_key not in (api_key.key_hash, api_key.prefix)
    assert raw_key.startswith(api_key.prefix)
    assert ApiKey.objects.active().get() == api_key


def test_sessions_carry_only_the_indexes_their_queries_use(db):
    # Every index costs a write per ingested session; tutor lookups use (tutor_id, scheduled_time).
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Session._meta.db_table)
    indexes = sorted(
        tuple(details["columns"])
        for details in constraints.values()
        if details["index"] and not details["primary_key"] and not details["unique"]
    )
    # PostgreSQL lists an index's included columns after its keys; SQLite builds it without them.
    covering = connection.features.supports_covering_indexes
    counted = ("status", "no_show_by", "student_rating", "is_first_session", "first_session_retained")
    copies = ("reschedule_initiator", "reschedule_reason_code", "reschedule_hours_before")
    assert indexes == sorted(
        [
            ("tutor_id", "scheduled_time", *(counted if covering else ())),  # and what a score counts
            # partial: the rescheduled sessions a score counts, with their reschedule's copies
            ("tutor_id", "scheduled_time", *(copies if covering else ())),
            ("tutor_id", "student_id", "scheduled_time"),
            ("scheduled_time",),
            ("status",),
            ("updated_at",),  # what changed since a score: the sessions a new score announces
        ]
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="extended statistics are PostgreSQL's")
def test_the_planner_knows_only_rescheduled_sessions_carry_reschedule_copies(make_tutor, make_session):
    # Counted as independent, the two conditions would look four times rarer than they are here,
    # and a full recompute would count the tutor reschedules in one process (migration 0011).
    tutor = make_tutor()
    for day in range(20):
        make_session(tutor, days_ago=day + 1, student_id=f"r{day}", status="rescheduled", initiator="tutor")
        make_session(tutor, days_ago=day + 1, student_id=f"c{day}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sessions")
        cursor.execute(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM sessions "
            "WHERE status = 'rescheduled' AND reschedule_initiator = 'tutor'"
        )
        estimated = cursor.fetchone()[0][0]["Plan"]["Plan Rows"]

    assert estimated >= 16  # 20 are; 10 without the statistics
