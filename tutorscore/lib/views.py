"""The dashboard's view kit, shared by every app: staff-only access, role checks, and pages that
answer an htmx request with only the fragment it swaps."""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render, resolve_url
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

View = Callable[..., HttpResponseBase]  # a page, a redirect or a streamed CSV


class StaffRequest(HttpRequest):
    """For type checking only: the request a staff_required view gets, from a logged-in user,
    with the details django-htmx's middleware sets."""

    user: User
    htmx: HtmxDetails


def staff_required(view: View) -> View:
    """Anonymous → login page; logged in without staff rights → 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.htmx:  # a polled fragment after the session expired: reload the whole page,
                # and come back to the page the user was on, filters included (not the fragment URL).
                next_url = request.htmx.current_url_abs_path or request.get_full_path()
                return HttpResponseClientRedirect(
                    f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_url})}"
                )
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def permission_required(permission: str, what: str) -> Callable[[View], View]:
    """staff_required, then the role's `permission` (see README "Roles"), else a 403 saying what."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            require_permission(request, permission, what)
            return view(request, *args, **kwargs)

        return staff_required(wrapper)

    return decorator


def require_permission(request: HttpRequest, permission: str, what: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"Your role does not allow you to {what}. Ask an administrator for it.")


def wants_fragment(request: HttpRequest) -> bool:
    """An htmx swap, which needs only the fragment; a boost or a history restore (back button
    with an empty htmx cache) needs the whole page."""
    htmx = request.htmx  # type: ignore[attr-defined]  # set by django_htmx's middleware
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(
    request: HttpRequest, page_template: str | None, fragment_template: str, context: dict
) -> HttpResponse:
    """The page, or only its fragment for an htmx swap; `fragment` in the context says which."""
    fragment = wants_fragment(request)
    response = render(
        request,
        fragment_template if fragment or page_template is None else page_template,
        {**context, "fragment": fragment},
    )
    # The same URL answers with a page or a fragment: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response
