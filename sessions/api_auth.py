"""API key authentication for the platform: `Authorization: Bearer <key>` or `X-API-Key: <key>`."""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from .models import ApiKey, hash_api_key
from .sql import fetch

# last_used_at is for humans ("is this key still in use?"): refresh it at most once a minute,
# so a busy key costs one UPDATE a minute rather than one per request.
LAST_USED_PRECISION = timedelta(minutes=1)


class AuthenticationFailed(Exception):
    pass


def key_from_request(request):
    """The raw key sent with the request, or None."""
    authorization = request.headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("X-API-Key", "").strip() or None


def authenticate(request, *, now=None):
    """The ApiKey the request authenticates with; raises AuthenticationFailed with the reason."""
    raw_key = key_from_request(request)
    if raw_key is None:
        raise AuthenticationFailed("Send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.")
    # Hand-written: building the ORM lookup cost more than running it, on every API request.
    fields = ApiKey._meta.concrete_fields
    rows = fetch(
        f"SELECT {', '.join(field.column for field in fields)} FROM api_keys WHERE key_hash = %s",
        [hash_api_key(raw_key)],
        fields,
    )
    if not rows:
        raise AuthenticationFailed("Invalid API key.")
    api_key = ApiKey.from_db(connection.alias, [field.attname for field in fields], rows[0])
    if api_key.revoked_at is not None:
        raise AuthenticationFailed("This API key has been revoked.")
    touch(api_key, now=now or timezone.now())
    return api_key


def touch(api_key, *, now):
    """Record use of the key, at most once per LAST_USED_PRECISION (one UPDATE, no save())."""
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
