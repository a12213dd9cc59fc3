"""The reports app's django-q2 schedules, upserted by name by `manage.py setup_schedules`.

Both run on the mail queue (its own cluster). The outbox runs every minute; the daily digest at
ScoringSettings.digest_time (UTC), moved by a post_save receiver (reports/receivers.py) when the
settings change.
"""

from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule

from . import digest, outbox


def schedules(*, now: datetime | None = None) -> list[dict]:
    """This app's schedules, listed by tutorscore's setup_schedules command; the digest's next
    run is read from the settings when called."""
    from scoring.models import ScoringSettings

    now = now or timezone.now()
    return [
        {
            "name": outbox.SCHEDULE_NAME,
            "func": outbox.FLUSH_TASK,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
            "cluster": settings.MAIL_QUEUE,
        },
        {
            "name": digest.DIGEST_SCHEDULE_NAME,
            "func": "reports.tasks.send_daily_digest",
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
            "next_run": digest.next_digest_run(ScoringSettings.load().digest_time, now=now),
            "cluster": settings.MAIL_QUEUE,
        },
    ]
