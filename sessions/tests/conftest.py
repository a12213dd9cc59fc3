"""API test helpers: a key, a client that posts JSON with it, and payload builders."""

import json
import uuid
from datetime import timedelta

import pytest

from conftest import NOW

TUTOR_ID = uuid.UUID("11111111-1111-4111-8111-111111111111")


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def session_payload(status="completed", *, session_id=None, tutor_id=TUTOR_ID, days_ago=2, now=NOW, **extra):
    """A valid payload in the original contract (plus whatever `extra` overrides)."""
    scheduled_time = now - timedelta(days=days_ago)
    payload = {
        "session_id": str(session_id or uuid.uuid4()),
        "tutor_id": str(tutor_id),
        "student_id": "student-42",
        "scheduled_time": iso(scheduled_time),
        "status": status,
        "duration_minutes": 60,
    }
    if status == "completed":
        payload["completed_time"] = iso(scheduled_time + timedelta(minutes=60))
    if status == "rescheduled":
        payload["reschedule_info"] = {
            "initiator": "tutor",
            "reason": "Family emergency",
            "original_time": iso(scheduled_time),
            "new_time": iso(scheduled_time + timedelta(days=1)),
            "cancelled_at": iso(scheduled_time - timedelta(hours=6)),
        }
    payload.update(extra)
    return payload


@pytest.fixture
def api_key(db):
    from sessions.models import ApiKey

    _, raw_key = ApiKey.create_key("platform")
    return raw_key


class ApiClient:
    def __init__(self, client, key):
        self.client, self.key = client, key

    def post(self, path, payload, *, raw=None, **headers):
        body = raw if raw is not None else json.dumps(payload)
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.key}")
        return self.client.post(path, body, content_type="application/json", **headers)

    def get(self, path, **params):
        return self.client.get(path, params, HTTP_X_API_KEY=self.key)


@pytest.fixture
def api(client, api_key):
    return ApiClient(client, api_key)
