"""Date and time options of the management commands (`--now`, `--since`)."""

import argparse
from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def aware_datetime(option: str, value: str | None) -> datetime | None:
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


def utc_time(value: str) -> datetime:
    """argparse type: an ISO 8601 time in UTC, read as UTC when it names no offset."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
