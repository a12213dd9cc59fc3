"""Admin behaviour for ops staff: edits mark tutors for rescoring, derived fields, API keys shown once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from sessions.models import ApiKey, Reschedule, Session, Tutor, hash_api_key
from tutorscore.testing import NOW


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-123456789"))
    return client


def split(moment):
    return {"0": moment.strftime("%Y-%m-%d"), "1": moment.strftime("%H:%M:%S")}


def session_post(session, *, reschedule=None, **changes):
    """The session change form's POST data (with the reschedule inline), plus changes."""
    data = {
        "tutor": session.tutor_id,
        "student_id": session.student_id,
        "status": session.status,
        "duration_minutes": session.duration_minutes or "",
        "student_rating": session.student_rating or "",
        "no_show_by": session.no_show_by or "",
        "reschedule-TOTAL_FORMS": "0",
        "reschedule-INITIAL_FORMS": "0",
        "reschedule-MIN_NUM_FORMS": "0",
        "reschedule-MAX_NUM_FORMS": "1",
    }
    times = {"scheduled_time": session.scheduled_time, "completed_time": session.completed_time}
    times.update({key: changes.pop(key) for key in list(changes) if key in times})
    for name, moment in times.items():
        for part, value in (split(moment) if moment else {"0": "", "1": ""}).items():
            data[f"{name}_{part}"] = value
    if reschedule is not None:
        data["reschedule-TOTAL_FORMS"] = "1"
        for name, value in reschedule.items():
            if hasattr(value, "strftime"):
                for part, piece in split(value).items():
                    data[f"reschedule-0-{name}_{part}"] = piece
            else:
                data[f"reschedule-0-{name}"] = value
    data.update(changes)
    return data


def change_url(session):
    return reverse("admin:tutoring_session_change", args=[session.pk])


