"""The alert queue for a team: filters, bulk actions, snooze, resolution outcomes (test client)."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from scoring import alerts, selectors
from scoring.models import Alert, AlertEvent
from tutorscore.testing import NOW, make_alert, role

HTMX = {"HTTP_HX_REQUEST": "true"}


def body(response):
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def listed(html):
    """Tutor names of the queue's cards, in order."""
    return re.findall(r'<h3 id="alert-[^"]+-h"><a href="[^"]+">([^<]+)</a>', html)


@pytest.fixture
def coach2(django_user_model):
    user = django_user_model.objects.create_user("coach2", "c2@example.com", "x", is_staff=True)
    user.groups.add(role("Coach"))
    return user


@pytest.fixture
def queue(make_tutor, staff_user, coach2):
    """Four unresolved alerts of different kinds, ages, assignees and statuses, plus a resolved one."""
    return {
        "fresh": make_alert(make_tutor("Fresh"), hours_ago=2),
        "mine": make_alert(make_tutor("Mine"), kind="no_show_rate", hours_ago=30, assignee=staff_user),
        "theirs": make_alert(
            make_tutor("Theirs"),
            kind="first_session",
            status="acknowledged",
            opened_at=NOW - timedelta(days=10),
            assignee=coach2,
        ),
        "snoozed": make_alert(make_tutor("Sleepy"), hours_ago=5, snoozed_until=NOW + timedelta(days=2)),
        "done": make_alert(make_tutor("Done"), status="resolved"),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["Fresh", "Mine", "Theirs"]),
        ("?kind=no_show_rate", ["Mine"]),
        ("?status=open", ["Fresh", "Mine"]),
        ("?status=acknowledged", ["Theirs"]),
        ("?status=snoozed", ["Sleepy"]),
        ("?assignee=mine", ["Mine"]),
        ("?assignee=none", ["Fresh"]),
        ("?age=day", ["Fresh"]),
        ("?age=week", ["Fresh", "Mine"]),
        ("?age=older", ["Theirs"]),
        ("?status=open&kind=reschedule_rate&age=day&sort=severity", ["Fresh"]),
        ("?status=bogus&kind=<script>&age=1", ["Fresh", "Mine", "Theirs"]),  # unknown: any
    ],
)
def test_queue_filters(staff_client, queue, query, expected):
    assert listed(body(staff_client.get("/alerts/" + query))) == expected


def test_filter_by_a_person_and_the_filters_stay_in_the_form(staff_client, queue, coach2):
    html = body(staff_client.get(f"/alerts/?assignee={coach2.pk}&kind=first_session"))
    assert listed(html) == ["Theirs"]
    assert f'<option value="{coach2.pk}" selected>' in html
    assert '<option value="first_session" selected>' in html
    # the bulk form carries the filter for "all matching"
    assert f'<input type="hidden" name="assignee" value="{coach2.pk}">' in html


def test_queue_fragment_and_query_count_do_not_grow_with_alerts(
    staff_client, make_tutor, django_assert_max_num_queries
):
    for index in range(3):
        make_alert(make_tutor(f"T{index}"))
    with django_assert_max_num_queries(12) as few:
        body(staff_client.get("/alerts/?status=open", **HTMX))
    for index in range(3, 20):
        make_alert(make_tutor(f"T{index}"), kind="no_show_rate")
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = body(staff_client.get("/alerts/?status=open", **HTMX))
    assert html.lstrip().startswith("{#") is False and "20 alerts to handle" in html


def post_bulk(client, **data):
    return client.post(reverse("scoring:alert_bulk"), data)


