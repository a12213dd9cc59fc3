"""The journeys an admin really takes, in a real browser (system Chromium, no download).

Data is built relative to the real clock: the live server computes windows from timezone.now().
"""

import csv
import json
import re
import urllib.request
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scoring.tests.browser.pages import log_in, table_names
from sessions.models import ApiKey
from tutorscore.testing import make_alert, make_score

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tutors(make_tutor, make_session):
    """30 scored tutors (pages of 25), every third one high risk; Tutor 00 has sessions and an alert."""
    now = timezone.now()
    made = []
    for index in range(30):
        tutor = make_tutor(f"Tutor {index:02d}", f"tutor{index:02d}@example.com")
        high = index % 3 == 0
        make_score(
            tutor,
            now=now,
            level="high" if high else "low",
            risk_score=str(90 - index),
            reschedule_rate_30d=Decimal(40 - index),
            total_sessions_30d=index + 1,
            reasons=[f"Rescheduled {index} sessions"] if high else [],
        )
        made.append(tutor)
    first = made[0]
    for days in (2, 5, 12, 30, 60):
        make_session(first, at=now - timedelta(days=days))
    make_session(
        first, at=now - timedelta(days=3), status="rescheduled", reason="Car trouble", hours_before=4
    )
    make_alert(first, opened_at=now, message="Rescheduled 1 of 6 sessions in the last 7 days.")
    return made


def test_filter_sort_search_page_and_export(page, live_server, staff_user, tutors):
    log_in(page, live_server, "/tutors/")
    assert table_names(page)[:3] == ["Tutor 00", "Tutor 01", "Tutor 02"]  # risk score, highest first
    page.evaluate("window.notReloaded = true")  # survives only if htmx swaps instead of loading pages

    page.get_by_label("Risk level").select_option("high")
    expect(page).to_have_url(
        f"{live_server.url}/tutors/?q=&risk=high&status=&window=30&sort=risk&order="
    )  # order= : "Usual", the phone sort control
    expect(page.locator(".table-meta")).to_contain_text("1–10 of 10 tutors")

    page.get_by_role("link", name="Name").click()
    expect(page).to_have_url(f"{live_server.url}/tutors/?q=&risk=high&status=&window=30&sort=name&order=asc")
    page.get_by_role("link", name="Name").click()  # toggles
    expect(page.locator(".tutor-table tbody tr").first).to_contain_text("Tutor 27")

    page.get_by_label("Search name or email").fill("tutor03@")
    expect(page.locator(".tutor-table tbody tr")).to_have_count(1)
    expect(page).to_have_url(
        f"{live_server.url}/tutors/?q=tutor03%40&risk=high&status=&window=30&sort=name&order=desc"
    )

    page.get_by_label("Search name or email").fill("")
    page.get_by_label("Risk level").select_option("")
    expect(page.locator(".table-meta")).to_contain_text("1–25 of 30 tutors")
    page.get_by_role("link", name="Next →").click()
    expect(page.locator(".table-meta")).to_contain_text("26–30 of 30 tutors")
    expect(page).to_have_url(re.compile(r"[?&]page=2(&|$)"))  # htmx may push the URL after the swap
    assert page.evaluate("window.notReloaded") is True

    # The bookmarked URL restores the same view on a fresh load.
    page.reload()
    expect(page.locator(".table-meta")).to_contain_text("26–30 of 30 tutors")

    page.get_by_label("Risk level").select_option("high")
    # The export link carries the filters, so wait for the swap that rewrites it.
    expect(page.locator(".table-meta")).to_contain_text("1–10 of 10 tutors")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    with open(download.value.path(), newline="") as handle:
        rows = list(csv.reader(handle))
    assert [row[0] for row in rows[1:]] == [f"Tutor {index:02d}" for index in range(27, -1, -3)]


def test_open_a_tutor_see_the_chart_and_work_the_alert(page, live_server, staff_user, tutors):
    log_in(page, live_server, "/tutors/")
    page.get_by_role("link", name="Tutor 00").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tutor 00")
    chart = page.locator("svg.chart-lines").first
    expect(chart).to_be_visible()
    assert chart.get_attribute("role") == "img"
    expect(chart.locator("path").first).to_be_attached()
    expect(page.get_by_text("Car trouble")).to_be_visible()

    page.evaluate("window.notReloaded = true")
    card = page.locator(".alert-card").first
    card.get_by_role("button", name="Acknowledge").click()
    expect(card.locator(".badge-status-acknowledged")).to_have_text("Acknowledged")
    card.get_by_label("Note").fill("Called Tutor 00, agreed a calendar check-in")
    card.get_by_role("button", name="Add note").click()
    expect(card.get_by_text("Called Tutor 00, agreed a calendar check-in")).to_be_visible()
    card.get_by_role("button", name="Resolve").click()
    expect(card.locator(".badge-status-resolved")).to_have_text("Resolved")
    assert page.evaluate("window.notReloaded") is True

    page.goto(live_server.url + "/alerts/")
    expect(page.get_by_text("Nothing to triage")).to_be_visible()


def test_a_session_posted_through_the_api_appears_after_polling(page, live_server, staff_user, settings):
    settings.DASHBOARD_POLL_SECONDS = 1
    _, raw_key = ApiKey.create_key("browser-test")
    log_in(page, live_server, "/tutors/?q=Newcomer")
    expect(page.get_by_text("No tutor matches these filters.")).to_be_visible()
    page.evaluate("window.notReloaded = true")

    started = timezone.now() - timedelta(hours=2)
    payload = {
        "session_id": str(uuid.uuid4()),
        "tutor_id": str(uuid.uuid4()),
        "tutor_name": "Nina Newcomer",
        "student_id": "student-1",
        "scheduled_time": started.isoformat(),
        "completed_time": (started + timedelta(hours=1)).isoformat(),
        "status": "completed",
        "duration_minutes": 60,
    }
    request = urllib.request.Request(
        live_server.url + "/api/sessions",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {raw_key}"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 202

    row = page.locator(".tutor-table tbody tr", has_text="Nina Newcomer")
    expect(row).to_be_visible(timeout=8_000)
    expect(row.locator("td[data-label='Sessions 30 d']")).to_have_text("1")
    assert page.evaluate("window.notReloaded") is True
