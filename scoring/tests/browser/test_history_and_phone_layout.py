"""Browser-only behaviour: Back restores filtered views; pages fit a phone screen."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from reports.models import EmailReport
from scoring.tests.browser.pages import log_in, page_width
from tutorscore.testing import make_alert, make_score

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scored(make_tutor):
    """Six scored tutors: Ann/Bob/Cat high, Dan/Eve/Fay low."""
    now = timezone.now()
    made = {}
    for index, name in enumerate(["Ann", "Bob", "Cat", "Dan", "Eve", "Fay"]):
        tutor = make_tutor(name, f"{name.lower()}@example.com")
        make_score(tutor, now=now, level="high" if index < 3 else "low", risk_score=str(90 - index))
        made[name] = tutor
    return made


def test_back_button_brings_back_the_filters_that_match_the_table(page, live_server, staff_user, scored):
    # htmx's history snapshot keeps the HTML, not what was typed or chosen: after Back the table
    # and the filter form must show the same view, or the next change mixes the two.
    log_in(page, live_server, "/tutors/")
    page.get_by_label("Risk level").select_option("high")
    expect(page.locator(".table-meta")).to_contain_text("1–3 of 3 tutors")
    page.get_by_label("Window").select_option("7")
    expect(page.locator(".tutor-table thead")).to_contain_text("Reschedule rate (7 d)")
    page.get_by_label("Search name or email").fill("bob")
    expect(page.locator(".table-meta")).to_contain_text("1–1 of 1 tutor matching “bob”")

    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/tutors/?q=&risk=high&status=&window=7&sort=risk&order=")
    expect(page.locator(".table-meta")).to_contain_text("1–3 of 3 tutors")
    expect(page.get_by_label("Search name or email")).to_have_value("")
    expect(page.get_by_label("Risk level")).to_have_value("high")
    expect(page.get_by_label("Window")).to_have_value("7")

    page.go_back()
    expect(page.locator(".tutor-table thead")).to_contain_text("Reschedule rate (30 d)")
    expect(page.get_by_label("Risk level")).to_have_value("high")
    expect(page.get_by_label("Window")).to_have_value("30")


def test_back_button_on_the_email_log_keeps_the_status_filter(page, live_server, staff_user, scored):
    for name, status in (("Ann", "sent"), ("Bob", "failed")):
        EmailReport.objects.create(
            kind=EmailReport.Kind.ALERT,
            event_key=f"alert:{name}",
            recipient_email="coach@example.com",
            subject=f"[Alert] {name}",
            tutor=scored[name],
            status=status,
        )
    log_in(page, live_server, "/reports/")
    page.get_by_label("Status").select_option("failed")
    expect(page.get_by_text("1 mail · page 1 of 1")).to_be_visible()
    page.get_by_label("Kind").select_option("digest")
    expect(page.get_by_text("No mails match these filters.")).to_be_visible()

    page.go_back()
    expect(page.get_by_text("1 mail · page 1 of 1")).to_be_visible()
    expect(page.get_by_label("Status")).to_have_value("failed")
    expect(page.get_by_label("Kind")).to_have_value("")


def test_the_tutor_page_fits_a_phone_screen(browser, live_server, staff_user, scored, make_session):
    # On a 390 px screen "Add note" stays inside the card, and the reschedule/session tables
    # collapse into cards like the tutor list instead of scrolling sideways.
    make_alert(scored["Ann"], opened_at=timezone.now(), message="Rescheduled 4 of 10 sessions.")
    make_session(
        scored["Ann"],
        at=timezone.now() - timedelta(days=2),
        status="rescheduled",
        reason="Car trouble",
        hours_before=3,
    )
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        log_in(page, live_server, f"/tutors/{scored['Ann'].pk}/")
        card = page.locator(".alert-card").first
        card_box = card.bounding_box()
        for name in ("Acknowledge", "Assign", "Add note", "Resolve"):
            box = card.get_by_role("button", name=name).bounding_box()
            assert box["x"] + box["width"] <= card_box["x"] + card_box["width"], name
        marker = page.locator(".tag-warn", has_text="last-minute")
        marker.scroll_into_view_if_needed()
        expect(marker).to_be_in_viewport(ratio=1)
        for wrap in page.locator(".table-wrap").all():
            assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth")
        assert page_width(page) <= 390
    finally:
        context.close()


def test_the_email_log_fits_a_phone_screen(browser, live_server, staff_user, scored):
    # Nine columns would scroll sideways and hide status and Resend: rows become cards.
    EmailReport.objects.create(
        kind=EmailReport.Kind.ALERT,
        event_key="alert:ann",
        recipient_email="coach@example.com",
        subject="[Alert] Ann: reschedule rate",
        tutor=scored["Ann"],
        status=EmailReport.Status.FAILED,
        error_message="Connection refused",
        attempts=5,
    )
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        log_in(page, live_server, "/reports/")
        resend = page.get_by_role("button", name="Resend")
        expect(resend).to_be_in_viewport()
        box = resend.bounding_box()
        assert box["x"] + box["width"] <= 390
        assert page.locator(".table-wrap").evaluate("e => e.scrollWidth <= e.clientWidth")
    finally:
        context.close()


def test_chart_axis_labels_are_not_cut_off_on_a_phone(
    browser, live_server, staff_user, make_tutor, make_session
):
    # On 390 px the platform trend's y labels read "7.5%" and "2.5%" for 37.5% and 12.5%.
    cache.clear()  # the trend is cached per period: another test's figures must not stand in
    tutor = make_tutor("Ann")
    for days in range(1, 80, 3):
        make_session(
            tutor, at=timezone.now() - timedelta(days=days), status="rescheduled" if days % 2 else "completed"
        )
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        log_in(page, live_server, "/")
        svg = page.locator("svg.chart-lines").first
        expect(svg).to_be_visible()
        cut = svg.evaluate(
            """svg => {
                const visible = getComputedStyle(svg).overflow === 'visible'
                    ? svg.closest('.panel').getBoundingClientRect() : svg.getBoundingClientRect();
                return [...svg.querySelectorAll('text.axis-label')]
                    .filter(t => {
                        const r = t.getBoundingClientRect();
                        return r.left < visible.left - 0.5 || r.right > visible.right + 0.5;
                    })
                    .map(t => t.textContent);
            }"""
        )
        assert cut == []
    finally:
        context.close()
