"""Listen to the scoring app: a scored session writes its report rows into the outbox, in the
scoring transaction; a scored session or an opened alert then asks the mail cluster for an outbox
run, after commit. Connected in ReportsConfig.ready().

Nothing here talks to the provider or waits on it. A failure is logged and never breaks the
scoring that sent the signal; the outbox schedule sends whatever a lost request would have.
"""

import logging
import time
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from scoring.models import Alert, ScoringSettings, TutorScore
from scoring.signals import alert_opened, sessions_scored
from sessions.models import Session

from . import digest, outbox, tasks

logger = logging.getLogger(__name__)


SETTINGS_TTL_SECONDS = 5
# {"loaded_at": time.monotonic() value or None, "settings": ScoringSettings or None}
_settings_cache: dict[str, Any] = {"loaded_at": None, "settings": None}


def current_settings() -> ScoringSettings:
    """ScoringSettings, re-read at most every few seconds: sessions_scored fires after every
    scoring pass (many a second in a burst), and a settings save clears it at once here."""
    loaded_at = _settings_cache["loaded_at"]
    if loaded_at is None or time.monotonic() - loaded_at > SETTINGS_TTL_SECONDS:
        _settings_cache.update(settings=ScoringSettings.load(), loaded_at=time.monotonic())
    return _settings_cache["settings"]


@receiver(sessions_scored, dispatch_uid="reports.session_report")
def on_sessions_scored(
    sender: object, sessions: list[Session], scores: dict[UUID, TutorScore], **kwargs: object
) -> None:
    # Decided here, on the scores that cover the sessions, and written in the same transaction as
    # those scores: a report cannot be lost between the two (reports/outbox.py).
    scoring_settings = current_settings()
    wanted = [
        session
        for session in sessions
        if session.status in outbox.REPORTED_SESSION_STATUSES
        and outbox.wants_session_report(scores.get(session.tutor_id), scoring_settings=scoring_settings)
    ]
    if not wanted:
        return
    try:
        with transaction.atomic():  # a savepoint: a failure here must not abort the scoring
            queued = outbox.queue_session_reports(wanted, scores=scores, scoring_settings=scoring_settings)
    except Exception:
        logger.exception("could not queue the reports of %d sessions", len(wanted))
        return
    if queued:
        transaction.on_commit(tasks.request_flush)


@receiver(alert_opened, dispatch_uid="reports.alert_mail")
def on_alert_opened(sender: object, alert: Alert, **kwargs: object) -> None:
    # The alert row is the outbox's to-do: the run batches it with the others of its window.
    if current_settings().recipients:
        tasks.request_flush()


@receiver(post_save, sender=ScoringSettings, dispatch_uid="reports.digest_time")
def on_settings_saved(
    sender: type[ScoringSettings], instance: ScoringSettings, created: bool, **kwargs: object
) -> None:
    """The digest schedule follows ScoringSettings.digest_time (setup_schedules creates it)."""
    from django_q.models import Schedule

    _settings_cache.update(settings=None, loaded_at=None)
    Schedule.objects.filter(name=digest.DIGEST_SCHEDULE_NAME).update(
        next_run=digest.next_digest_run(instance.digest_time, now=timezone.now())
    )
