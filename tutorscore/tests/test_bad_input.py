"""A corpus of malformed requests against every read-API endpoint and every dashboard page, form
and action: nothing answers 5xx and nothing is stored.

Each case sends one malformed value in one place (a query parameter, a form field, a path
segment), or the wrong method, or no CSRF token. Form fields get values that are malformed for
their kind; the other fields of the request are refused too, so any write would be a bug.
"""

import pytest
from django.test import Client

from reports.models import EmailReport
from scoring.models import Alert, AlertEvent, ScoringSettings
from sessions.models import ApiKey, Session, Tutor
from tutorscore.testing import NOW, make_alert, make_score

pytestmark = pytest.mark.django_db

HUGE_NUMBERS = ["9223372036854775807", "9223372036854775808", "-9223372036854775809", "1" + "0" * 40, "1e309"]
NULS = ["\x00", "a\x00b", "%00"]
CONTROLS = ["\x07bell", "\x1b[31mred", "line\x0bbreak", "\x7f", "a\x85b"]
ODD_UNICODE = ["\u202eevil", "\u2066isolated", "🙂", "\ufeff", "ﷺ" * 50, "Ａｄａ", "a\u0301" * 30]
WRONG_TYPES = ["", " ", "[]", "{}", "null", "true", "-1", "0", "1.5", "NaN", "0x10", "²", "٩٩٩٩", "1,2"]
OVERLONG = ["x" * 2001, "é" * 100_000]
INJECTION = ["' OR 1=1 --", "<script>alert(1)</script>", "../../etc/passwd", "javascript:alert(1)", "%", "_"]

ANYTHING = HUGE_NUMBERS + NULS + CONTROLS + ODD_UNICODE + WRONG_TYPES + OVERLONG + INJECTION
# Malformed for a free-text field (odd but valid unicode is welcome in a note, so it is left out).
TEXT_MALFORMED = NULS[:2] + CONTROLS + ["\u202eevil", "\u2066isolated"] + OVERLONG + ["y" * 1_000_000]
# Malformed for a choice of a row by id (assignee).
CHOICE_MALFORMED = HUGE_NUMBERS + NULS + WRONG_TYPES[2:] + ["🙂", "abc", "1 OR 1=1", "x" * 2001]
# Where a form may send the browser next: none of these may be followed, none may crash a header.
NEXT_MALFORMED = [
    "https://evil.example/",
    "//evil.example",
    "/ok\r\nSet-Cookie: x=1",
    "/\x00",
    "\x01/",
    "javascript:alert(1)",
    "admin:index",  # a bare word would be reversed as a URL name by redirect()
    "/" + "x" * 5000,
    *OVERLONG,
]


@pytest.fixture
def world(make_tutor, staff_user):
    """A scored tutor with an acknowledged-then-resolved and an open alert, and a sent mail."""
    ScoringSettings.load()  # created on first read, which is not a write of the request's
    tutor = make_tutor("Ada Tutor", "ada@example.com")
    make_score(tutor, level="high", risk_score="80")
    open_alert = make_alert(tutor, status="open")
    resolved_alert = make_alert(tutor, kind="no_show_rate", status="resolved")
    sent_mail = EmailReport.objects.create(
        kind="digest", event_key="digest:x", recipient_email="lead@example.com", status="sent", sent_at=NOW
    )
    return {"tutor": tutor, "open": open_alert, "resolved": resolved_alert, "sent_mail": sent_mail}


def snapshot():
    """Everything a request could write, as comparable values."""
    return {
        "tutors": list(Tutor.objects.order_by("pk").values_list("pk", "name", "email", "is_active")),
        "sessions": Session.objects.count(),
        "alerts": list(Alert.objects.order_by("pk").values_list("pk", "status", "assignee_id", "updated_at")),
        "events": AlertEvent.objects.count(),
        "mails": list(EmailReport.objects.order_by("pk").values_list("pk", "status", "attempts")),
        "settings": list(ScoringSettings.objects.values_list("updated_at", flat=True)),
        "keys": list(ApiKey.objects.values_list("pk", "revoked_at")),
    }


# --- The corpus: (id, how to send it) ---------------------------------------------------------

