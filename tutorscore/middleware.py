"""Request and response plumbing every dynamic page and API answer goes through."""

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


class TrustedProxyMiddleware:
    """Behind TRUSTED_PROXY_COUNT reverse proxies, the client's address is the one the outermost
    of them saw: that many entries from the right of X-Forwarded-For.

    Only entries added by our own proxies can be trusted (a client can send any header), so the
    count is a deployment fact, 0 (use the connection's address) unless set. Login throttling by
    address (django-axes) depends on it: behind a proxy, every client shares the proxy's address.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.hops = settings.TRUSTED_PROXY_COUNT

    def __call__(self, request):
        if self.hops:
            forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
            forwarded = [part for part in forwarded if part]
            if len(forwarded) >= self.hops:
                request.META["REMOTE_ADDR"] = forwarded[-self.hops]
        return self.get_response(request)
