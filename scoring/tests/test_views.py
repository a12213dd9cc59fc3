"""Dashboard pages through the test client: access rules, content, HTMX fragments, CSV, actions."""

import csv
import io
import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from scoring.models import Alert, AlertEvent, ScoringSettings
from tutorscore.testing import NOW, make_alert, make_score

HTMX = {"HTTP_HX_REQUEST": "true"}
PAGES = ["/", "/tutors/", "/alerts/"]


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    """Pages compute windows from timezone.now(); pin it to the suite's NOW."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    cache.clear()  # the overview's weekly trend is cached


def body(response):
    return b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()


# --- access -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", [*PAGES, f"/tutors/{uuid.UUID(int=7)}/"])
def test_anonymous_users_are_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.django_db
def test_an_expired_session_during_polling_reloads_the_whole_page(client):
    response = client.get("/tutors/?risk=high", **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Ftutors%2F%3Frisk%3Dhigh"


@pytest.mark.django_db
def test_after_login_the_user_comes_back_to_the_page_with_its_filters(client):
    # The poll's own URL may be a fragment; the browser's URL is the view the user had open.
    response = client.get(
        "/tutors/?page=2",
        HTTP_HX_CURRENT_URL="http://testserver/tutors/?risk=high&sort=name&page=2",
        **HTMX,
    )
    assert (
        response["HX-Redirect"] == "/accounts/login/?next=%2Ftutors%2F%3Frisk%3Dhigh%26sort%3Dname%26page%3D2"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_logged_in_users_without_staff_rights_get_403(client, django_user_model, url):
    client.force_login(django_user_model.objects.create_user("student", password="x"))
    response = client.get(url)
    assert response.status_code == 403
    assert "You don't have access to the dashboard" in body(response)


def test_alert_actions_refuse_non_staff(client, django_user_model, make_tutor):
    alert = make_alert(make_tutor())
    client.force_login(django_user_model.objects.create_user("student", password="x"))
    assert client.post(reverse("scoring:alert_acknowledge", args=[alert.pk])).status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open"


def test_login_page_and_logout(client, staff_user):
    page = body(client.get("/accounts/login/?next=/tutors/"))
    assert '<label for="id_username">Username</label>' in page
    assert 'name="next" value="/tutors/"' in page
    response = client.post(
        "/accounts/login/",
        {"username": "coach", "password": "correct-horse-battery", "next": "/tutors/"},
    )
    assert response["Location"] == "/tutors/"
    nav = body(client.get("/tutors/"))
    assert '<a href="/reports/"' in nav and ">Log out</button>" in nav
    assert client.post("/accounts/logout/")["Location"] == "/accounts/login/"
    assert client.get("/tutors/").status_code == 302


def test_unknown_tutor_is_a_404_page(staff_client):
    response = staff_client.get(f"/tutors/{uuid.UUID(int=99)}/")
    assert response.status_code == 404
    assert "We couldn't find that page" in body(response)
    assert 'href="/tutors/">Back to the tutor list' in body(response)


@pytest.mark.django_db
def test_the_404_page_sends_a_visitor_to_log_in_not_to_a_page_they_cannot_see(client):
    page = body(client.get("/no-such-page/"))
    assert 'href="/accounts/login/">Log in' in page and "/tutors/" not in page


# --- overview ---------------------------------------------------------------------------------


def test_overview_without_any_data_says_so(staff_client):
    page = body(staff_client.get("/"))
    assert "No data yet" in page
    assert "Up to date" in page
    assert "No sessions in the last 12 weeks yet." in page


def test_overview_cards_charts_and_lists(staff_client, make_tutor, make_session):
    risky = make_tutor("Rita Risky", "rita@example.com")
    calm = make_tutor("Carl Calm", "carl@example.com")
    make_tutor("Ivan Inactive", is_active=False)
    make_session(risky, days_ago=0.5)  # inside the last 24 h
    make_session(risky, days_ago=3, status="rescheduled")
    make_session(calm, days_ago=10)
    make_score(risky, level="high", risk_score="80", reschedule_rate_30d=Decimal("50.00"))
    make_score(calm, level="low", risk_score="5", reschedule_rate_30d=Decimal("0.00"))
    make_alert(risky)
    make_alert(calm, status="resolved")
    # risky's sessions changed after its score: 90 minutes of lag.
    type(risky).mark_changed([risky.pk], now=NOW - timedelta(minutes=90))
    type(risky).objects.filter(pk=calm.pk).update(sessions_changed_at=NOW - timedelta(days=2))
    risky.score.__class__.objects.filter(tutor=risky).update(last_calculated_at=NOW - timedelta(hours=2))

    page = body(staff_client.get("/"))
    assert "No data yet" not in page
    cards = page.split('aria-label="Key figures"')[1].split("</section>")[0]
    assert '<p class="card-label">Active tutors</p><p class="card-value">2</p>' in cards
    assert 'href="/tutors/?risk=high&amp;status=active">1</a>' in cards
    assert "25.00%" in cards  # (50 + 0) / 2
    assert '<p class="card-label">Sessions, last 24 h</p><p class="card-value">1</p>' in cards
    assert 'href="/alerts/">1</a>' in cards
    assert "1 h 30 min" in cards and "1 tutor waiting to be scored" in cards
    assert 'role="img"' in page and "<title" in page
    assert "High: 1, Medium: 0, Low: 1, Inactive: 0, Not scored: 0." in page  # text alternative of the bars
    assert "Rita Risky" in page.split("Most at-risk tutors")[1].split("</section>")[0]
    assert 'class="rate rate-high">50.00%' in page


def test_overview_polling_returns_only_the_panels(staff_client):
    response = staff_client.get("/", **HTMX)
    html = body(response)
    assert html.lstrip().startswith('<div id="overview-panels"')
    assert "<html" not in html
    assert 'hx-trigger="every 30s"' in html
    assert "HX-Request" in response["Vary"]


# --- tutor list -------------------------------------------------------------------------------


@pytest.fixture
def three_tutors(make_tutor):
    ann = make_tutor("Ann Able", "ann@example.com")
    bob = make_tutor("Bob Busy", "bob@school.org")
    cy = make_tutor("Cy New", "cy@example.com")  # never scored
    make_score(
        ann,
        level="high",
        risk_score="70",
        reschedule_rate_7d=Decimal("40.00"),
        reschedule_rate_30d=Decimal("20.00"),
        total_sessions_7d=5,
        total_sessions_30d=10,
        no_show_rate_30d=Decimal("10.00"),
        evidence={
            "reschedule_rate": {
                "state": "flagged",
                "window_days": 7,
                "events": 2,
                "total": 5,
                "strength": 55.0,
            }
        },
    )
    make_score(
        bob,
        level="medium",
        risk_score="30",
        reschedule_rate_7d=None,
        reschedule_rate_30d=Decimal("12.50"),
        total_sessions_7d=0,
        total_sessions_30d=16,
        no_show_rate_30d=Decimal("0.00"),
        is_watching=True,
        evidence={
            "no_show_rate": {
                "state": "watching",
                "window_days": 30,
                "events": 2,
                "total": 16,
                "strength": 9.0,
            }
        },
    )
    return ann, bob, cy


def names_in_table(html):
    rows = html.split("<tbody>")[1].split("</tbody>")[0]
    return [part.split("</a>")[0].split(">")[-1] for part in rows.split('<td data-label="Name">')[1:]]


def test_tutor_list_shows_rates_coloured_and_unknowns_as_dash(staff_client, three_tutors):
    html = body(staff_client.get("/tutors/"))
    assert names_in_table(html) == ["Ann Able", "Bob Busy", "Cy New"]  # risk score, unscored last
    assert '<span class="rate rate-high">20.00%</span>' in html
    assert '<span class="rate rate-warn">12.50%</span>' in html  # within 5 points below 15
    assert '<span class="rate rate-ok">0.00%</span>' in html
    assert '<span class="rate rate-warn">10.00%</span>' in html  # no-show rate at its threshold
    assert '<span class="badge badge-none">Not scored</span>' in html
    assert "0.00%" not in html.split("Cy New")[1]  # unknown is "—", never 0%
    assert "1–3 of 3 tutors" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort=name", ["Ann Able", "Bob Busy", "Cy New"]),
        ("sort=name&order=desc", ["Cy New", "Bob Busy", "Ann Able"]),
        ("sort=rate", ["Ann Able", "Bob Busy", "Cy New"]),
        ("sort=rate&order=asc", ["Bob Busy", "Ann Able", "Cy New"]),  # unknown rates stay last
        ("sort=sessions", ["Bob Busy", "Ann Able", "Cy New"]),
        ("sort=sessions&window=7", ["Ann Able", "Bob Busy", "Cy New"]),
        ("sort=rate&window=7&order=asc", ["Ann Able", "Bob Busy", "Cy New"]),
        ("sort=risk&order=asc", ["Bob Busy", "Ann Able", "Cy New"]),
        ("risk=medium", ["Bob Busy"]),
        ("risk=none", ["Cy New"]),
        ("q=school.org", ["Bob Busy"]),
        ("q=NEW", ["Cy New"]),
        ("sort=bogus&window=13&risk=evil&order=up", ["Ann Able", "Bob Busy", "Cy New"]),  # defaults
    ],
)
def test_tutor_list_sorts_filters_and_searches(staff_client, three_tutors, query, expected):
    assert names_in_table(body(staff_client.get(f"/tutors/?{query}"))) == expected


def test_window_switches_the_rate_and_session_columns(staff_client, three_tutors):
    html = body(staff_client.get("/tutors/?window=7"))
    assert "Reschedule rate (7 d)" in html and "Sessions (7 d)" in html
    assert '<span class="rate rate-high">40.00%</span>' in html
    bob_row = html.split("Bob Busy")[1].split("</tr>")[0]
    assert '<span class="rate rate-none">—</span>' in bob_row


def test_sort_headers_toggle_and_keep_the_filters(staff_client, three_tutors):
    html = body(staff_client.get("/tutors/?risk=high&sort=rate&window=7"))
    assert 'aria-sort="descending"' in html
    assert 'href="?risk=high&amp;sort=rate&amp;window=7&amp;order=asc"' in html
    assert 'hx-get="?risk=high&amp;sort=name&amp;window=7&amp;order=asc"' in html


def test_empty_search_result_offers_to_clear(staff_client, three_tutors):
    html = body(staff_client.get("/tutors/?q=nobody"))
    assert "No tutor matches these filters." in html


def test_tutor_list_paginates_and_htmx_gets_only_the_table(staff_client, make_tutor):
    for index in range(30):
        make_tutor(f"Tutor {index:02d}")
    html = body(staff_client.get("/tutors/?sort=name&page=2"))
    assert names_in_table(html) == [f"Tutor {index:02d}" for index in range(25, 30)]
    assert "26–30 of 30 tutors" in html and "Page 2 of 2" in html

    response = staff_client.get("/tutors/?sort=name&page=2", **HTMX)
    fragment = body(response)
    assert fragment.lstrip().startswith('<section id="tutor-table"')
    assert "<html" not in fragment
    # Polling asks for the same state it shows.
    assert 'hx-get="/tutors/?sort=name&amp;page=2" hx-trigger="every 30s"' in fragment
    assert "HX-Request" in response["Vary"]


def test_history_restore_gets_the_full_page(staff_client):
    html = body(staff_client.get("/tutors/", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"))
    assert "<html" in html


def test_csv_export_has_the_filtered_sorted_rows_of_every_page(staff_client, three_tutors):
    response = staff_client.get("/tutors/?sort=rate&order=asc&window=30&page=9&format=csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="tutors-')
    rows = list(csv.reader(io.StringIO(body(response))))
    assert rows == [
        [
            "Name",
            "Email",
            "Reschedule rate 30d (%)",
            "Risk level",
            "State",
            "Why",
            "Sessions 30d",
            "No-show rate 30d (%)",
            "Risk score",
            "Last updated (UTC)",
        ],
        [
            "Bob Busy",
            "bob@school.org",
            "12.50",
            "medium",
            "watching",
            "2 of 16 missed, 30 d",
            "16",
            "0.00",
            "30.00",
            NOW.isoformat(),
        ],
        [
            "Ann Able",
            "ann@example.com",
            "20.00",
            "high",
            "flagged",
            "2 of 5 rescheduled, 7 d",
            "10",
            "10.00",
            "70.00",
            NOW.isoformat(),
        ],
        ["Cy New", "cy@example.com", "", "", "", "", "", "", "", ""],
    ]


def test_csv_export_follows_filters_and_window(staff_client, three_tutors):
    rows = list(csv.reader(io.StringIO(body(staff_client.get("/tutors/?risk=high&window=7&format=csv")))))
    assert rows[0][2] == "Reschedule rate 7d (%)" and rows[0][6] == "Sessions 7d"
    assert rows[1:] == [
        [
            "Ann Able",
            "ann@example.com",
            "40.00",
            "high",
            "flagged",
            "2 of 5 rescheduled, 7 d",
            "5",
            "10.00",
            "70.00",
            NOW.isoformat(),
        ]
    ]


def test_csv_export_defuses_spreadsheet_formulas_in_platform_text(staff_client, make_tutor):
    make_tutor('=HYPERLINK("http://evil.example","Click")', email="@sum@example.com")
    rows = list(csv.reader(io.StringIO(body(staff_client.get("/tutors/?format=csv")))))
    assert rows[1][:2] == ['\'=HYPERLINK("http://evil.example","Click")', "'@sum@example.com"]


def test_csv_link_carries_the_current_state(staff_client, three_tutors):
    html = body(staff_client.get("/tutors/?risk=high&sort=name&page=1"))
    assert 'href="/tutors/?risk=high&amp;sort=name&amp;format=csv"' in html


# --- tutor detail -----------------------------------------------------------------------------


def test_tutor_without_sessions_or_score_shows_empty_states(staff_client, make_tutor):
    tutor = make_tutor("Nora None")
    html = body(staff_client.get(f"/tutors/{tutor.pk}/"))
    assert "Not scored yet" in html
    assert "This tutor has not been scored yet." in html
    assert "No sessions in the last 90 days, so there is no rate to draw." in html
    assert "This tutor has no sessions yet." in html
    assert "No reschedules." in html and "No alerts for this tutor." in html
    assert "No mail has been sent about this tutor yet." in html
    assert "INVALID" not in html


def test_tutor_detail_shows_cards_chart_reschedules_reasons_and_alerts(
    staff_client, make_tutor, make_session
):
    tutor = make_tutor("Rae Late", "rae@example.com")
    make_session(tutor, days_ago=2, status="rescheduled", reason="Family wedding", hours_before=3)
    make_session(tutor, days_ago=9, status="rescheduled", reason="Exam conflict", hours_before=72)
    for days in (1, 4, 12, 20):
        make_session(tutor, days_ago=days)
    make_score(
        tutor,
        level="high",
        risk_score="65",
        total_sessions_7d=3,
        tutor_reschedules_7d=1,
        reschedule_rate_7d=Decimal("33.33"),
        total_sessions_30d=6,
        tutor_reschedules_30d=2,
        reschedule_rate_30d=Decimal("33.33"),
        reasons=["Rescheduled 2 of 6 sessions in the last 30 days (33.33%, threshold 15%)"],
        recommendations=["Schedule a calendar-planning check-in"],
    )
    make_alert(tutor, message="Rescheduled 2 of 6 sessions.")

    html = body(staff_client.get(f"/tutors/{tutor.pk}/"))
    assert "High risk</span>" in html
    assert "1 tutor reschedule of 3 sessions" in html and "2 tutor reschedules of 6 sessions" in html
    assert '<span class="rate rate-high">33.33%</span>' in html
    assert "Rescheduled 2 of 6 sessions in the last 30 days (33.33%, threshold 15%)" in html
    assert "Schedule a calendar-planning check-in" in html
    chart = html.split('<svg class="chart chart-lines"')[2].split("</svg>")[0]  # [1]: the history chart
    assert 'role="img"' in chart and "Threshold 15%" in chart
    today = f"{NOW:%b} {NOW.day}"  # each point says how many sessions its rate stands on
    assert f"<title>{today}: 30-day rate 33.33% (2 of 6 sessions)</title>" in chart
    assert "Latest rolling rates — 7-day rate: 33.33%; 30-day rate: 33.33%; 90-day rate: 33.33%." in html
    reschedules = html.split("Recent reschedules")[1].split("</table>")[0]
    assert reschedules.index("Family wedding") < reschedules.index("Exam conflict")
    assert reschedules.count("last-minute</span>") == 1  # 3 h before; the 72 h one is not
    assert "3.00" in reschedules and "72.00" in reschedules
    assert "Rescheduled 2 of 6 sessions." in html and "Acknowledge</button>" in html
    assert "INVALID" not in html


def test_session_history_pages_alone_with_htmx(staff_client, make_tutor, make_session):
    tutor = make_tutor()
    for day in range(25):
        make_session(tutor, days_ago=day + 1, student_id=f"student-{day:02d}")
    html = body(staff_client.get(f"/tutors/{tutor.pk}/?page=2"))
    assert "Page 2 of 2" in html and "student-24" in html and "student-00" not in html
    fragment = body(staff_client.get(f"/tutors/{tutor.pk}/?page=2", HTTP_HX_TARGET="session-history", **HTMX))
    assert fragment.lstrip().startswith('<section id="session-history"')
    assert "student-20" in fragment and "Recent reschedules" not in fragment


def test_tutor_detail_lists_mails_about_the_tutor(staff_client, make_tutor):
    from reports.models import EmailReport  # only the test reaches into reports

    tutor = make_tutor()
    EmailReport.objects.create(
        kind="alert",
        event_key="alert:1",
        tutor=tutor,
        recipient_email="lead@example.com",
        subject="Tutor needs attention",
        status="failed",
        error_message="Mailbox full",
    )
    html = body(staff_client.get(f"/tutors/{tutor.pk}/"))
    mails = html.split("Mails about this tutor")[1]
    assert "lead@example.com" in mails and "Tutor needs attention" in mails and "Mailbox full" in mails


# --- alert queue and actions ------------------------------------------------------------------


def test_alert_queue_lists_unresolved_alerts_newest_or_most_severe(staff_client, make_tutor):
    mild, severe, done = make_tutor("Mild Tutor"), make_tutor("Severe Tutor"), make_tutor("Done Tutor")
    make_score(mild, level="medium", risk_score="40")
    make_score(severe, level="high", risk_score="90")
    make_alert(mild, opened_at=NOW - timedelta(hours=1))
    make_alert(severe, opened_at=NOW - timedelta(days=1), status="acknowledged")
    make_alert(done, status="resolved")

    newest = body(staff_client.get("/alerts/"))
    assert "2 alerts to handle" in newest and "Done Tutor" not in newest
    assert newest.index("Mild Tutor") < newest.index("Severe Tutor")
    severity = body(staff_client.get("/alerts/?sort=severity"))
    assert severity.index("Severe Tutor") < severity.index("Mild Tutor")
    fragment = body(staff_client.get("/alerts/?sort=severity", **HTMX))
    assert fragment.lstrip().startswith("{#") is False and '<section id="alert-queue"' in fragment
    assert "<html" not in fragment


def test_empty_alert_queue(staff_client):
    assert "Nothing to triage" in body(staff_client.get("/alerts/"))


def test_acknowledge_with_htmx_returns_the_card_and_triggers_an_event(staff_client, staff_user, make_tutor):
    alert = make_alert(make_tutor("Ack Tutor"))
    response = staff_client.post(
        reverse("scoring:alert_acknowledge", args=[alert.pk]), {"show_tutor": "1", "next": "/alerts/"}, **HTMX
    )
    html = body(response)
    assert html.lstrip().startswith(f'<article class="alert-card alert-acknowledged" id="alert-{alert.pk}"')
    assert "Acknowledge</button>" not in html  # no longer possible
    assert f'"alertChanged": {{"id": "{alert.pk}", "status": "acknowledged"}}' in response["HX-Trigger"]
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", staff_user)


def test_assign_note_and_resolve_with_htmx(staff_client, staff_user, make_tutor):
    alert = make_alert(make_tutor())
    staff_client.post(reverse("scoring:alert_assign", args=[alert.pk]), {"assignee": staff_user.pk}, **HTMX)
    html = body(
        staff_client.post(
            reverse("scoring:alert_note", args=[alert.pk]), {"text": "Called the tutor"}, **HTMX
        )
    )
    assert "<q>Called the tutor</q>" in html and '<span class="alert-who">coach</span>' in html
    assert '<details class="alert-details" open>' in html  # the added note shows at once
    html = body(staff_client.post(reverse("scoring:alert_resolve", args=[alert.pk]), **HTMX))
    assert "Resolved</span>" in html and "Resolve</button>" not in html
    alert.refresh_from_db()
    assert (alert.status, alert.assignee, alert.resolved_by) == ("resolved", staff_user, staff_user)
    actions = list(alert.events.values_list("action", flat=True))
    assert actions == ["opened", "assigned", "note", "resolved"]


def test_invalid_actions_show_errors_in_the_card(staff_client, make_tutor):
    alert = make_alert(make_tutor(), status="resolved")
    response = staff_client.post(reverse("scoring:alert_acknowledge", args=[alert.pk]), **HTMX)
    html = body(response)
    assert 'role="alert"' in html and "Only an open alert can be acknowledged." in html
    assert "HX-Trigger" not in response
    html = body(staff_client.post(reverse("scoring:alert_note", args=[alert.pk]), {"text": "  "}, **HTMX))
    assert "Write a note first." in html
    open_alert = make_alert(make_tutor("Other"))
    for value in ("", "abc", "999999"):
        html = body(
            staff_client.post(
                reverse("scoring:alert_assign", args=[open_alert.pk]), {"assignee": value}, **HTMX
            )
        )
        assert "Choose a staff member to assign." in html
    assert AlertEvent.objects.filter(alert__in=[alert, open_alert]).count() == 2  # only the "opened" ones


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("note", {"text": "called\x00"}, "Null characters are not allowed."),
        ("note", {"text": "rang \x07 twice"}, "Remove the control characters from this text."),
        ("note", {"text": "\u202egnp.exe"}, "Remove the control characters from this text."),
        ("note", {"text": "x" * 1_000_000}, "Keep the note under 2000 characters."),
        ("resolve", {"note": "x" * 2001}, "Keep the note under 2000 characters."),
        ("resolve", {"note": "done\x00"}, "Null characters are not allowed."),
        ("assign", {"assignee": "²"}, "Choose a staff member to assign."),
        ("assign", {"assignee": "9223372036854775808"}, "Choose a staff member to assign."),
        ("assign", {"assignee": "1.5"}, "Choose a staff member to assign."),
    ],
)
def test_bad_action_input_is_a_form_error_and_stores_nothing(staff_client, make_tutor, action, data, message):
    alert = make_alert(make_tutor())
    html = body(staff_client.post(reverse(f"scoring:alert_{action}", args=[alert.pk]), data, **HTMX))
    assert 'role="alert"' in html and message in html
    alert.refresh_from_db()
    assert alert.status == "open"
    assert list(alert.events.values_list("action", flat=True)) == ["opened"]


def test_a_note_keeps_odd_but_valid_text(staff_client, make_tutor):
    alert = make_alert(make_tutor())
    text = "Rang 🙂 — مرحبا, line one\nline two"
    staff_client.post(reverse("scoring:alert_note", args=[alert.pk]), {"text": f"  {text}  "}, **HTMX)
    assert alert.events.last().text == text


def test_actions_without_javascript_redirect_back_with_a_message(staff_client, make_tutor):
    alert = make_alert(make_tutor("Plain Form"))
    response = staff_client.post(
        reverse("scoring:alert_resolve", args=[alert.pk]), {"next": "/alerts/?sort=severity", "note": "Fixed"}
    )
    assert response.status_code == 302 and response["Location"] == "/alerts/?sort=severity"
    page = body(staff_client.get("/alerts/"))
    assert "Reschedule rate alert for Plain Form: resolved." in page
    # An off-site next falls back to the tutor's page.
    other = make_alert(make_tutor("Elsewhere"))
    response = staff_client.post(
        reverse("scoring:alert_acknowledge", args=[other.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == other.get_absolute_url()
    assert Alert.objects.get(pk=alert.pk).events.last().text == "Fixed"
    # A bare word is not a URL name to reverse, and a header cannot carry a line break.
    for next_url in ("admin:index", "/alerts/\r\nSet-Cookie: x=1"):
        response = staff_client.post(
            reverse("scoring:alert_note", args=[other.pk]), {"next": next_url, "text": "n"}
        )
        assert response["Location"] == other.get_absolute_url()


def test_actions_only_accept_post(staff_client, make_tutor):
    alert = make_alert(make_tutor())
    assert staff_client.get(reverse("scoring:alert_resolve", args=[alert.pk])).status_code == 405
    assert staff_client.post(f"/alerts/{uuid.UUID(int=5)}/resolve/").status_code == 404


# --- as a coaching lead uses them: card links, list filters, icons, queue counter -----------


@pytest.fixture
def high_risk_tutors(make_tutor):
    """Two active high-risk tutors, one inactive high-risk tutor, one active low-risk tutor."""
    for name, level, active in (
        ("Ann Active", "high", True),
        ("Ben Active", "high", True),
        ("Ida Inactive", "high", False),
        ("Lou Low", "low", True),
    ):
        make_score(
            make_tutor(name, is_active=active), level=level, risk_score="80" if level == "high" else "5"
        )


def test_high_risk_card_links_to_exactly_the_tutors_it_counts(staff_client, high_risk_tutors):
    # The card counts active tutors only, so its link must not list the inactive one.
    html = body(staff_client.get("/"))
    card = html.split("High-risk tutors")[1].split("</div>")[0]
    href = re.search(r'href="([^"]+)"', card).group(1).replace("&amp;", "&")
    assert re.search(r">\s*2\s*</a>", card)
    listed = body(staff_client.get(href))
    assert "1–2 of 2 tutors" in listed
    assert "Ann Active" in listed and "Ben Active" in listed and "Ida Inactive" not in listed


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["Ann Active", "Ben Active", "Ida Inactive", "Lou Low"]),
        ("?status=active", ["Ann Active", "Ben Active", "Lou Low"]),
        ("?status=inactive", ["Ida Inactive"]),
        ("?status=bogus", ["Ann Active", "Ben Active", "Ida Inactive", "Lou Low"]),
    ],
)
def test_tutor_list_filters_active_and_inactive_tutors(staff_client, high_risk_tutors, query, expected):
    sep = "&" if query else "?"
    rows = list(csv.reader(io.StringIO(body(staff_client.get(f"/tutors/{query}{sep}sort=name&format=csv")))))
    assert [row[0] for row in rows[1:]] == expected
    html = body(staff_client.get(f"/tutors/{query}"))
    assert '<label for="id_status">' in html


def test_an_empty_status_filter_offers_to_clear_it(staff_client, make_tutor):
    make_score(make_tutor("Ann Active"), level="low")
    html = body(staff_client.get("/tutors/?status=inactive"))
    assert "No tutor matches these filters." in html
    assert "No tutors yet" not in html


@pytest.mark.parametrize("url", ["/", "/tutors/", "/alerts/", "/reports/"])
def test_no_template_comment_leaks_into_the_page(staff_client, high_risk_tutors, url):
    # A {# #} comment spanning two lines is not a comment in Django: it renders as page text.
    html = body(staff_client.get(url))
    assert "{#" not in html and "#}" not in html and "{%" not in html


def test_pages_declare_an_icon_so_browsers_do_not_request_favicon_ico(client):
    # Without one, every first page view logs "Not Found: /favicon.ico" as a warning.
    html = body(client.get("/accounts/login/"))
    assert '<link rel="icon" href="data:image/svg+xml,' in html


def test_an_action_in_the_queue_updates_the_queue_counter(staff_client, make_tutor):
    # The counter follows the action at once, not at the next poll.
    from tutorscore.testing import make_alert

    first = make_alert(make_tutor("Ann"))
    make_alert(make_tutor("Bob"))
    page = body(staff_client.get("/alerts/"))
    assert '<p class="table-meta" role="status" id="alert-queue-count">2 alerts to handle</p>' in page

    html = body(
        staff_client.post(f"/alerts/{first.pk}/resolve/", {"show_tutor": "1"}, HTTP_HX_REQUEST="true")
    )
    assert 'id="alert-queue-count" hx-swap-oob="true">1 alert to handle</p>' in html

    # On a tutor's page there is no queue counter to update.
    second = make_alert(make_tutor("Cy"))
    html = body(
        staff_client.post(f"/alerts/{second.pk}/acknowledge/", {"show_tutor": "0"}, HTTP_HX_REQUEST="true")
    )
    assert "alert-queue-count" not in html


def test_lists_say_why_and_link_to_how_the_score_is_computed(staff_client, three_tutors):
    page = staff_client.get("/tutors/").content.decode()
    assert "2 of 5 rescheduled, 7 d" in page  # Ann's flag
    assert "Medium · watching" in page and "2 of 16 missed, 30 d" in page  # Bob's watch
    assert page.count('href="/how-scores-work/"') >= 2
    assert ">70<" not in page and "70.00" not in page  # whole numbers
    assert '70<a class="help-link"' in page


def test_how_scores_work_shows_the_flag_table_of_the_current_settings(staff_client):
    from django.test import Client

    assert Client().get("/how-scores-work/").status_code == 302  # login first
    page = staff_client.get("/how-scores-work/").content.decode()
    assert "40 times likelier" in page
    # docs/scoring.md's table at the default 40 : 1: 4 of 5, 4 of 10, 6 of 20, 8 of 30 reschedules.
    for cell in ("4 (80%)", "4 (40%)", "6 (30%)", "8 (27%)"):
        assert cell in page

    ScoringSettings.objects.update(flag_evidence_ratio=100, minimum_sessions=10)
    page = staff_client.get("/how-scores-work/").content.decode()
    assert "100 times likelier" in page and "4 (80%)" not in page  # 5 sessions: under the minimum
