"""Retry with exponential backoff: one attempt limit and one delay rule for every task."""

from datetime import timedelta

MAX_ATTEMPTS = 5  # runs of one task (or sends of one mail) before giving up


def retry_delay(attempt: int, *, base: timedelta, factor: int = 2) -> timedelta:
    """Delay before run `attempt + 1` after run `attempt` failed: base × factor^(attempt − 1)."""
    return base * factor ** (attempt - 1)
