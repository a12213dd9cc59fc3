"""Read endpoints of the platform API: /api/tutors, /api/tutors/{id}, /api/tutors/{id}/history."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from scoring.api import weekly_trend
from scoring.models import Alert
from sessions.models import ApiKey
from tutorscore.testing import day, make_score

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(db):
    return ApiKey.create_key("platform")[1]


@pytest.fixture
def get(client, key):
    def get(path, **params):
        return client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {key}")

    return get


@pytest.fixture
def tutors(make_tutor, now):
    """Three scored tutors and one not yet scored."""
    high = make_tutor(name="Hana High", email="hana@example.com")
    make_score(
        high,
        now=now,
        level="high",
        risk_score="82.50",
        reschedule_rate_30d=Decimal("25.00"),
        total_sessions_30d=20,
        tutor_reschedules_30d=5,
        reschedule_flag=True,
        is_high_risk=True,
        reasons=["Rescheduled 5 of 20 sessions in the last 30 days (25.0%, threshold 15%)"],
        recommendations=["Schedule a calendar-planning check-in"],
    )
    medium = make_tutor(name="Mo Medium", email="mo@example.com")
    make_score(medium, now=now, level="medium", risk_score="40", reschedule_rate_30d=Decimal("12.00"))
    low = make_tutor(name="Lu Low", is_active=False)
    make_score(low, now=now, risk_score="5", total_sessions_30d=40)
    unscored = make_tutor(name="Nu New")
    return high, medium, low, unscored


def names(response):
    return [row["name"] for row in response.json()["results"]]


def test_list_sorted_by_risk_score_by_default(get, tutors):
    response = get("/api/tutors")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert (body["next"], body["previous"]) == (None, None)
    assert names(response) == ["Hana High", "Mo Medium", "Lu Low", "Nu New"]  # unscored last
    first = body["results"][0]
    assert first["risk_level"] == "high"
    assert first["risk_score"] == 82.5
    assert first["reschedule_rate_30d"] == 25.0
    assert first["url"] == f"http://testserver/api/tutors/{tutors[0].pk}"
    assert body["results"][3]["risk_level"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"risk_level": "high"}, ["Hana High"]),
        ({"is_active": "false"}, ["Lu Low"]),
        ({"search": "mo@"}, ["Mo Medium"]),
        ({"search": "lu"}, ["Lu Low"]),
        ({"sort": "name"}, ["Hana High", "Lu Low", "Mo Medium", "Nu New"]),
        ({"sort": "-name"}, ["Nu New", "Mo Medium", "Lu Low", "Hana High"]),
        ({"sort": "-reschedule_rate_30d"}, ["Hana High", "Mo Medium", "Lu Low", "Nu New"]),
        ({"sort": "reschedule_rate_30d"}, ["Mo Medium", "Hana High", "Lu Low", "Nu New"]),
        ({"sort": "-total_sessions_30d"}, ["Lu Low", "Hana High", "Mo Medium", "Nu New"]),
        ({"sort": "risk_score"}, ["Lu Low", "Mo Medium", "Hana High", "Nu New"]),
    ],
)
def test_list_filters_and_sorts(get, tutors, params, expected):
    assert names(get("/api/tutors", **params)) == expected


def test_list_paginates(get, tutors):
    body = get("/api/tutors", page_size=3, sort="name").json()
    assert [row["name"] for row in body["results"]] == ["Hana High", "Lu Low", "Mo Medium"]
    assert body["next"] == "http://testserver/api/tutors?page_size=3&sort=name&page=2"
    second = get("/api/tutors", page_size=3, sort="name", page=2).json()
    assert [row["name"] for row in second["results"]] == ["Nu New"]
    assert second["next"] is None
    assert second["previous"] == "http://testserver/api/tutors?page_size=3&sort=name&page=1"


@pytest.mark.parametrize("page", [3, 9223372036854775807, 10**30])
def test_a_page_past_the_last_is_404(get, tutors, page):
    response = get("/api/tutors", page_size=3, page=page)
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": f"No page {page}: the last page is 2.",
        "details": {},
    }


def test_the_first_page_of_nothing_is_empty_not_404(get, db):
    assert get("/api/tutors", search="nobody").json()["results"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": 201},
        {"page": 0},
        {"page": "x"},
        {"sort": "email"},
        {"risk_level": "extreme"},
        {"search": "ha\x00"},  # PostgreSQL refuses NUL in a query
        {"search": "x" * 201},
    ],
)
def test_list_rejects_bad_parameters(get, tutors, params):
    response = get("/api/tutors", **params)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert list(response.json()["details"]) == list(params)


def test_list_query_count(get, tutors, django_assert_max_num_queries):
    get("/api/tutors")  # the key's last_used_at is written once a minute: not in the count below
    with django_assert_max_num_queries(3):  # key, count, page
        assert get("/api/tutors", page_size=200).status_code == 200


def test_read_endpoints_need_a_key(client, tutors):
    for path in ["/api/tutors", f"/api/tutors/{tutors[0].pk}", f"/api/tutors/{tutors[0].pk}/history"]:
        response = client.get(path)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"


def test_read_endpoints_refuse_post(client, key, tutors):
    response = client.post("/api/tutors", HTTP_X_API_KEY=key)
    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_detail(get, tutors, now):
    high = tutors[0]
    Alert.objects.create(tutor=high, kind="reschedule_rate", message="Rate 25%", opened_at=now)
    response = get(f"/api/tutors/{high.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Hana High"
    score = body["score"]
    assert score["risk_level"] == "high"
    assert score["flags"] == {"reschedule_rate": True, "no_show_rate": False, "first_session": False}
    assert score["windows"]["30d"] == {"total_sessions": 20, "tutor_reschedules": 5, "reschedule_rate": 25.0}
    assert score["windows"]["7d"]["reschedule_rate"] is None
    assert score["reasons"] == ["Rescheduled 5 of 20 sessions in the last 30 days (25.0%, threshold 15%)"]
    assert score["recommendations"] == ["Schedule a calendar-planning check-in"]
    assert score["thresholds"] == {
        "reschedule_rate": 15.0,
        "no_show_rate": 10.0,
        "first_session_retention": 60.0,
        "minimum_sessions": 5,
        "flag_evidence_ratio": 40.0,
    }
    assert [alert["kind"] for alert in body["open_alerts"]] == ["reschedule_rate"]
    assert body["open_alerts"][0]["snoozed_until"] is None


def test_detail_says_until_when_an_open_alert_is_snoozed(get, make_tutor, now):
    tutor = make_tutor()
    until = now + timedelta(days=3)
    Alert.objects.create(
        tutor=tutor, kind="no_show_rate", message="No-shows", opened_at=now, snoozed_until=until
    )
    [alert] = get(f"/api/tutors/{tutor.pk}").json()["open_alerts"]
    assert (alert["status"], alert["snoozed_until"]) == ("open", until.isoformat())


def test_detail_of_unscored_tutor(get, tutors):
    body = get(f"/api/tutors/{tutors[3].pk}").json()
    assert body["score"] is None


def test_unknown_tutor_is_404(get):
    for path in [f"/api/tutors/{uuid.uuid4()}", f"/api/tutors/{uuid.uuid4()}/history"]:
        response = get(path)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_history(get, make_tutor, make_session, now, django_assert_max_num_queries, monkeypatch):
    monkeypatch.setattr("scoring.api.timezone.now", lambda: now)
    tutor = make_tutor()
    make_session(tutor, days_ago=1, status="rescheduled", reason="Car broke down", hours_before=3)
    make_session(tutor, days_ago=2)
    make_session(tutor, days_ago=9, status="rescheduled", initiator="student")
    make_session(tutor, days_ago=9, status="no_show")
    make_session(tutor, days_ago=200)  # outside the 12 weeks
    make_session(tutor, at=now + timedelta(days=1), status="scheduled")  # not held yet
    get(f"/api/tutors/{tutor.pk}/history")

    with django_assert_max_num_queries(5):
        response = get(f"/api/tutors/{tutor.pk}/history")

    body = response.json()
    assert [r["reason_code"] for r in body["recent_reschedules"]] == ["personal", "other"]
    latest = body["recent_reschedules"][0]
    assert (latest["hours_before_session"], latest["is_last_minute"], latest["initiator"]) == (
        3.0,
        True,
        "tutor",
    )
    trend = body["weekly_trend"]
    assert len(trend) == 12
    # NOW is a Wednesday: this week began on Monday, 2 days before; 1 and 2 days ago are in it.
    assert trend[-1] == {
        "week_start": day(2),
        "sessions": 2,
        "tutor_reschedules": 1,
        "reschedule_rate": 50.0,
        "tutor_no_shows": 0,
    }
    assert trend[-2] == {
        "week_start": day(9),
        "sessions": 2,
        "tutor_reschedules": 0,
        "reschedule_rate": 0.0,
        "tutor_no_shows": 1,
    }
    assert trend[0]["week_start"] == day(79)
    assert sum(week["sessions"] for week in trend) == 4


def test_weekly_trend_with_injected_time(make_tutor, make_session, now):
    tutor = make_tutor()
    for days_ago in (1, 3, 4):
        make_session(tutor, days_ago=days_ago, status="rescheduled")
    trend = weekly_trend(tutor.pk, now=now, weeks=2)
    assert trend == [
        {
            "week_start": day(9),
            "sessions": 2,
            "tutor_reschedules": 2,
            "reschedule_rate": 100.0,
            "tutor_no_shows": 0,
        },
        {
            "week_start": day(2),
            "sessions": 1,
            "tutor_reschedules": 1,
            "reschedule_rate": 100.0,
            "tutor_no_shows": 0,
        },
    ]


def test_detail_shows_the_state_and_the_evidence_behind_each_flag(get, make_tutor, make_session, now):
    from scoring import engine

    tutor = make_tutor("Eve Evidence")
    for status in ["completed"] * 6 + ["rescheduled"] * 4:
        make_session(tutor, days_ago=1, status=status)
    engine.score_tutor(tutor, now=now)

    body = get(f"/api/tutors/{tutor.pk}").json()
    score = body["score"]
    assert (score["state"], score["is_watching"], score["flags"]["reschedule_rate"]) == (
        "flagged",
        False,
        True,
    )
    assert score["evidence"]["reschedule_rate"] == {
        "state": "flagged",
        "window_days": 30,  # the 7-day window holds the same 4 of 10, but needs 30/7 × 40 : 1
        "events": 4,
        "total": 10,
        "evidence_ratio": 48.08,
        "strength": 52.5,
        "held": False,
    }
    assert score["evidence"]["no_show_rate"]["state"] == "clear"
    assert score["evidence"]["first_session"]["state"] == "no data"
    listed = get("/api/tutors").json()["results"][0]
    assert (listed["state"], listed["why"]) == ("flagged", "4 of 10 rescheduled, 30 d")
