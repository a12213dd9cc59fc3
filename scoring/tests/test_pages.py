"""Dashboard pages as a coaching lead uses them: card links, list filters, icons, queue counter."""

import csv
import io
import re

import pytest
from django.core.cache import cache
from django.utils import timezone

from conftest import NOW
from scoring.tests.dashboard_factories import make_score


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    cache.clear()  # the overview's weekly trend is cached


def body(response):
    return b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()


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
    from scoring.tests.dashboard_factories import make_alert

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
