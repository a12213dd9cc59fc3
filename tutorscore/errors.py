"""Error pages: JSON under /api/ (the platform reads every answer as JSON), HTML elsewhere.

Wired as the URLconf's handler400/403/404/500 and as CSRF_FAILURE_VIEW.
"""

from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.views import defaults
from django.views.csrf import csrf_failure as html_csrf_failure

from sessions.api import error_response

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response(400, "bad_request", "The request could not be read.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response(403, "forbidden", "You may not do this.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response(404, "not_found", f"Nothing at {request.path}; see the API reference.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return error_response(500, "server_error", "Something went wrong on our side; it has been logged.")
    # Rendered without context processors or static files (they may be what failed); the nonce
    # lets its one inline style through the Content-Security-Policy.
    nonce = getattr(request, "csp_nonce", None)  # lazy: reading it puts it in the header
    html = loader.get_template("500.html").render({"csp_nonce": "" if nonce is None else str(nonce)})
    return HttpResponse(html, status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if _is_api(request):
        return error_response(
            403, "csrf_failed", "This endpoint authenticates with an API key; send no session cookie."
        )
    return html_csrf_failure(request, reason)
