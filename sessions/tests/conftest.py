"""API test helpers: a key, a client that posts JSON with it, and payload builders."""

import json

import pytest


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
