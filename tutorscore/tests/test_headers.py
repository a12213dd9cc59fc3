"""Secure-by-default response headers: CSP, Permissions-Policy, and no caching of private pages."""

import pytest
from django.urls import reverse

from sessions.models import ApiKey
from tutorscore.testing import TUTOR_ID

pytestmark = pytest.mark.django_db

NO_STORE = "no-store"


@pytest.fixture
def api_headers(db):
    return {"HTTP_AUTHORIZATION": f"Bearer {ApiKey.create_key('platform')[1]}"}


def directives(response):
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split("; ")}


@pytest.mark.parametrize(
    "url", ["/", "/tutors/", "/alerts/", "/reports/", "/reports/preview/digest/", "/admin/"]
)
def test_logged_in_pages_carry_the_policy_and_are_never_stored(staff_client, url):
    response = staff_client.get(url, follow=False)
    assert response.status_code == 200
    assert NO_STORE in response["Cache-Control"]
    assert "camera=()" in response["Permissions-Policy"]
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_only_the_mail_preview_allows_inline_styles(staff_client):
    assert "'unsafe-inline'" not in directives(staff_client.get("/"))["style-src"]
    assert "'unsafe-inline'" in directives(staff_client.get("/reports/preview/digest/"))["style-src"]


def test_pages_have_no_inline_script_or_style_attribute(staff_client, make_tutor):
    tutor = make_tutor()
    for url in ["/", "/tutors/", reverse("scoring:tutor_detail", args=[tutor.pk]), "/alerts/", "/reports/"]:
        html = staff_client.get(url).text
        assert "<script>" not in html and "<script " not in html.replace("<script src=", ""), url
        assert " style=" not in html, url
        assert "hx-on" not in html, url


@pytest.mark.parametrize("path", ["/api/tutors", f"/api/tutors/{TUTOR_ID}", "/api/nope"])
def test_api_answers_are_never_stored(client, api_headers, path):
    response = client.get(path, **api_headers)
    assert NO_STORE in response["Cache-Control"]


def test_the_login_page_is_not_stored_either(client):
    assert NO_STORE in client.get("/accounts/login/")["Cache-Control"]


def test_static_files_stay_cacheable(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert NO_STORE not in response.get("Cache-Control", "")
