"""The reports pages: email log (filters, pagination, resend), previews, access control."""

import re
from datetime import timedelta

import pytest
from django.core import mail as django_mail
from django.urls import reverse

from reports.models import EmailReport
from reports.tests.backends import FlakyBackend
from tutorscore.testing import NOW

INVALID = "INVALID_TEMPLATE_VARIABLE"
LOG_URL = "/reports/"


def make_report(number=0, *, kind="alert", status="sent", tutor=None, **fields):
    values = {
        "event_key": f"{kind}:{number}",
        "recipient_email": "lead@example.com",
        "subject": f"Subject {number}",
        "created_at": NOW - timedelta(minutes=number),
        **fields,
    }
    return EmailReport.objects.create(kind=kind, status=status, tutor=tutor, **values)


@pytest.fixture
def failed_digest(scoring_settings):
    return make_report(
        kind="digest",
        status="failed",
        attempts=5,
        error_message="ConnectionError: provider unavailable (503)",
        event_key="digest:2026-11-25",
        created_at=NOW,
    )


# --- access control


@pytest.mark.parametrize("url", [LOG_URL, "/reports/preview/digest/"])
def test_anonymous_users_are_sent_to_the_login_page(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("url", [LOG_URL, "/reports/preview/alert/"])
def test_signed_in_non_staff_users_are_forbidden(client, django_user_model, url):
    client.force_login(django_user_model.objects.create_user("student", password="x"))
    assert client.get(url).status_code == 403


def test_non_staff_cannot_resend(client, django_user_model, failed_digest):
    client.force_login(django_user_model.objects.create_user("student", password="x"))
    assert client.post(reverse("reports:resend", args=[failed_digest.pk])).status_code == 403
    failed_digest.refresh_from_db()
    assert failed_digest.status == "failed"


# --- email log


def test_email_log_lists_mails_with_status_errors_and_tutor(
    staff_client, make_tutor, failed_digest, django_assert_max_num_queries
):
    tutor = make_tutor("Ada Tutor")
    for number in range(1, 4):
        make_report(number, tutor=tutor)
    with django_assert_max_num_queries(6):
        response = staff_client.get(LOG_URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert INVALID not in html
    assert "4 mails" in html
    assert "ConnectionError: provider unavailable (503)" in html
    assert html.count(">Resend</button>") == 1
    assert f'href="/tutors/{tutor.pk}/"' in html
    assert html.count('class="email-row') == 4


def test_email_log_filters_by_kind_and_status(staff_client, failed_digest, django_assert_max_num_queries):
    make_report(1, kind="alert", status="sent", subject="An alert that went")
    make_report(2, kind="alert", status="failed", subject="An alert that failed")
    make_report(3, kind="session_report", status="failed", subject="A report that failed")

    with django_assert_max_num_queries(6):
        html = staff_client.get(LOG_URL, {"kind": "alert", "status": "failed"}).content.decode()
    assert "An alert that failed" in html
    assert "An alert that went" not in html
    assert "A report that failed" not in html
    assert "1 mail " in html

    html = staff_client.get(LOG_URL, {"status": "failed"}).content.decode()
    assert "3 mails" in html
    # An unknown filter value is ignored rather than an error.
    assert "4 mails" in staff_client.get(LOG_URL, {"kind": "bogus"}).content.decode()


def test_email_log_paginates_and_keeps_the_filters(staff_client, db, django_assert_max_num_queries):
    for number in range(55):
        make_report(number, status="sent")

    first = staff_client.get(LOG_URL, {"status": "sent"}).content.decode()
    assert first.count('class="email-row') == 50
    assert "page 1 of 2" in first
    assert 'href="?status=sent&amp;page=2"' in first
    with django_assert_max_num_queries(6):
        second = staff_client.get(LOG_URL, {"status": "sent", "page": 2}).content.decode()
    assert second.count('class="email-row') == 5
    assert "Subject 54" in second


def test_htmx_filter_request_gets_only_the_results_fragment(staff_client, failed_digest):
    response = staff_client.get(LOG_URL, {"status": "failed"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html
    assert "1 mail " in html
    assert INVALID not in html


def test_empty_log(staff_client, db):
    assert "No mails yet" in staff_client.get(LOG_URL).content.decode()


# --- resend


def test_resend_sends_a_failed_mail_once_and_redirects_back(
    staff_client, failed_digest, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("reports:resend", args=[failed_digest.pk]), {"next": "/reports/?status=failed"}
        )
    assert response.status_code == 302
    assert response["Location"] == "/reports/?status=failed"
    failed_digest.refresh_from_db()
    assert (failed_digest.status, failed_digest.attempts, failed_digest.error_message) == ("sent", 6, "")
    assert [m.to for m in django_mail.outbox] == [["lead@example.com"]]

    # Resending what was sent does nothing.
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse("reports:resend", args=[failed_digest.pk]))
    assert len(django_mail.outbox) == 1


def test_resend_ignores_an_offsite_next_url(staff_client, failed_digest):
    response = staff_client.post(
        reverse("reports:resend", args=[failed_digest.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == LOG_URL


def test_htmx_resend_returns_the_updated_row(
    staff_client, failed_digest, settings, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    settings.EMAIL_BACKEND = "reports.tests.backends.FlakyBackend"
    FlakyBackend.failures_left = 1
    try:
        with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(12):
            response = staff_client.post(
                reverse("reports:resend", args=[failed_digest.pk]),
                {"next": "/reports/"},
                headers={"HX-Request": "true"},
            )
    finally:
        FlakyBackend.failures_left = 0
    html = response.content.decode()
    assert html.startswith(f'<tr id="email-{failed_digest.pk}"')
    assert INVALID not in html


def test_resend_requires_post_and_csrf(failed_digest, client, staff_user):
    client.force_login(staff_user)
    url = reverse("reports:resend", args=[failed_digest.pk])
    assert client.get(url).status_code == 405

    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_user)
    assert strict.post(url).status_code == 403


# --- previews


@pytest.fixture
def real_data(scoring_settings, flagged_session, make_alert):
    return flagged_session, make_alert(flagged_session.tutor)


@pytest.mark.parametrize(
    "kind, subject",
    [
        ("session_report", "[High risk] Ada Tutor: rescheduled session"),
        ("alert", "[Alert] Ada Tutor: reschedule rate"),
        ("digest", "TutorScore digest"),
    ],
)
def test_preview_renders_each_kind_from_real_data(
    staff_client, real_data, kind, subject, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = staff_client.get(reverse("reports:preview", args=[kind]))
    html = response.content.decode()
    assert response.status_code == 200
    assert subject in html
    # The whole HTML part sits, escaped, inside the srcdoc attribute (a raw quote would cut it).
    srcdoc = re.search(r'srcdoc="([^"]*)"', html).group(1)
    assert srcdoc.startswith("&lt;!doctype html&gt;") and srcdoc.rstrip().endswith("&lt;/html&gt;")
    assert INVALID not in html
    assert EmailReport.objects.count() == 0  # a preview sends nothing


@pytest.mark.parametrize("kind", ["session_report", "alert", "digest"])
def test_preview_without_data_shows_an_empty_state(staff_client, db, kind):
    html = staff_client.get(reverse("reports:preview", args=[kind])).content.decode()
    assert "Nothing to preview yet" in html
    assert INVALID not in html


def test_preview_of_an_unknown_kind_is_404(staff_client, db):
    assert staff_client.get("/reports/preview/newsletter/").status_code == 404


def test_a_row_left_in_sending_by_a_dead_worker_is_flagged_and_resendable(staff_client, db):
    from django.utils import timezone

    make_report(1, status="sending", claimed_at=timezone.now() - timedelta(minutes=20))
    make_report(2, status="sending", claimed_at=timezone.now() - timedelta(seconds=5))
    html = staff_client.get(LOG_URL).content.decode()
    assert html.count("stuck since") == 1
    assert html.count(">Resend</button>") == 1


def test_email_log_polls_its_own_filtered_url(staff_client, settings):
    # A resent mail turns from Pending to Sent without a reload: the log refreshes itself, and
    # the poll keeps the filters and page (the wrapper comes with every fragment).
    settings.DASHBOARD_POLL_SECONDS = 30
    page = staff_client.get("/reports/?status=failed").content.decode()
    assert page.count('id="email-log-results"') == 1
    assert 'hx-get="/reports/?status=failed" hx-trigger="every 30s' in page

    fragment = staff_client.get("/reports/?kind=alert&page=1", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.count('id="email-log-results"') == 1
    assert 'hx-get="/reports/?kind=alert&amp;page=1"' in fragment
    assert "<html" not in fragment


def test_email_log_filters_by_tutor_and_keeps_the_filter_across_pages(staff_client, make_tutor):
    ann, bob = make_tutor("Ann Able"), make_tutor("Bob Busy")
    for number in range(55):
        make_report(number, tutor=ann)
    make_report(99, tutor=bob)

    html = staff_client.get(f"/reports/?tutor={ann.pk}").content.decode()

    assert "Mails about" in html and "Ann Able" in html
    assert "Subject 0" in html and "Subject 99" not in html
    assert f'<input type="hidden" name="tutor" value="{ann.pk}">' in html
    assert f"tutor={ann.pk}&amp;page=2" in html


def test_email_log_ignores_a_malformed_tutor_filter(staff_client, make_tutor):
    make_report(1, tutor=make_tutor("Ann Able"))
    response = staff_client.get("/reports/?tutor=not-a-uuid")
    assert response.status_code == 200
    assert "Subject 1" in response.content.decode()


def test_tutor_page_links_to_every_mail_about_the_tutor(staff_client, make_tutor):
    tutor = make_tutor("Ann Able")
    make_report(1, tutor=tutor)
    html = staff_client.get(f"/tutors/{tutor.pk}/").content.decode()
    assert f'href="/reports/?tutor={tutor.pk}"' in html
