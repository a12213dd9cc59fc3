"""Which posted state of a session is the newest, so a late retry never reverts a newer one.

The platform may send `updated_at`, its own modification time of the session. Between two states
that both carry one and differ, the later time wins. Otherwise (a time missing on either side, or
equal) a session that happened (completed, rescheduled, no-show) never goes back to `scheduled`,
and the last state received wins.
"""

from collections.abc import Iterable
from datetime import datetime

from .models import Session
from .schemas import SessionIn


def supersedes(
    status: str,
    updated_at: datetime | None,
    *,
    current_status: str | None,
    current_updated_at: datetime | None,
) -> bool:
    """Whether a posted state (status, platform updated_at) replaces the current one (None: none yet)."""
    if current_status is None:
        return True
    if updated_at is not None and current_updated_at is not None and updated_at != current_updated_at:
        return updated_at > current_updated_at
    return status != Session.Status.SCHEDULED or current_status == Session.Status.SCHEDULED


def latest_state(
    items: Iterable[SessionIn],
    *,
    current_status: str | None = None,
    current_updated_at: datetime | None = None,
) -> tuple[SessionIn | None, datetime | None]:
    """(the item a session ends in, the platform updated_at to keep) once these posted states of it
    (schemas.SessionIn, in request order) apply one after the other over its current state;
    the item is None when every one of them is stale."""
    latest = None
    for item in items:
        if supersedes(
            item.status, item.updated_at, current_status=current_status, current_updated_at=current_updated_at
        ):
            latest = item
            # A state without a time keeps the newest time seen, so an older post stays stale.
            current_status, current_updated_at = item.status, item.updated_at or current_updated_at
    return latest, current_updated_at
