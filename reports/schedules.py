"""The reports app's django-q2 schedules, upserted by name by `manage.py setup_schedules`.

The daily digest runs at ScoringSettings.digest_time (UTC); when the settings change, a post_save
receiver (reports/receivers.py) moves the schedule's next run.
"""

from collections.abc import Sequence

from django.utils import timezone
from django_q.models import Schedule

from . import mail


def schedules(*, now=None):
    from scoring.models import ScoringSettings

    now = now or timezone.now()
    return [
        {
            "name": mail.DIGEST_SCHEDULE_NAME,
            "func": "reports.tasks.send_daily_digest",
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
            "next_run": mail.next_digest_run(ScoringSettings.load().digest_time, now=now),
        }
    ]


class _CurrentSchedules(Sequence):
    """Read from the database when setup_schedules iterates it, never at import time."""

    def __getitem__(self, index):
        return schedules()[index]

    def __len__(self):
        return len(schedules())

    def __iter__(self):
        return iter(schedules())


SCHEDULES = _CurrentSchedules()