def test_editing_a_session_marks_its_tutor_for_rescoring(admin_client, make_tutor, make_session):
    tutor = make_tutor()
    session = make_session(tutor, status="completed")
    Tutor.objects.update(sessions_changed_at=None)

    response = admin_client.post(change_url(session), session_post(session, student_rating="2"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    session.refresh_from_db()
    tutor.refresh_from_db()
    assert session.student_rating == 2
    assert tutor.sessions_changed_at is not None


def test_moving_a_session_to_another_tutor_marks_both_and_refreshes_both_pairs(
    admin_client, make_tutor, make_session
):
    first, second = make_tutor("First"), make_tutor("Second", "second@example.com")
    session = make_session(first, days_ago=20)
    later = make_session(first, days_ago=10)
    later.refresh_from_db()
    assert not later.is_first_session  # the same student's second session with First
    Tutor.objects.update(sessions_changed_at=None)
    assert "First session" in admin_client.get(change_url(session)).content.decode()  # read-only

    response = admin_client.post(change_url(session), session_post(session, tutor=second.pk))

    assert response.status_code == 302
    assert Tutor.objects.filter(sessions_changed_at__isnull=False).count() == 2
    session.refresh_from_db()
    later.refresh_from_db()
    assert session.is_first_session and later.is_first_session  # each is its pair's first now


def test_adding_a_reschedule_inline_derives_its_fields_and_marks_the_tutor(
    admin_client, make_tutor, make_session
):
    tutor = make_tutor()
    session = make_session(tutor, status="scheduled", days_ago=-2)
    Tutor.objects.update(sessions_changed_at=None)
    data = session_post(
        session,
        status="rescheduled",
        reschedule={
            "initiator": "tutor",
            "original_time": session.scheduled_time,
            "new_time": session.scheduled_time + timedelta(days=1),
            "reason": "Internet connection down",
            "reason_code": "",
            "cancelled_at": session.scheduled_time - timedelta(hours=3),
        },
    )

    response = admin_client.post(change_url(session), data)

    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    reschedule = Reschedule.objects.get(session=session)
    assert reschedule.reason_code == "technical"
    assert reschedule.hours_before_session == Decimal("3.00")
    tutor.refresh_from_db()
    assert tutor.sessions_changed_at is not None


def test_a_reschedule_without_cancelled_at_defaults_to_now(admin_client, make_tutor, make_session):
    session = make_session(make_tutor(), status="scheduled", days_ago=-2)
    data = session_post(
        session,
        status="rescheduled",
        reschedule={
            "initiator": "student",
            "original_time": session.scheduled_time,
            "reason": "",
            "reason_code": "",
        },
    )
    data.update({"reschedule-0-new_time_0": "", "reschedule-0-new_time_1": ""})
    data.update({"reschedule-0-cancelled_at_0": "", "reschedule-0-cancelled_at_1": ""})

    response = admin_client.post(change_url(session), data)

    assert response.status_code == 302
    reschedule = Reschedule.objects.get(session=session)
    assert reschedule.reason_code == "other" and reschedule.new_time is None
    assert reschedule.cancelled_at is not None


def test_invalid_edits_show_errors_instead_of_crashing(admin_client, make_tutor, make_session):
    session = make_session(make_tutor(), status="completed")
    before = session.scheduled_time - timedelta(hours=1)

    response = admin_client.post(change_url(session), session_post(session, completed_time=before))

    assert response.status_code == 200  # the form again, with the constraint's error
    assert response.context["adminform"].form.errors
    session.refresh_from_db()
    assert session.completed_time > session.scheduled_time


def test_a_no_show_without_who_defaults_to_the_tutor(admin_client, make_tutor, make_session):
    session = make_session(make_tutor(), status="scheduled", days_ago=1)
    response = admin_client.post(change_url(session), session_post(session, status="no_show", no_show_by=""))
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.status, session.no_show_by) == ("no_show", "tutor")


def test_deleting_a_session_marks_the_tutor(admin_client, make_tutor, make_session):
    tutor = make_tutor()
    session = make_session(tutor)
    Tutor.objects.update(sessions_changed_at=None)
    url = reverse("admin:tutoring_session_delete", args=[session.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Session.objects.exists()
    tutor.refresh_from_db()
    assert tutor.sessions_changed_at is not None


def test_the_api_key_is_shown_once_and_only_its_hash_is_stored(admin_client):
    add_page = admin_client.get(reverse("admin:tutoring_apikey_add"))
    assert list(add_page.context["adminform"].form.fields) == ["name"]

    response = admin_client.post(
        reverse("admin:tutoring_apikey_add"), {"name": "rails-platform"}, follow=True
    )

    api_key = ApiKey.objects.get(name="rails-platform")
    shown = [str(message) for message in response.context["messages"] if "ts_" in str(message)]
    key_messages = [message for message in shown if "will not be shown again" in message]
    assert len(key_messages) == 1
    raw_key = next(word for word in key_messages[0].split() if word.startswith("ts_"))
    assert api_key.key_hash == hash_api_key(raw_key)
    assert raw_key.startswith(api_key.prefix) and len(api_key.prefix) < len(raw_key)
    # Never again: not on the change page, not on the next list page.
    change_page = admin_client.get(reverse("admin:tutoring_apikey_change", args=[api_key.pk]))
    assert raw_key not in change_page.content.decode()
    assert api_key.key_hash not in change_page.content.decode()
    assert raw_key not in admin_client.get(reverse("admin:tutoring_apikey_changelist")).content.decode()


def test_revoking_api_keys(admin_client):
    active, _ = ApiKey.create_key("active")
    revoked, _ = ApiKey.create_key("old")
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=NOW)

    response = admin_client.post(
        reverse("admin:tutoring_apikey_changelist"),
        {"action": "revoke", "_selected_action": [active.pk, revoked.pk]},
    )

    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Revoked 1 API key(s)."]
    assert not ApiKey.objects.active().exists()
    revoked.refresh_from_db()
    assert revoked.revoked_at == NOW  # an earlier revocation keeps its time


@pytest.mark.parametrize(
    "changelist",
    [
        "admin:tutoring_session_changelist",
        "admin:tutoring_reschedule_changelist",
        "admin:tutoring_tutor_changelist",
    ],
)
def test_changelists_use_a_constant_number_of_queries(
    admin_client, make_tutor, make_session, django_assert_num_queries, changelist
):
    def add_rows(count, offset):
        for index in range(count):
            tutor = make_tutor(f"Tutor {offset + index}", f"t{offset + index}@example.com")
            make_session(tutor, status="rescheduled", reason="Family event", student_id=f"s{index}")

    add_rows(2, 0)
    admin_client.get(reverse(changelist))  # warm caches (content types, sessions)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert admin_client.get(reverse(changelist)).status_code == 200
    add_rows(6, 2)
    with django_assert_num_queries(len(small.captured_queries)):
        admin_client.get(reverse(changelist))


def test_tutor_autocomplete_answers_by_name(admin_client, make_tutor):
    make_tutor("Grace Hopper", "grace@example.com")
    make_tutor("Alan Turing", "alan@example.com")
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"term": "grace", "app_label": "tutoring", "model_name": "session", "field_name": "tutor"},
    )
    assert [result["text"] for result in response.json()["results"]] == ["Grace Hopper"]


def test_session_and_reschedule_search_by_tutor_name_email_or_exact_student(
    admin_client, make_tutor, make_session
):
    grace = make_tutor("Grace Hopper", "grace@example.com")
    alan = make_tutor("Alan Turing", "alan@example.com")
    make_session(grace, status="rescheduled", student_id="stu-1")
    make_session(alan, status="rescheduled", student_id="stu-12")

    def found(changelist, term):
        response = admin_client.get(reverse(changelist), {"q": term})
        rows = response.context["cl"].result_list
        return sorted(str(getattr(row, "session", row).tutor) for row in rows)

    for changelist in ("admin:tutoring_session_changelist", "admin:tutoring_reschedule_changelist"):
        assert found(changelist, "hopp") == ["Grace Hopper"]
        assert found(changelist, "ALAN@example.com") == ["Alan Turing"]
        assert found(changelist, "stu-1") == ["Grace Hopper"]  # exact student id, not a prefix
        assert found(changelist, "nobody") == []


def test_api_keys_filter_by_active_or_revoked(admin_client):
    ApiKey.create_key("live-platform")
    revoked, _ = ApiKey.create_key("old-platform")
    revoked.revoked_at = timezone.now()
    revoked.save()

    active_page = admin_client.get("/admin/tutoring/apikey/?status=active").content.decode()
    revoked_page = admin_client.get("/admin/tutoring/apikey/?status=revoked").content.decode()

    assert "live-platform" in active_page and "old-platform" not in active_page
    assert "old-platform" in revoked_page and "live-platform" not in revoked_page
