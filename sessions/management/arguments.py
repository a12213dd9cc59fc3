"""Option parsing shared by the management commands."""

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def aware_datetime(option, value):
    """The ISO 8601 datetime `value` of `option`, which must name its timezone; no value is None.

    Parsed in handle() rather than as an argparse type, so call_command(since="…") is checked too.
    """
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        raise CommandError(f"{option} {value!r} is not an ISO 8601 datetime.")
    if timezone.is_naive(moment):
        raise CommandError(f"{option} needs a timezone, e.g. 2026-01-15T14:00:00Z.")
    return moment
