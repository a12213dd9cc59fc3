"""The scoring app's django-q2 schedules, upserted by name by `manage.py setup_schedules`."""

from datetime import UTC, datetime, time, timedelta

from django.utils import timezone
from django_q.models import Schedule

SNAPSHOT_AT = time(23, 55)  # UTC; the day's last snapshot is that day's history row


def next_daily_run(at: time, *, now: datetime | None = None) -> datetime:
    """The next UTC datetime at time-of-day `at`, strictly after now."""
    now = (now or timezone.now()).astimezone(UTC)
    candidate = datetime.combine(now.date(), at, tzinfo=UTC)
    return candidate if candidate > now else candidate + timedelta(days=1)


def schedules() -> list[dict]:
    """This app's schedules, listed by tutorscore's setup_schedules command."""
    return [
        {
            "name": "scoring.rescore_stale",
            "func": "scoring.tasks.rescore_stale",
            "schedule_type": Schedule.MINUTES,
            "minutes": 5,
            "repeats": -1,
        },
        {
            "name": "scoring.recompute_all",
            "func": "scoring.tasks.recompute_all_task",
            "schedule_type": Schedule.HOURLY,
            "repeats": -1,
        },
        {
            "name": "scoring.snapshot_history",
            "func": "scoring.tasks.snapshot_history",
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
            "next_run": next_daily_run(SNAPSHOT_AT),
        },
    ]
