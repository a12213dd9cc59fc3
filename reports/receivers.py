"""Listen to the scoring app: a scored session or an opened alert enqueues a mail task.

Connected in ReportsConfig.ready(). The mail is built and sent in a django-q2 task, after the
data is committed; a failed enqueue is logged and never breaks the scoring that sent the signal.
"""

import logging
import time
from functools import partial

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from scoring.models import ScoringSettings
from scoring.signals import alert_opened, session_scored

from . import mail

logger = logging.getLogger(__name__)


def enqueue(func, *args):
    """async_task by dotted path; an unavailable broker is logged, never raised."""
    from django_q.tasks import async_task

    try:
        async_task(func, *args)
    except Exception:
        logger.exception("could not enqueue %s%r", func, args)


SETTINGS_TTL_SECONDS = 5
_settings_cache = {"loaded_at": None, "settings": None}


def current_settings():
    """ScoringSettings, re-read at most every few seconds: session_scored fires once per session of
    a batch (thousands in a burst), and a settings save clears it at once in this process."""
    loaded_at = _settings_cache["loaded_at"]
    if loaded_at is None or time.monotonic() - loaded_at > SETTINGS_TTL_SECONDS:
        _settings_cache.update(settings=ScoringSettings.load(), loaded_at=time.monotonic())
    return _settings_cache["settings"]


@receiver(session_scored, dispatch_uid="reports.session_report")
def on_session_scored(sender, session, score, **kwargs):
    # Checked here too (and again in the task, on fresh data): in `flagged` mode most sessions
    # need no mail, and a burst of sessions should not become a burst of no-op tasks.
    if session.status not in mail.REPORTED_SESSION_STATUSES:
        return
    if not mail.wants_session_report(score, scoring_settings=current_settings()):
        return
    transaction.on_commit(partial(enqueue, "reports.tasks.send_session_report", str(session.pk)))


@receiver(alert_opened, dispatch_uid="reports.alert_mail")
def on_alert_opened(sender, alert, **kwargs):
    if not current_settings().recipients:  # a first full recompute can open thousands at once
        return
    transaction.on_commit(partial(enqueue, "reports.tasks.send_alert_mail", str(alert.pk)))


@receiver(post_save, sender=ScoringSettings, dispatch_uid="reports.digest_time")
def on_settings_saved(sender, instance, created, **kwargs):
    """The digest schedule follows ScoringSettings.digest_time (setup_schedules creates it)."""
    from django_q.models import Schedule

    _settings_cache.update(settings=None, loaded_at=None)
    Schedule.objects.filter(name=mail.DIGEST_SCHEDULE_NAME).update(
        next_run=mail.next_digest_run(instance.digest_time, now=timezone.now())
    )
