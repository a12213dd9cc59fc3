"""The database keeps each session's copies of its reschedule's fields (sessions/triggers.py)."""

from decimal import Decimal

from django.db import connection

from sessions import triggers
from sessions.models import Reschedule, Session

COPIES = list(triggers.COPIED)


def copies(session):
    return tuple(Session.objects.filter(pk=session.pk).values_list(*COPIES).get())


def test_a_new_reschedule_is_copied_onto_its_session(make_tutor, make_session):
    session = make_session(
        make_tutor(), status="rescheduled", initiator="tutor", reason="sick", hours_before=6
    )

    assert copies(session) == ("tutor", "health", Decimal("6.00"))
    assert copies(make_session(make_tutor("Other"))) == (None, None, None)  # no reschedule: none


def test_a_changed_reschedule_is_copied_again_however_it_is_written(make_tutor, make_session):
    session = make_session(
        make_tutor(), status="rescheduled", initiator="tutor", reason="sick", hours_before=6
    )

    reschedule = Reschedule.objects.get(session=session)
    reschedule.initiator, reschedule.reason = "student", "wifi down"
    reschedule.reason_code = ""  # derived again from the new text
    reschedule.save()
    assert copies(session) == ("student", "technical", Decimal("6.00"))

    # A queryset update, as a bulk write does it, is copied too.
    Reschedule.objects.filter(pk=reschedule.pk).update(hours_before_session=Decimal("30.50"))
    assert copies(session) == ("student", "technical", Decimal("30.50"))


def test_a_deleted_or_moved_reschedule_leaves_no_copy_behind(make_tutor, make_session):
    tutor = make_tutor()
    first = make_session(tutor, days_ago=2, status="rescheduled", initiator="tutor", hours_before=6)
    second = make_session(tutor, days_ago=1, status="rescheduled", initiator="student", hours_before=50)
    Reschedule.objects.filter(session=second).delete()
    assert copies(second) == (None, None, None)

    Reschedule.objects.filter(session=first).update(session=second)
    assert copies(first) == (None, None, None)
    assert copies(second) == ("tutor", "other", Decimal("6.00"))


def test_saving_a_session_read_before_its_reschedule_changed_keeps_the_copies(make_tutor, make_session):
    session = make_session(make_tutor(), status="rescheduled", initiator="tutor", hours_before=6)
    stale = Session.objects.get(pk=session.pk)
    Reschedule.objects.filter(session=session).update(initiator="student")

    stale.student_rating = None
    stale.save()

    assert copies(session) == ("student", "other", Decimal("6.00"))


def test_the_backfill_copies_the_reschedules_stored_before_the_triggers(make_tutor, make_session):
    session = make_session(
        make_tutor(), status="rescheduled", initiator="tutor", reason="sick", hours_before=6
    )
    with connection.cursor() as cursor:
        cursor.execute("UPDATE sessions SET reschedule_initiator = NULL, reschedule_reason_code = NULL")
        cursor.execute(triggers.BACKFILL[connection.vendor])

    assert copies(session) == ("tutor", "health", Decimal("6.00"))