def test_bulk_acknowledge_selected_skips_those_it_does_not_fit(staff_client, staff_user, queue):
    response = post_bulk(
        staff_client,
        action="acknowledge",
        scope="selected",
        alerts=[queue["fresh"].pk, queue["theirs"].pk],  # "theirs" is acknowledged already
        status="open",
    )
    assert response.status_code == 302 and response["Location"] == "/alerts/?status=open"
    page = body(staff_client.get(response["Location"]))
    assert "1 alert acknowledged." in page
    fresh = Alert.objects.get(pk=queue["fresh"].pk)
    assert (fresh.status, fresh.acknowledged_by) == ("acknowledged", staff_user)
    assert timedelta(0) <= fresh.acknowledged_at - NOW < timedelta(minutes=1)  # the clock ticks
    assert AlertEvent.objects.filter(action="acknowledged").count() == 1


def test_bulk_resolve_all_matching_the_filter_in_fixed_queries(
    staff_client, staff_user, queue, django_assert_max_num_queries
):
    with django_assert_max_num_queries(14):
        response = post_bulk(staff_client, action="resolve", scope="filtered", outcome="coached", age="week")
    assert "2 alerts resolved." in body(staff_client.get(response["Location"]))
    resolved = Alert.objects.filter(resolved_by=staff_user).order_by("tutor__name")
    assert [(alert.tutor.name, alert.resolution) for alert in resolved] == [
        ("Fresh", "coached"),
        ("Mine", "coached"),
    ]
    events = AlertEvent.objects.filter(action="resolved", actor=staff_user)
    assert sorted(events.values_list("text", flat=True)) == ["Coached.", "Coached."]
    # the snoozed one (not in the filtered view) and the others are untouched
    assert Alert.objects.get(pk=queue["snoozed"].pk).status == "open"
    assert Alert.objects.get(pk=queue["theirs"].pk).status == "acknowledged"


def test_bulk_assign_and_snooze(staff_client, coach2, queue):
    post_bulk(staff_client, action="assign", scope="filtered", assign_to=coach2.pk, assignee="none")
    assert Alert.objects.get(pk=queue["fresh"].pk).assignee == coach2
    until = (NOW + timedelta(days=3)).date()
    response = post_bulk(
        staff_client, action="snooze", scope="selected", alerts=[queue["fresh"].pk], until=until.isoformat()
    )
    assert "1 alert snoozed." in body(staff_client.get(response["Location"]))
    fresh = Alert.objects.get(pk=queue["fresh"].pk)
    assert fresh.snoozed_until.date() == until and fresh.snoozed_until.hour == 0


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"action": "acknowledge", "scope": "selected"}, "Select at least one alert first."),
        ({"action": "resolve", "scope": "filtered"}, "Choose an outcome to resolve with."),
        ({"action": "snooze", "scope": "filtered"}, "Choose a date to snooze until."),
        (
            {"action": "snooze", "scope": "filtered", "until": "2000-01-01"},
            "Snooze until a date after today.",
        ),
        ({"action": "delete", "scope": "filtered"}, "Select a valid choice."),
    ],
)
def test_bulk_refuses_incomplete_requests(staff_client, queue, data, error):
    response = post_bulk(staff_client, **data)
    assert error in body(staff_client.get(response["Location"]))
    assert AlertEvent.objects.exclude(action="opened").count() == 0


def test_bulk_is_refused_to_a_viewer_and_needs_post(client, django_user_model, queue):
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.groups.add(role("Viewer"))
    client.force_login(viewer)
    response = post_bulk(client, action="resolve", scope="filtered", outcome="coached")
    assert response.status_code == 403
    assert Alert.objects.filter(status="resolved").count() == 1
    html = body(client.get("/alerts/"))
    assert 'id="bulk-form"' not in html and 'form="bulk-form"' not in html


