"""The platform's JSON API: session ingest (SPEC §7).

Every answer is JSON. Errors are `{"error": code, "message": text, "details": {field: [messages]}}`
with 400 (malformed JSON), 401 (API key), 404, 405, 413 (body too large) or 422 (validation).
"""

import functools
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, IntegrityError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError

from .api_auth import AuthenticationFailed, authenticate
from .ingest import IngestError, ingest_sessions
from .schemas import BulkIn, SessionIn, error_details, is_unparseable

logger = logging.getLogger(__name__)


def error_response(status, code, message, details=None, **kwargs):
    return JsonResponse(
        {"error": code, "message": message, "details": details or {}}, status=status, **kwargs
    )


def api_endpoint(*methods):
    """Make a view a key-authenticated JSON endpoint: 405 → 401 → 413 checks, JSON errors.

    The platform authenticates with its key, not a cookie, so CSRF does not apply.
    """

    def decorator(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = error_response(
                    405, "method_not_allowed", f"Use {' or '.join(methods)} on this endpoint."
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                request.api_key = authenticate(request)
            except AuthenticationFailed as exc:
                response = error_response(401, "unauthorized", str(exc))
                response["WWW-Authenticate"] = "Bearer"
                return response
            if request.method == "POST":
                too_large = _body_too_large(request)
                if too_large:
                    return too_large
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _body_too_large(request):
    """A 413 response when the body exceeds API_MAX_BODY_BYTES (checked before reading it)."""
    limit = settings.API_MAX_BODY_BYTES
    message = f"The request body must not exceed {limit} bytes."
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return error_response(400, "bad_request", "Invalid Content-Length header.")
    if declared > limit:
        return error_response(413, "payload_too_large", message)
    try:
        body = request.body  # Django also refuses bodies above DATA_UPLOAD_MAX_MEMORY_SIZE
    except RequestDataTooBig:
        return error_response(413, "payload_too_large", message)
    if len(body) > limit:
        return error_response(413, "payload_too_large", message)
    return None


def _parse(schema, body, *, now):
    """(payload, None) or (None, error response) for a JSON body."""
    try:
        return schema.model_validate_json(body, context={"now": now}), None
    except ValidationError as exc:
        if is_unparseable(exc):
            return None, error_response(400, "invalid_json", "The request body must be a JSON object.")
        return None, error_response(
            422, "validation_error", "The session data is invalid.", error_details(exc)
        )


def _store(items, *, now, prefix=None):
    """(IngestResult, None) or (None, error response)."""
    try:
        return ingest_sessions(items, now=now, prefix=prefix), None
    except IngestError as exc:
        return None, error_response(422, "validation_error", "The session data is invalid.", exc.details)
    except (IntegrityError, DataError):
        # Validation mirrors every database constraint, so this is a bug or a lost race twice in
        # a row; answer without storing anything (the transaction rolled back) and log it.
        logger.exception("ingest rejected by the database")
        return None, error_response(
            422, "conflict", "The session conflicts with stored data; nothing was stored."
        )


@api_endpoint("POST")
def sessions_endpoint(request):
    """POST /api/sessions: store (or update) one session; 202 once it is committed."""
    now = timezone.now()
    payload, error = _parse(SessionIn, request.body, now=now)
    if error:
        return error
    result, error = _store([payload], now=now)
    if error:
        return error
    # One session: exactly one of these counts is 1.
    outcome = next(name for name in ("created", "updated", "unchanged", "stale") if getattr(result, name))
    return JsonResponse(
        {
            "session_id": str(payload.session_id),
            "status": "accepted",
            "outcome": outcome,
        },
        status=202,
    )


@api_endpoint("POST")
def sessions_bulk_endpoint(request):
    """POST /api/sessions/bulk: up to 1,000 sessions, all or nothing."""
    now = timezone.now()
    payload, error = _parse(BulkIn, request.body, now=now)
    if error:
        return error
    result, error = _store(payload.sessions, now=now, prefix=lambda index: f"sessions[{index}].")
    if error:
        return error
    return JsonResponse(
        {
            "status": "accepted",
            "count": len(payload.sessions),
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "stale": result.stale,
            "session_ids": result.session_ids,
        },
        status=202,
    )
