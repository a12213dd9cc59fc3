"""Login throttling (django-axes) helpers."""

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_ip_address
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

# django-axes stores the username in a 255-character column with no check of its own, so a
# longer (or NUL-holding) one would be a database error on PostgreSQL instead of a failed login.
AXES_USERNAME_MAX_LENGTH = 255


def login_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The username failures are counted under: as axes reads it, made storable."""
    field = settings.AXES_USERNAME_FORM_FIELD  # type: ignore[misc]  # axes.conf sets its default

    source = credentials if credentials else getattr(request, "data", request.POST)
    username = source.get(field)
    if not isinstance(username, str):
        return username
    return username.replace("\x00", "")[:AXES_USERNAME_MAX_LENGTH]


class AddressAwareHandler(AxesDatabaseHandler):
    """Also locks out an address that fails LOGIN_ADDRESS_FAILURE_LIMIT logins over any usernames.

    axes has one limit for every lockout parameter; a username-and-address pair must lock after a
    few mistakes, but an address (an office behind one NAT) only after many, or a password spray
    that tries each username once would never be stopped."""

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        return super().is_locked(request, credentials) or address_is_locked(request)

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        # axes decides "locked out" (the 429 page) here, after counting this failure, by the pair's
        # count alone; the address count gets the same say.
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is not None and not request.axes_locked_out and address_is_locked(request):
            request.axes_locked_out = True
            request.axes_credentials = credentials


def address_is_locked(request: HttpRequest) -> bool:
    return address_failures(request) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT


def address_failures(request: HttpRequest) -> int:
    """Failed logins from the request's address within the cool-off, whatever the username."""
    address = get_client_ip_address(request)
    if not address:
        return 0
    recent = AccessAttempt.objects.filter(
        ip_address=address, attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME
    )
    return recent.aggregate(failures=Sum("failures_since_start"))["failures"] or 0
