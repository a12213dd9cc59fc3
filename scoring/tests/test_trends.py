"""Issue 14: lists say which flag fired and why; trends over time from the daily snapshots."""


import pytest
from django.core.cache import cache
from django.utils import timezone

from scoring.models import evidence_chips, kind_why
from tutorscore.testing import NOW, make_alert, make_score

pytestmark = pytest.mark.django_db

FLAGGED_RESCHEDULES = {"state": "flagged", "window_days": 7, "events": 3, "total": 8, "strength": 60.0}
WATCHED_NO_SHOWS = {"state": "watching", "window_days": 30, "events": 2, "total": 16, "strength": 9.0}
CLEAR_FIRST = {"state": "clear", "window_days": 90, "events": 0, "total": 4, "strength": 0.0}


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    cache.clear()  # the overview's weekly trend is cached


@pytest.fixture
def flagged(make_tutor):
    tutor = make_tutor("Ann Able", "ann@example.com")
    make_score(
        tutor,
        level="high",
        risk_score="70",
        evidence={
            "no_show_rate": WATCHED_NO_SHOWS,
            "reschedule_rate": FLAGGED_RESCHEDULES,
            "first_session": CLEAR_FIRST,
        },
    )
    return tutor


# --- Lists say why ----------------------------------------------------------------------------


def test_chips_name_the_kinds_over_threshold_flags_first():
    evidence = {
        "no_show_rate": WATCHED_NO_SHOWS,
        "reschedule_rate": FLAGGED_RESCHEDULES,
        "first_session": CLEAR_FIRST,
    }
    assert evidence_chips(evidence) == [
        ("reschedule_rate", "Reschedules", "flagged"),
        ("no_show_rate", "No-shows", "watching"),
    ]
    assert evidence_chips({}) == evidence_chips(None) == []


def test_kind_why_says_the_evidence_of_one_kind():
    evidence = {"no_show_rate": WATCHED_NO_SHOWS, "first_session": {**CLEAR_FIRST, "total": 0}}
    assert kind_why(evidence, "no_show_rate") == "2 of 16 missed, 30 d"
    assert kind_why(evidence, "reschedule_rate") == ""  # no verdict of that kind
    assert kind_why(evidence, "first_session") == ""  # no data: nothing to say
    assert kind_why(None, "no_show_rate") == ""


def test_tutor_list_and_overview_rows_name_the_flag_and_its_evidence(staff_client, flagged):
    for url in ("/tutors/", "/"):
        page = staff_client.get(url).content.decode()
        assert '<span class="chip chip-flagged"' in page and ">Reschedules<" in page, url
        assert "No-shows" in page and "chip-watching" in page, url
        assert "3 of 8 rescheduled, 7 d" in page, url
        assert "First sessions" not in page, url  # clear: no chip


def test_recent_alerts_name_the_kind_and_the_tutors_evidence_for_it(staff_client, flagged, make_tutor):
    make_alert(flagged, kind="no_show_rate")
    make_alert(make_tutor("Cy New"), kind="first_session")  # unscored tutor: no evidence to show
    with_alerts = staff_client.get("/").content.decode()
    feed = with_alerts.split('class="alert-feed"')[1].split("</ul>")[0]
    assert 'No-shows</span> <span class="why">2 of 16 missed, 30 d</span>' in feed
    assert "First sessions</span>\n" in feed
