"""Login throttling (django-axes) helpers."""

from django.conf import settings
from django.http import HttpRequest

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
