"""Regressions found by reading the mails the demo worker printed (QA pass)."""

from django.core import mail as django_mail

from conftest import NOW
from reports import mail
from scoring.models import ScoringSettings


def send_session_report(session):
    return mail.deliver_reports(mail.queue_session_report(session, now=NOW), now=NOW)


def test_retention_line_reads_well_without_first_sessions(
    scoring_settings, make_tutor, make_session, make_score
):
    # It said "First-session retention (90 days): — of 0".
    scoring_settings.session_report_mode = ScoringSettings.ReportMode.ALL
    scoring_settings.save()
    tutor = make_tutor("Bea Tutor")
    make_score(tutor, first_sessions_90d=0, retained_first_sessions_90d=0, first_session_retention_90d=None)
    send_session_report(make_session(tutor, days_ago=1))

    message = django_mail.outbox[0]
    html = message.alternatives[0][0]
    assert "- First-session retention (90 days): no first sessions yet\n" in message.body
    assert "First-session retention (90 days): no first sessions yet<br>" in html
    assert "— of 0" not in message.body and "— of 0" not in html


def test_retention_line_names_what_it_counts(scoring_settings, flagged_session):
    send_session_report(flagged_session)

    message = django_mail.outbox[0]
    assert "- First-session retention (90 days): 75% of 4 first sessions\n" in message.body
    assert "First-session retention (90 days): 75% of 4 first sessions<br>" in message.alternatives[0][0]


def test_email_log_polls_its_own_filtered_url(staff_client, settings):
    # After "Resend" the row said Pending until a manual reload: the log now refreshes itself,
    # and the poll keeps the filters and page (the wrapper comes with every fragment).
    settings.DASHBOARD_POLL_SECONDS = 30
    page = staff_client.get("/reports/?status=failed").content.decode()
    assert page.count('id="email-log-results"') == 1
    assert 'hx-get="/reports/?status=failed" hx-trigger="every 30s' in page

    fragment = staff_client.get("/reports/?kind=alert&page=1", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.count('id="email-log-results"') == 1
    assert 'hx-get="/reports/?kind=alert&amp;page=1"' in fragment
    assert "<html" not in fragment
