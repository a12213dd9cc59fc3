"""The alert queue as a team works it, at desktop (1280 px) and phone (390 px) widths: a note
typed or added survives the refresh, bulk resolve, snooze, and "did coaching work?".

Data is built relative to the real clock: the live server computes ages and snoozes from
timezone.now().
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scoring import alerts as alerts_module
from scoring.models import Alert
from scoring.tests.browser.pages import csp_checked_page, log_in, page_width
from tutorscore.testing import make_alert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=[1280, 390], ids=["desktop", "phone"])
def sized_page(request, browser):
    with csp_checked_page(browser, width=request.param) as page:
        yield page


@pytest.fixture
def alerts(make_tutor):
    now = timezone.now()
    return [
        make_alert(
            make_tutor(name), opened_at=now - timedelta(hours=hours), message=f"{name} rescheduled 4 of 9."
        )
        for hours, name in enumerate(["Ann", "Bob", "Cat"])
    ]


def card_of(page, name):
    return page.locator(".alert-card", has=page.get_by_role("link", name=name, exact=True))


def test_a_typed_and_an_added_note_survive_the_refresh(sized_page, live_server, staff_user, alerts, settings):
    settings.DASHBOARD_POLL_SECONDS = 1
    page = sized_page
    log_in(page, live_server, "/alerts/")
    assert page_width(page) <= page.viewport_size["width"]
    # compact: a closed card is its summary line (two on a phone) and the "Details" toggle
    heights = [card.bounding_box()["height"] for card in page.locator(".alert-card").all()]
    assert max(heights) < (75 if page.viewport_size["width"] > 600 else 100), heights
    queue = page.locator("#alert-queue")
    queue.evaluate("element => element.dataset.original = 'yes'")  # gone once the queue is swapped
    card = card_of(page, "Bob")
    card.locator("summary").click()
    note = card.get_by_label("Note")
    note.fill("Half a thought")
    note.blur()  # no focus, but the open details still hold the typed text
    page.wait_for_timeout(2500)  # two polls skipped
    expect(queue).to_have_attribute("data-original", "yes")
    expect(note).to_have_value("Half a thought")

    note.fill("Called Bob, agreed a calendar check-in")
    card.get_by_role("button", name="Add note").click()
    expect(card.get_by_text("Called Bob, agreed a calendar check-in")).to_be_visible()  # on the card, open
    page.wait_for_timeout(1500)
    expect(queue).to_have_attribute("data-original", "yes")  # still open: still paused

    card.locator("summary").click()  # closed, and the focus out of the queue: the poll swaps it
    page.get_by_role("heading", name="Alert queue").click()
    expect(queue).not_to_have_attribute("data-original", "yes")
    card = card_of(page, "Bob")
    card.locator("summary").click()
    expect(card.get_by_text("Called Bob, agreed a calendar check-in")).to_be_visible()


def test_the_queue_refresh_updates_as_of(sized_page, live_server, staff_user, alerts, settings):
    settings.DASHBOARD_POLL_SECONDS = 1
    page = sized_page
    log_in(page, live_server, "/alerts/")
    read_at = page.locator("#as-of time")
    first = read_at.get_attribute("datetime")
    page.get_by_role("heading", name="Alert queue").click()  # the focus out of the queue: it polls
    expect(read_at).not_to_have_attribute("datetime", first, timeout=5000)
    expect(page.locator("#as-of")).to_have_count(1)  # swapped in place, not added


def test_bulk_resolve_the_selected_alerts(sized_page, live_server, staff_user, alerts):
    page = sized_page
    log_in(page, live_server, "/alerts/")
    page.get_by_label("Select the reschedule rate alert of Ann").check()
    page.get_by_label("Select the reschedule rate alert of Cat").check()
    page.locator("#bulk-form").get_by_label("Outcome").select_option(label="Not a problem")
    page.locator("#bulk-form").get_by_role("button", name="Resolve").click()
    expect(page.locator(".messages")).to_contain_text("2 alerts resolved.")
    expect(page.locator("#alert-queue-count")).to_have_text("1 alert to handle")
    expect(card_of(page, "Bob")).to_be_visible()
    resolved = Alert.objects.filter(status="resolved").order_by("tutor__name")
    assert [(alert.tutor.name, alert.resolution) for alert in resolved] == [
        ("Ann", "not_a_problem"),
        ("Cat", "not_a_problem"),
    ]


def test_snooze_an_alert_and_find_it_under_snoozed(sized_page, live_server, staff_user, alerts):
    page = sized_page
    log_in(page, live_server, "/alerts/")
    until = timezone.now().date() + timedelta(days=3)
    card = card_of(page, "Cat")
    card.locator("summary").click()
    card.get_by_label("Snooze until").fill(until.isoformat())
    card.get_by_role("button", name="Snooze").click()
    expect(card.locator(".badge-status-snoozed")).to_have_text(f"Snoozed until {until:%b %-d}")
    expect(page.locator("#alert-queue-count")).to_have_text("2 alerts to handle")

    page.get_by_label("Status").select_option("snoozed")
    expect(page).to_have_url(f"{live_server.url}/alerts/?sort=newest&kind=&status=snoozed&assignee=&age=")
    expect(page.locator(".alert-card")).to_have_count(1)
    expect(card_of(page, "Cat")).to_be_visible()


def test_the_coaching_panel_and_the_tutor_block(
    sized_page, live_server, staff_user, make_tutor, make_session
):
    now = timezone.now()
    tutor = make_tutor("Coached")
    alert = make_alert(tutor, opened_at=now - timedelta(days=41))
    alerts_module.acknowledge(alert, user=staff_user, now=now - timedelta(days=40))
    for index in range(10):  # before: 4 of 10 rescheduled; after: 1 of 8
        make_session(
            tutor, at=now - timedelta(days=65 - index), status="rescheduled" if index < 4 else "completed"
        )
    for index in range(8):
        make_session(
            tutor, at=now - timedelta(days=39 - index), status="rescheduled" if index < 1 else "completed"
        )
    page = sized_page
    log_in(page, live_server, "/alerts/")
    page.get_by_role("link", name="Did coaching work?").click()
    expect(page.locator(".coaching-summary")).to_contain_text(
        "Reschedule rate: 1 of 1 tutor improved, median -27.5 points."
    )
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("40.0%")
    expect(row).to_contain_text("12.5%")
    expect(row).to_contain_text("Improved")
    assert page_width(page) <= page.viewport_size["width"]
    row.get_by_role("link", name="Coached").click()
    block = page.locator("section", has=page.get_by_role("heading", name="After coaching"))
    expect(block).to_contain_text("-27.5 points")
    assert page_width(page) <= page.viewport_size["width"]
