"""Back-pressure: when the database or the broker is unavailable, answer 503 with Retry-After
(JSON under /api/, a plain page elsewhere) instead of a 500 or a hung request, so the platform
and browsers retry later and nothing is half-stored (issue 15 item 6)."""

import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

UNAVAILABLE_ERRORS = (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError)


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """The 503 answer for `request`: the API's JSON error shape, or the plain 503 page."""
    retry_after = str(settings.UNAVAILABLE_RETRY_AFTER_SECONDS)
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {
                "error": "service_unavailable",
                "message": "The service is briefly unavailable; nothing was stored. Retry later.",
                "details": {},
            },
            status=503,
        )
    else:
        # Rendered without a request context: the failing database must not be asked for the user.
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = retry_after
    return response


class ServiceUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:

        if not isinstance(exception, UNAVAILABLE_ERRORS):
            return None
        logger.error(
            "503 for %s %s: %s: %s", request.method, request.path, type(exception).__name__, exception
        )
        return service_unavailable(request)
