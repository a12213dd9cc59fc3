"""The ingest's hand-written statements: same values in and out as the ORM's, on both databases."""

from sessions.models import Session, Tutor
from sessions.sql import fetch, matching, matching_rows
from tutorscore.testing import make_session, make_tutor


def test_matching_reads_typed_values_like_the_orm(db):
    ada, bo = make_tutor("Ada"), make_tutor("Bo")
    session = make_session(ada)
    make_session(bo, student_id="student-2")
    fields = [Session._meta.get_field(name) for name in ("id", "tutor_id", "scheduled_time")]
    where, params = matching("tutor_id", fields[1], [ada.pk])

    rows = fetch(f"SELECT id, tutor_id, scheduled_time FROM sessions WHERE {where}", params, fields)

    assert rows == list(Session.objects.filter(tutor=ada).values_list("id", "tutor_id", "scheduled_time"))
    assert rows == [(session.pk, ada.pk, session.scheduled_time)]


def test_matching_an_unknown_value_finds_nothing(db):
    make_tutor("Ada")
    where, params = matching("id", Tutor._meta.pk, [Tutor._meta.pk.get_default()])
    assert fetch(f"SELECT id FROM tutors WHERE {where}", params, [Tutor._meta.pk]) == []


def test_matching_rows_finds_the_exact_pairs_only(db):
    ada, bo = make_tutor("Ada"), make_tutor("Bo")
    wanted = [make_session(ada, student_id="s1"), make_session(bo, student_id="s2")]
    make_session(ada, student_id="s2")  # a pair the two lists would combine into
    make_session(bo, student_id="s1")
    fields = [Session._meta.get_field(name) for name in ("tutor_id", "student_id")]
    where, params = matching_rows(["tutor_id", "student_id"], fields, [(ada.pk, "s1"), (bo.pk, "s2")])

    rows = fetch(f"SELECT id FROM sessions WHERE {where}", params, [Session._meta.pk])

    assert sorted(session_id for (session_id,) in rows) == sorted(session.pk for session in wanted)
