"""EmailReport in the admin: read-only, searchable, with a resend action for failed mails."""

import pytest
from django.core import mail as django_mail

from reports.models import EmailReport
from tutorscore.testing import NOW


@pytest.fixture
def admin_client_(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "x"))
    return client


def report(number, status, **fields):
    return EmailReport.objects.create(
        kind="digest",
        event_key=f"digest:2026-11-{number:02d}",
        recipient_email="lead@example.com",
        subject=f"Digest {number}",
        status=status,
        created_at=NOW,
        **fields,
    )


def test_changelist_search_and_filter(admin_client_, db, django_assert_max_num_queries):
    report(1, "failed", error_message="SMTP 451")
    report(2, "sent")
    with django_assert_max_num_queries(12):
        response = admin_client_.get(
            "/admin/reports/emailreport/", {"status__exact": "failed", "q": "Digest"}
        )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Digest 1" in html and "Digest 2" not in html
    assert "Resend selected failed mails" in html


def test_rows_are_read_only(admin_client_, db):
    row = report(1, "sent")
    assert admin_client_.get("/admin/reports/emailreport/add/").status_code == 403
    response = admin_client_.post(f"/admin/reports/emailreport/{row.pk}/change/", {"status": "failed"})
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.status == "sent"


def test_resend_action_sends_failed_mails_once(
    admin_client_, scoring_settings, django_capture_on_commit_callbacks
):
    failed, sent = report(25, "failed", attempts=5), report(24, "sent")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post(
            "/admin/reports/emailreport/",
            {"action": "resend_failed", "_selected_action": [str(failed.pk), str(sent.pk)]},
            follow=True,
        )
    html = response.content.decode()
    assert "Resending 1 mail(s)." in html
    assert "1 were not failed and were left alone." in html
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("sent", 6)
    assert len(django_mail.outbox) == 1


def test_a_batch_alert_mail_is_found_by_any_tutor_it_lists_and_shows_them(
    admin_client_, scoring_settings, make_tutor, make_alert
):
    from reports import outbox

    make_alert(make_tutor("Ada Tutor"))
    make_alert(make_tutor("Bo Tutor"), kind="no_show_rate")
    outbox.batch_alerts(now=NOW)

    response = admin_client_.get("/admin/reports/emailreport/", {"q": "Bo Tutor"})
    assert response.status_code == 200
    assert response.content.decode().count("[Alerts] 2 new alerts for 2 tutors") == 2  # one per recipient
    row = EmailReport.objects.get(recipient_email="lead@example.com")
    detail = admin_client_.get(f"/admin/reports/emailreport/{row.pk}/change/").content.decode()
    assert "Ada Tutor: reschedule rate; Bo Tutor: no-show rate" in detail
