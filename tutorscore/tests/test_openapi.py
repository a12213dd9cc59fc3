"""docs/openapi.yaml against the real API, through schemathesis and the WSGI app.

The document's response objects are read closed (`additionalProperties: false` wherever an object
lists its properties), so a field added to a response without the document changing fails here.
Two tests: every documented endpoint answering from seeded data (success and error bodies), and
schemathesis' generated requests (valid and invalid) against every operation.
"""

import copy
import uuid
from pathlib import Path

import pytest
import schemathesis
import yaml
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sessions.models import ApiKey
from tutorscore.testing import (
    FLAGGED_SCORE,
    make_alert,
    make_score,
    make_session,
    make_tutor,
    session_payload,
)
from tutorscore.wsgi import application

pytestmark = pytest.mark.django_db

DOCUMENT = Path(settings.BASE_DIR) / "docs" / "openapi.yaml"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def closed(document):
    """The document with every object schema reachable from a response closed to unlisted fields.

    Request schemas stay as written: closing them would only narrow what schemathesis generates.
    """
    document = copy.deepcopy(document)
    seen = set()

    def close(node):
        if isinstance(node, list):
            for item in node:
                close(item)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if ref and ref not in seen:
            seen.add(ref)
            target = document
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            close(target)
        if "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            close(value)

    for path_item in document["paths"].values():
        for operation in path_item.values():
            close(operation["responses"])
    return document


SCHEMA = schemathesis.openapi.from_dict(closed(yaml.safe_load(DOCUMENT.read_text())))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """As Django's test client does: a request must not close the connection holding the test's
    transaction (on PostgreSQL close_old_connections would)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def auth(db):
    return {"Authorization": f"Bearer {ApiKey.create_key('platform')[1]}"}


def call(method, path, *, headers=None, **kwargs):
    """One request through the WSGI app, checked against the document."""
    case = SCHEMA[path][method].Case(headers=headers, **kwargs)
    response = case.call(app=application)
    case.validate_response(response, checks=CHECKS)
    return response


def test_every_operation_is_exercised_below():
    documented = {(operation.method.upper(), operation.path) for operation in OPERATIONS}
    assert documented == {(method, path) for method, path, *_ in SEEDED_CALLS}


TUTOR = "/api/tutors/{tutor_id}"
HISTORY = "/api/tutors/{tutor_id}/history"
UNKNOWN = str(uuid.UUID(int=7))
# (method, path, path parameters, query, body, expected status); "flagged" stands for the seeded tutor.
SEEDED_CALLS = [
    ("POST", "/api/sessions", None, None, session_payload("completed"), 202),
    ("POST", "/api/sessions", None, None, session_payload("rescheduled", reschedule_info=None), 422),
    ("POST", "/api/sessions/bulk", None, None, {"sessions": [session_payload("no_show")]}, 202),
    ("POST", "/api/sessions/bulk", None, None, {"sessions": []}, 422),
    ("GET", "/api/tutors", None, None, None, 200),
    ("GET", "/api/tutors", None, {"page": 2, "page_size": 1, "sort": "name"}, None, 200),
    ("GET", "/api/tutors", None, {"page": 99}, None, 404),
    ("GET", "/api/tutors", None, {"risk_level": "severe"}, None, 422),
    ("GET", TUTOR, {"tutor_id": "flagged"}, None, None, 200),
    ("GET", TUTOR, {"tutor_id": "unscored"}, None, None, 200),
    ("GET", TUTOR, {"tutor_id": UNKNOWN}, None, None, 404),
    ("GET", HISTORY, {"tutor_id": "flagged"}, {"limit": 5}, None, 200),
    ("GET", HISTORY, {"tutor_id": UNKNOWN}, None, None, 404),
    ("GET", HISTORY, {"tutor_id": "flagged"}, {"limit": 0}, None, 422),
    ("GET", "/healthz", None, None, None, 200),
]


def test_seeded_responses_match_the_document(auth):
    flagged = make_tutor(name="Hana High", email="hana@example.com")
    make_score(flagged, **FLAGGED_SCORE)
    make_alert(flagged, hours_ago=3)
    make_session(flagged, status="rescheduled", reason="family emergency")
    make_session(flagged, status="completed", student_rating=4)
    make_session(flagged, status="no_show")
    tutors = {"flagged": str(flagged.pk), "unscored": str(make_tutor(name="Nu New").pk)}

    for method, path, path_parameters, query, body, expected in SEEDED_CALLS:
        if path_parameters:
            path_parameters = {name: tutors.get(value, value) for name, value in path_parameters.items()}
        kwargs = {"path_parameters": path_parameters, "query": query}
        if body is not None:
            kwargs.update(body=body, media_type="application/json")
        response = call(method, path, headers=auth, **kwargs)
        assert response.status_code == expected, (method, path, response.text)

    assert call("GET", "/api/tutors").status_code == 401  # no key


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_generated_requests_match_the_document(operation, auth):
    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=15,
        derandomize=True,  # the same requests on every run: CI is stable, a failure reproducible
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def check(case):
        case.headers = {**(case.headers or {}), **auth}
        case.call_and_validate(app=application, checks=CHECKS)

    check()
