"""Response headers every dynamic page and API answer gets (static files answer before this)."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class PrivateResponseMiddleware:
    """Permissions-Policy, and no caching anywhere of what Django renders.

    Every dynamic response here is either behind a login, behind an API key, or a form with a
    CSRF token; none is worth a stale copy in a shared cache or the browser's back-forward cache
    on a shared computer. A view that sets its own Cache-Control keeps it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:

        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        if "Cache-Control" not in response.headers:
            add_never_cache_headers(response)
        return response
