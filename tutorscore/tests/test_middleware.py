"""Back-pressure: a database or broker that is down is a 503 with Retry-After, never a 500."""

import json

import pytest
import redis
from django.db import InterfaceError, OperationalError

from tutorscore.testing import session_payload


@pytest.fixture
def failing(monkeypatch):
    """Make the ingest (API) and the overview (dashboard) raise `error`."""

    def fail_with(error):
        def raise_error(*args, **kwargs):
            raise error

        monkeypatch.setattr("sessions.api.ingest_sessions", raise_error)
        monkeypatch.setattr("tutorscore.lib.views.render", raise_error)  # the overview renders through it

    return fail_with


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
        redis.ConnectionError("Connection refused"),
        redis.TimeoutError("Timeout reading from socket"),
    ],
    ids=["db-operational", "db-interface", "redis-connection", "redis-timeout"],
)
def test_the_api_answers_503_json_with_retry_after(client, failing, error, db):
    from sessions.models import ApiKey

    key = ApiKey.create_key("platform")[1]
    failing(error)
    response = client.post(
        "/api/sessions", json.dumps(session_payload()), content_type="application/json", HTTP_X_API_KEY=key
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json() == {
        "error": "service_unavailable",
        "message": "The service is briefly unavailable; nothing was stored. Retry later.",
        "details": {},
    }


def test_a_page_answers_a_plain_503_page(staff_client, failing, settings):
    settings.UNAVAILABLE_RETRY_AFTER_SECONDS = 30
    failing(OperationalError("the database system is starting up"))
    response = staff_client.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"].startswith("text/html")
    assert b"briefly unavailable" in response.content


def test_other_errors_are_left_alone(client, db, monkeypatch):
    from sessions.models import ApiKey

    key = ApiKey.create_key("platform")[1]

    def bug(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr("sessions.api.ingest_sessions", bug)
    with pytest.raises(ValueError):
        client.post(
            "/api/sessions",
            json.dumps(session_payload()),
            content_type="application/json",
            HTTP_X_API_KEY=key,
        )
