"""Every API endpoint and dashboard page reads a bounded number of ROWS, whatever the data size.

Statement counts (`django_assert_max_num_queries`) do not see a query that loads a whole table:
`(queryset or Tutor.objects)` ran one statement too, and fetched every tutor with its score on
each detail request. Here every row the database hands to Python (ORM or raw cursor) is counted,
and each request must fetch no more rows with twice as many other tutors (each with sessions, a
score, an alert, score history and a mail) than with the smaller data set.
"""

import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db.backends.utils import CursorWrapper

from reports.models import EmailReport
from scoring.history import snapshot_scores
from scoring.models import ScoringSettings
from tutorscore.testing import (
    FLAGGED_SCORE,
    NOW,
    make_alert,
    make_score,
    make_session,
    make_tutor,
    session_payload,
)

SMALL, LARGE = 60, 120  # other tutors; both above every page size (25 and 50)
POSTER_ID = uuid.UUID("22222222-2222-4222-8222-222222222222")


class RowCounter:
    def __init__(self):
        self.rows = 0


@contextmanager
def rows_fetched(monkeypatch):
    """Count the rows fetched through any Django cursor (fetchone/fetchmany/fetchall/iteration)."""
    counter = RowCounter()

    def counting(name, count):
        def method(self, *args, **kwargs):
            result = getattr(self.cursor, name)(*args, **kwargs)
            counter.rows += count(result)
            return result

        return method

    def iterate(self):
        for row in self.cursor:
            counter.rows += 1
            yield row

    with monkeypatch.context() as patch:
        patch.setattr(
            CursorWrapper, "fetchone", counting("fetchone", lambda row: row is not None), raising=False
        )
        patch.setattr(CursorWrapper, "fetchmany", counting("fetchmany", len), raising=False)
        patch.setattr(CursorWrapper, "fetchall", counting("fetchall", len), raising=False)
        patch.setattr(CursorWrapper, "__iter__", iterate)
        yield counter


def add_other_tutors(count, start):
    for number in range(start, start + count):
        tutor = make_tutor(f"Other {number:03d}", email=f"other{number}@example.com")
        session = make_session(tutor, days_ago=2, student_id=f"student-{number}")
        make_session(tutor, days_ago=5, status="rescheduled", student_id=f"student-{number}")
        make_score(tutor, **FLAGGED_SCORE)
        alert = make_alert(tutor, hours_ago=number % 48)
        EmailReport.objects.create(
            kind=EmailReport.Kind.ALERT,
            event_key=f"alert:{alert.pk}",
            tutor=tutor,
            session=session,
            alert=alert,
            recipient_email="lead@example.com",
        )
    snapshot_scores(now=NOW - timedelta(days=1))


@pytest.fixture
def target(db):
    ScoringSettings.load()  # created by the first page otherwise: one row more in one request only
    tutor = make_tutor("Target Tutor", email="target@example.com")
    for days_ago in range(1, 30, 3):
        make_session(tutor, days_ago=days_ago, student_id=f"s-{days_ago % 4}")
    make_session(tutor, days_ago=4, status="rescheduled", reason="Scheduling conflict")
    make_score(tutor, **FLAGGED_SCORE)
    make_alert(tutor, hours_ago=3)
    make_tutor("Poster Tutor", id=POSTER_ID)
    return tutor


def new_session(days_ago=2):
    # Posted for a tutor of their own, each with a new student, so the pages of `target` and the
    # pairs the ingest reads stay the same from one measurement to the next.
    return session_payload(tutor_id=POSTER_ID, student_id=f"new-{uuid.uuid4().hex[:8]}", days_ago=days_ago)


def api_requests(target):
    def post_one(client, key):
        return client.post(
            "/api/sessions",
            new_session(),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    def post_bulk(client, key):
        sessions = [new_session(days_ago) for days_ago in (1, 2, 3)]
        return client.post(
            "/api/sessions/bulk",
            {"sessions": sessions},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    def get(path):
        return lambda client, key: client.get(path, HTTP_X_API_KEY=key)

    return {
        "GET /api/tutors": get("/api/tutors"),
        "GET /api/tutors?search=": get("/api/tutors?search=Other&sort=name&page=2&page_size=20"),
        "GET /api/tutors/{id}": get(f"/api/tutors/{target.pk}"),
        "GET /api/tutors/{unknown id}": get(f"/api/tutors/{uuid.uuid4()}"),
        "GET /api/tutors/{id}/history": get(f"/api/tutors/{target.pk}/history"),
        "POST /api/sessions": post_one,
        "POST /api/sessions/bulk": post_bulk,
        "GET /healthz": get("/healthz"),
    }


def page_requests(target):
    # Not here: the tutor CSV export, which lists every tutor by design.
    pages = [
        "/",
        "/tutors/",
        "/tutors/?page=2&sort=name&order=asc",
        "/tutors/?q=Other&risk=high&window=7",
        f"/tutors/{target.pk}/",
        "/alerts/",
        "/alerts/?page=2",
        "/reports/",
        "/reports/preview/session_report/",
        "/reports/preview/alert/",
        "/reports/preview/digest/",
    ]
    return {f"page {path}": (lambda client, key, path=path: client.get(path)) for path in pages}


def measure(requests, client, key, monkeypatch):
    rows = {}
    for name, send in requests.items():
        cache.clear()  # a cached figure must not hide a query that grows with the data
        with rows_fetched(monkeypatch) as counter:
            response = send(client, key)
        assert response.status_code in (200, 202, 404), (name, response.status_code)
        rows[name] = counter.rows
    return rows


def test_rows_fetched_do_not_grow_with_the_data(target, staff_client, monkeypatch):
    from sessions.models import ApiKey

    _, key = ApiKey.create_key("platform")
    requests = {**api_requests(target), **page_requests(target)}
    add_other_tutors(SMALL, start=0)
    small = measure(requests, staff_client, key, monkeypatch)
    add_other_tutors(LARGE - SMALL, start=SMALL)
    large = measure(requests, staff_client, key, monkeypatch)

    grew = {name: (small[name], large[name]) for name in requests if large[name] > small[name]}
    assert not grew, f"rows fetched grew with the data ({SMALL} → {LARGE} other tutors): {grew}"


def test_the_counter_sees_a_whole_table_load(target, monkeypatch):
    """The guard itself: `(queryset or …)` on a QuerySet fetches every row, and is counted."""
    from sessions.models import Tutor

    add_other_tutors(5, start=0)
    queryset = Tutor.objects.select_related("score")
    with rows_fetched(monkeypatch) as counter:
        (queryset or Tutor.objects).filter(pk=target.pk).first()
    assert counter.rows == Tutor.objects.count() + 1  # every tutor, then the one asked for
