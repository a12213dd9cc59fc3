"""Errors are JSON under /api/ (404, 405, 403 CSRF, 500) and HTML pages elsewhere."""

import json
import uuid

import pytest
from django.test import Client

from sessions.models import ApiKey
from tutorscore import errors

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_headers(db):
    return {"HTTP_AUTHORIZATION": f"Bearer {ApiKey.create_key('platform')[1]}"}


def assert_json_error(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["error"] == code
    assert body["message"]


@pytest.mark.parametrize(
    "path", ["/api/nope", "/api/", "/api/tutors/", "/api/tutors/not-a-uuid", "/api/sessions/x/y"]
)
def test_unknown_api_paths_are_json_404(client, api_headers, path):
    assert_json_error(client.get(path, **api_headers), 404, "not_found")
    assert_json_error(
        client.post(path, "{}", content_type="application/json", **api_headers), 404, "not_found"
    )


def test_unknown_tutor_is_json_404(client, api_headers):
    assert_json_error(client.get(f"/api/tutors/{uuid.uuid4()}", **api_headers), 404, "not_found")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_wrong_method_on_a_read_endpoint_is_json_405(client, api_headers, method):
    response = getattr(client, method)("/api/tutors", **api_headers)
    assert_json_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET"


def test_upper_case_tutor_ids_are_the_same_tutor(client, api_headers, make_tutor):
    tutor = make_tutor()
    upper = str(tutor.pk).upper()
    for path in (f"/api/tutors/{upper}", f"/api/tutors/{upper}/history"):
        response = client.get(path, **api_headers)
        assert response.status_code == 200, path
    assert client.get(f"/api/tutors/{upper}", **api_headers).json()["id"] == str(tutor.pk)


def test_csrf_failure_under_api_is_json(rf):
    response = errors.csrf_failure(rf.post("/api/sessions"), reason="CSRF cookie not set.")
    assert_json_error(response, 403, "csrf_failed")


def test_csrf_failure_elsewhere_is_the_html_page(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post("/accounts/logout/")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


def test_a_crash_under_api_is_json_500(api_headers, make_tutor, monkeypatch):
    make_tutor()

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("scoring.api.tutor_summary", crash)
    client = Client(raise_request_exception=False)
    assert_json_error(client.get("/api/tutors", **api_headers), 500, "server_error")


def test_a_crash_elsewhere_is_the_html_500_page_styled_through_the_csp(staff_user, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("scoring.selectors.overview_stats", crash)
    client = Client(raise_request_exception=False)
    client.force_login(staff_user)
    response = client.get("/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">' in response.text


def test_html_404_outside_api(staff_client):
    response = staff_client.get("/no-such-page/")
    assert response.status_code == 404
    assert "We couldn" in response.text