API_GETS = [
    ("/api/tutors", ["search", "risk_level", "is_active", "sort", "page", "page_size"]),
    ("/api/tutors/{tutor}", ["anything"]),
    ("/api/tutors/{tutor}/history", ["limit"]),
]
DASHBOARD_GETS = [
    ("/", ["page"]),
    ("/tutors/", ["q", "risk", "status", "window", "sort", "order", "page", "format"]),
    ("/tutors/{tutor}/", ["page"]),
    ("/alerts/", ["sort", "page"]),
    ("/reports/", ["kind", "status", "tutor", "page"]),
    ("/reports/preview/digest/", ["anything"]),
]
# Each action with a payload it refuses, and the malformed values of each of its fields.
ACTIONS = [
    ("/alerts/{open}/assign/", {"assignee": ""}, {"assignee": CHOICE_MALFORMED, "next": NEXT_MALFORMED}),
    ("/alerts/{resolved}/assign/", {"assignee": ""}, {"assignee": CHOICE_MALFORMED}),
    ("/alerts/{open}/note/", {"text": ""}, {"text": ["", "   ", *TEXT_MALFORMED], "next": NEXT_MALFORMED}),
    ("/alerts/{open}/resolve/", {"note": "\x00"}, {"note": TEXT_MALFORMED, "next": NEXT_MALFORMED}),
    ("/alerts/{resolved}/acknowledge/", {}, {"next": NEXT_MALFORMED, "show_tutor": ANYTHING}),
    ("/reports/{sent_mail}/resend/", {}, {"next": NEXT_MALFORMED}),  # a sent mail is not resent
    (
        "/accounts/login/",
        {"username": "coach", "password": "wrong"},
        {"username": ANYTHING, "password": ANYTHING},
    ),
    ("/admin/login/", {"username": "coach", "password": "wrong"}, {"username": ANYTHING}),
]
POST_ONLY = [
    "/alerts/{open}/acknowledge/",
    "/alerts/{open}/assign/",
    "/alerts/{open}/note/",
    "/alerts/{open}/resolve/",
    "/reports/{sent_mail}/resend/",
]
BAD_IDS = ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "%00", "1" * 500]

# Each case: (method, path, base data, field, values, api, enforce CSRF); one request per value.
CASES = []
for path, params in API_GETS + DASHBOARD_GETS:
    api = path.startswith("/api/")
    for param in params:
        CASES.append(pytest.param("get", path, {}, param, ANYTHING, api, False, id=f"GET {path} ?{param}="))
for path, refused, fields in ACTIONS:
    for field, values in fields.items():
        CASES.append(
            pytest.param("post", path, refused, field, values, False, False, id=f"POST {path} {field}=")
        )
for path in POST_ONLY:
    for method in ("get", "put", "patch", "delete", "options"):
        CASES.append(
            pytest.param(method, path, {}, None, [None], False, False, id=f"{method.upper()} {path}")
        )
    valid = {"text": "hello", "assignee": ""}
    CASES.append(pytest.param("post", path, valid, None, [None], False, True, id=f"no CSRF {path}"))
    for index, bad_id in enumerate(BAD_IDS):
        bad_path = path.replace("{open}", bad_id).replace("{sent_mail}", bad_id)
        CASES.append(
            pytest.param(
                "post", bad_path, valid, None, [None], False, False, id=f"POST {path} bad id#{index}"
            )
        )
for index, bad_id in enumerate([*BAD_IDS, "11111111-1111-4111-8111-11111111111G"]):
    CASES.append(
        pytest.param(
            "get",
            f"/api/tutors/{bad_id}",
            {},
            None,
            [None],
            True,
            False,
            id=f"GET /api/tutors/ bad id#{index}",
        )
    )
    CASES.append(
        pytest.param(
            "get", f"/tutors/{bad_id}/", {}, None, [None], False, False, id=f"GET /tutors/ bad id#{index}"
        )
    )
for path in ("/api/tutors", "/api/tutors/{tutor}", "/api/tutors/{tutor}/history"):
    for method in ("post", "put", "delete"):
        CASES.append(
            pytest.param(
                method, path, {"search": "x"}, None, [None], True, False, id=f"{method.upper()} {path}"
            )
        )


@pytest.mark.parametrize(("method", "path", "data", "field", "values", "api", "csrf"), CASES)
def test_malformed_requests_answer_4xx_or_a_page_and_store_nothing(
    world, staff_user, method, path, data, field, values, api, csrf
):
    path = path.format(**{name: row.pk for name, row in world.items()})
    client = Client(enforce_csrf_checks=csrf, raise_request_exception=False)
    headers = {}
    if api:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {ApiKey.create_key('corpus')[1]}"
    else:
        client.force_login(staff_user)
    before = snapshot()

    for value in values:
        sent = {**data, field: value} if field else data
        if method == "get":
            response = client.get(path, sent, **headers)
        elif method == "post":
            response = client.post(path, sent, **headers)
        else:
            response = getattr(client, method)(path, **headers)

        assert response.status_code < 500, (value, response.content[:300])
        if api:
            assert response["Content-Type"] == "application/json", value
        assert snapshot() == before, value
