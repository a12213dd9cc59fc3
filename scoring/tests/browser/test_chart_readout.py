"""Issue 14, item 3: the tutor's history chart tells its values on hover, on a tap and by keyboard
(static/js/chart.js), in a readout that is also an aria-live region."""

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scoring import trends
from scoring.models import TutorScoreHistory
from scoring.tests.browser.pages import csp_checked_page, log_in, page_width
from scoring.tests.browser.test_trends_and_a11y import DESKTOP, PHONE, serious_violations
from tutorscore.testing import make_score

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TODAY = {
    "risk_score": Decimal("72"),
    "reschedule_rate_30d": Decimal("20.00"),
    "total_sessions_30d": 20,
    "reschedule_rate_7d": Decimal("37.50"),
    "total_sessions_7d": 8,
}
WEEK_AGO = {
    "risk_score": Decimal("64"),
    "reschedule_rate_30d": Decimal("38.89"),
    "total_sessions_30d": 18,
    "reschedule_rate_7d": Decimal("25.00"),
    "total_sessions_7d": 4,
}


@pytest.fixture
def tutor(make_tutor):
    tutor = make_tutor("Ada Lovelace", "ada@example.com")
    make_score(tutor, level="high", **TODAY)
    TutorScoreHistory.objects.create(tutor=tutor, date=timezone.now().date() - timedelta(days=7), **WEEK_AGO)
    return tutor


def expected_lines(values):
    """The readout's lines from the test's own numbers: "30-day reschedule rate 20.00% (4 of 20 sessions)"."""
    return [
        f"{label} {trends.value_text(values[field], values[sample] if sample else None)}"
        for _, field, label, sample in trends.HISTORY_SERIES
    ]


def day_label(day):
    return f"{day:%b} {day.day}"


def assert_readout(readout, day, values):
    expect(readout.locator("strong")).to_have_text(day_label(day))
    expect(readout.locator("li")).to_have_text(expected_lines(values))


def history(page):
    chart = page.locator("#history svg.chart-lines")
    return chart, page.locator("#history .chart-readout")


def test_the_keyboard_moves_a_cursor_across_the_dates_and_the_readout_tells_the_values(
    page, live_server, staff_user, tutor
):
    log_in(page, live_server, tutor.get_absolute_url() + "?days=30")
    chart, readout = history(page)
    expect(readout).to_have_attribute("aria-live", "polite")
    page.get_by_role("button", name="Show").focus()
    page.keyboard.press("Tab")  # one tab stop for the whole chart
    expect(chart).to_be_focused()
    expect(readout).to_be_empty()

    today = timezone.now().date()
    page.keyboard.press("End")
    assert_readout(readout, today, TODAY)
    # The cursor (a zero-width line, so not "visible" to Playwright) stands on the last date.
    expect(chart).to_have_class(re.compile(r"\bcursor-on\b"))
    last_x = float(chart.get_attribute("data-x").split()[-1])
    assert float(chart.locator(".cursor").get_attribute("x1")) == last_x

    dates = json.loads(chart.get_attribute("data-dates"))
    week_ago = today - timedelta(days=7)
    for _ in range(len(dates) - 1 - dates.index(day_label(week_ago))):
        page.keyboard.press("ArrowLeft")
    assert_readout(readout, week_ago, WEEK_AGO)
    page.keyboard.press("ArrowRight")  # a day without a snapshot
    no_data = [f"{label}: no data" for *_, label, _ in trends.HISTORY_SERIES]
    expect(readout.locator("li")).to_have_text(no_data)
    page.keyboard.press("Home")
    expect(readout.locator("strong")).to_have_text(dates[0])
    expect(chart).to_be_focused()

    page.keyboard.press("Escape")
    expect(readout).to_be_empty()
    expect(chart).not_to_have_class(re.compile(r"\bcursor-on\b"))
    page.keyboard.press("Tab")  # the table under the chart is the next tab stop: none per point
    expect(page.locator("#history summary")).to_be_focused()


def test_hovering_the_chart_shows_the_readout_of_the_nearest_date(page, live_server, staff_user, tutor):
    log_in(page, live_server, tutor.get_absolute_url() + "?days=30")
    chart, readout = history(page)
    week_ago = timezone.now().date() - timedelta(days=7)
    index = json.loads(chart.get_attribute("data-dates")).index(day_label(week_ago))
    chart.locator(f'.series-risk circle[data-i="{index}"]').hover()
    assert_readout(readout, week_ago, WEEK_AGO)
    page.mouse.move(5, 5)  # leaving the chart hides it
    expect(readout).to_be_empty()


def test_a_tap_on_a_phone_shows_the_readout_and_focuses_the_chart(browser, live_server, staff_user, tutor):
    with csp_checked_page(browser, width=PHONE["width"], has_touch=True, is_mobile=True) as page:
        log_in(page, live_server, tutor.get_absolute_url() + "?days=30")
        chart, readout = history(page)
        dates = json.loads(chart.get_attribute("data-dates"))
        chart.locator(f'.series-risk circle[data-i="{len(dates) - 1}"]').tap()
        assert_readout(readout, timezone.now().date(), TODAY)
        expect(chart).to_be_focused()
        assert page_width(page) <= PHONE["width"]
        box, chart_box = readout.bounding_box(), chart.bounding_box()
        assert box["y"] >= chart_box["y"] + chart_box["height"] - 1  # under the chart, not over it


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_nothing_serious_with_the_readout_shown(browser, live_server, staff_user, tutor, viewport):
    with csp_checked_page(browser, bypass_csp=True, **viewport) as page:  # axe is injected inline
        log_in(page, live_server, tutor.get_absolute_url())
        history(page)[0].focus()
        page.keyboard.press("End")
        expect(history(page)[1].locator("li").first).to_be_visible()
        assert serious_violations(page) == []


def test_the_overview_waits_with_its_refresh_while_its_chart_shows_a_readout(
    page, live_server, staff_user, tutor, make_session, settings
):
    settings.DASHBOARD_POLL_SECONDS = 1
    make_session(tutor, days_ago=3)
    log_in(page, live_server, "/")
    panels = page.locator("#overview-panels")
    panels.evaluate("element => element.dataset.original = 'yes'")  # gone once the panels are swapped
    chart = panels.locator("svg.chart-lines")
    chart.focus()
    page.keyboard.press("End")
    expect(panels.locator(".chart-readout strong")).to_have_text(
        json.loads(chart.get_attribute("data-dates"))[-1]
    )
    page.wait_for_timeout(2500)  # two polls skipped
    expect(panels).to_have_attribute("data-original", "yes")
    expect(chart).to_be_focused()

    page.keyboard.press("Escape")
    expect(panels).not_to_have_attribute("data-original", "yes")
    expect(page.locator("#overview-panels svg.chart-lines")).to_have_attribute(
        "tabindex", "0"
    )  # set up again
