"""Page input parsed by scoring.forms: bad input gives a clear error, or the default, and stores nothing."""

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.http import QueryDict

from scoring.forms import ACTION_FORMS, BulkActionForm, TutorListForm
from scoring.models import Alert, AlertEvent
from tutorscore.testing import NOW, make_alert

pytestmark = pytest.mark.django_db

DEFAULT_STATE = {"q": "", "risk": "", "status": "", "window": 30, "sort": "risk", "order": ""}


def tutor_list_state(query: str) -> dict:
    return TutorListForm(QueryDict(query)).state()


def test_the_tutor_list_state_defaults_and_keeps_valid_values():
    assert tutor_list_state("") == DEFAULT_STATE
    assert tutor_list_state("q=+Ann+&risk=none&status=active&window=7&sort=name&order=asc") == {
        "q": "Ann",
        "risk": "none",
        "status": "active",
        "window": 7,
        "sort": "name",
        "order": "asc",
    }


@pytest.mark.parametrize(
    "query",
    [
        "risk=evil",
        "risk=HIGH",
        "status=retired",
        "window=13",
        "window=seven",
        "window=7.0",
        "sort=bogus",
        "sort=score__risk_score",
        "order=up",
        "risk=high&risk=evil",  # the last value of a repeated key, as QueryDict.get reads it
    ],
)
def test_an_unknown_tutor_list_value_means_its_default(query):
    name = query.split("=")[0]
    assert tutor_list_state(query)[name] == DEFAULT_STATE[name]


def test_the_tutor_list_search_drops_control_characters_and_is_cut_to_100():
    assert tutor_list_state("q=%00Ann%07+Able%0A")["q"] == "Ann Able"
    assert tutor_list_state("q=" + "x" * 5000)["q"] == "x" * 100


def test_the_tutor_list_filters_are_the_selector_arguments():
    form = TutorListForm(QueryDict("q=ann&risk=high&status=inactive&window=90&sort=rate&order=asc"))
    assert form.selector_filters() == {
        "search": "ann",
        "risk": "high",
        "window": 90,
        "sort": "rate",
        "order": "asc",
        "active": False,
    }


def events(alert: Alert) -> list[str]:
    return list(alert.events.values_list("action", flat=True))


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("assign", {}, "Choose a staff member to assign."),  # unassigning an unassigned alert
        ("assign", {"assignee": str(uuid.uuid4())}, "Choose a staff member to assign."),
        ("note", {}, "Write a note first."),
        ("note", {"text": " \n "}, "Write a note first."),
        (
            "resolve",
            {"outcome": "deleted"},
            "Select a valid choice. deleted is not one of the available choices.",
        ),
        ("snooze", {}, "Choose a date to snooze until."),
        ("snooze", {"until": "tomorrow"}, "Enter a valid date."),
        ("snooze", {"until": "2026-02-30"}, "Enter a valid date."),
    ],
)
def test_an_action_form_refuses_bad_input_with_a_clear_message(make_tutor, staff_user, action, data, message):
    alert = make_alert(make_tutor())
    form = ACTION_FORMS[action](data, alert=alert, now=NOW)
    with pytest.raises(ValidationError) as refused:
        form.act(user=staff_user)
    assert message in refused.value.messages
    alert.refresh_from_db()
    assert (alert.status, alert.assignee, alert.snoozed_until) == ("open", None, None)
    assert events(alert) == ["opened"]


def test_an_action_refused_by_the_alert_stores_nothing(make_tutor, staff_user):
    alert = make_alert(make_tutor(), status="resolved")
    with pytest.raises(ValidationError) as refused:
        ACTION_FORMS["acknowledge"]({}, alert=alert, now=NOW).act(user=staff_user)
    assert refused.value.messages == ["Only an open alert can be acknowledged."]
    assert events(alert) == ["opened"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "This field is required."),
        ({"action": "acknowledge", "scope": "everything"}, "Select a valid choice."),
        (
            {"action": "acknowledge", "scope": "selected", "alerts": ["not-an-id"]},
            "“not-an-id” is not a valid",
        ),
        (
            {"action": "acknowledge", "scope": "selected", "alerts": [str(uuid.uuid4())]},
            "Select a valid choice.",
        ),
        ({"action": "assign", "scope": "filtered", "assign_to": "999999"}, "Select a valid choice."),
        ({"action": "resolve", "scope": "filtered", "outcome": "deleted"}, "Select a valid choice."),
        ({"action": "snooze", "scope": "filtered", "until": "soon"}, "Enter a valid date."),
        (
            {"action": "snooze", "scope": "filtered", "until": str((NOW + timedelta(days=200)).date())},
            "Snooze for at most 90 days.",
        ),
    ],
)
def test_the_bulk_form_refuses_bad_input_with_a_clear_message(make_tutor, data, message):
    make_alert(make_tutor())
    form = BulkActionForm(data, now=NOW)
    assert not form.is_valid()
    assert any(message in text for text in form.error_messages()), form.error_messages()


def test_a_refused_bulk_request_stores_nothing(staff_client, make_tutor):
    alert = make_alert(make_tutor())
    until = (NOW + timedelta(days=120)).date()
    response = staff_client.post(
        "/alerts/bulk/", {"action": "snooze", "scope": "selected", "alerts": [alert.pk], "until": until}
    )
    assert response.status_code == 302
    assert "Snooze for at most 90 days." in staff_client.get(response["Location"]).content.decode()
    alert.refresh_from_db()
    assert alert.snoozed_until is None
    assert AlertEvent.objects.count() == 1  # the opening