def test_bulk_needs_csrf(staff_user, queue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert post_bulk(client, action="acknowledge", scope="filtered").status_code == 403


def test_snooze_comes_back_by_itself_when_the_date_passes(staff_client, staff_user, make_tutor):
    alert = make_alert(make_tutor("Sleepy"))
    until = (NOW + timedelta(days=2)).date()
    html = body(
        staff_client.post(
            reverse("scoring:alert_snooze", args=[alert.pk]),
            {"until": until.isoformat(), "show_tutor": "1"},
            **HTMX,
        )
    )
    assert f"Snoozed until {until:%b %-d}" in html and "0 alerts to handle" in html
    event = alert.events.get(action="snoozed")
    assert (event.actor, event.text) == (staff_user, f"Snoozed until {until:%b %-d, %Y}.")

    alert.refresh_from_db()
    woken_at = alert.snoozed_until
    assert woken_at == datetime.combine(until, time(0), tzinfo=UTC)
    assert not selectors.queue_alerts(now=woken_at - timedelta(seconds=1)).exists()
    assert list(selectors.queue_alerts(now=woken_at - timedelta(seconds=1), status="snoozed")) == [alert]
    assert list(selectors.queue_alerts(now=woken_at)) == [alert]  # back, no job needed
    assert not selectors.queue_alerts(now=woken_at, status="snoozed").exists()


def test_the_queue_page_shows_a_snooze_back_once_the_clock_passes(staff_client, make_tutor, frozen_clock):
    make_alert(make_tutor("Sleepy"), snoozed_until=NOW + timedelta(days=1))
    assert listed(body(staff_client.get("/alerts/"))) == []
    frozen_clock.shift(timedelta(days=1, minutes=1))
    assert listed(body(staff_client.get("/alerts/"))) == ["Sleepy"]


@pytest.mark.parametrize(
    ("until", "error"),
    [
        (NOW.date(), "Snooze until a date after today."),
        ((NOW + timedelta(days=91)).date(), "Snooze for at most 90 days."),
        ("soon", "Enter a valid date."),
    ],
)
def test_snooze_refuses_bad_dates(staff_client, make_tutor, until, error):
    alert = make_alert(make_tutor())
    html = body(
        staff_client.post(reverse("scoring:alert_snooze", args=[alert.pk]), {"until": str(until)}, **HTMX)
    )
    assert error in html
    alert.refresh_from_db()
    assert alert.snoozed_until is None


def test_resolve_with_an_outcome(staff_client, staff_user, make_tutor):
    alert = make_alert(make_tutor())
    html = body(
        staff_client.post(
            reverse("scoring:alert_resolve", args=[alert.pk]),
            {"outcome": "tutor_left", "note": "Moved away"},
            **HTMX,
        )
    )
    assert "Tutor left" in html
    alert.refresh_from_db()
    assert (alert.status, alert.resolution) == ("resolved", "tutor_left")
    assert alert.events.get(action="resolved").text == "Tutor left. Moved away"
    bad = make_alert(make_tutor("Other"))
    html = body(
        staff_client.post(reverse("scoring:alert_resolve", args=[bad.pk]), {"outcome": "cleared"}, **HTMX)
    )
    assert "Select a valid choice." in html


def test_not_a_problem_counted_per_kind_over_90_days(staff_client, staff_user, make_tutor):
    for index, kind in enumerate(["reschedule_rate", "reschedule_rate", "no_show_rate"]):
        alert = make_alert(make_tutor(f"T{index}"), kind=kind)
        alerts.resolve(
            alert, user=staff_user, outcome=Alert.Resolution.NOT_A_PROBLEM, now=NOW - timedelta(days=1)
        )
    old = make_alert(make_tutor("Old"), kind="first_session")
    alerts.resolve(old, user=staff_user, outcome=Alert.Resolution.NOT_A_PROBLEM, now=NOW - timedelta(days=91))
    coached = make_alert(make_tutor("Coached"), kind="first_session")
    alerts.resolve(coached, user=staff_user, outcome=Alert.Resolution.COACHED, now=NOW)

    html = body(staff_client.get("/how-scores-work/"))
    assert '<th scope="row">Reschedule rate</th><td class="num">2</td>' in html
    assert '<th scope="row">No-show rate</th><td class="num">1</td>' in html
    assert '<th scope="row">First-session retention</th><td class="num">0</td>' in html
