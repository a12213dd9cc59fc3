"""django-q2 tasks of the scoring app. Small, look rows up by id, safe to run twice.

Retries: django-q2 only re-delivers tasks that were never acknowledged, so a scoring task that
fails schedules its own retry: a ONCE Schedule with a doubling delay, at most MAX_ATTEMPTS runs.
Nothing is lost beyond that either: the 5-minute sweep rescores every stale tutor.
"""

import logging
import uuid
from datetime import timedelta

from django.db.models import F, Q
from django.utils import timezone
from django_q.models import Schedule

from sessions.models import Session, Tutor

from . import engine, history
from .models import TutorScore
from .signals import session_scored

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_BASE_DELAY = timedelta(seconds=30)  # 30 s, 1 min, 2 min, 4 min
STALE_FULL_RECOMPUTE = 5000


def retry_delay(attempt):
    """Delay before run `attempt + 1` after run `attempt` failed: 30 s × 2^(attempt − 1)."""
    return RETRY_BASE_DELAY * 2 ** (attempt - 1)


def schedule_retry(func, args, *, attempt, now=None):
    """Schedule run `attempt + 1` of task `func` (dotted path); None once MAX_ATTEMPTS is reached."""
    if attempt >= MAX_ATTEMPTS:
        logger.error("%s failed %d times, giving up (the stale sweep will catch up): %r", func, attempt, args)
        return None
    now = now or timezone.now()
    return Schedule.objects.create(
        name=f"retry {func.rsplit('.', 1)[-1]} #{attempt + 1} {uuid.uuid4().hex[:12]}",
        func=func,
        args=repr(tuple(args)),
        kwargs=repr({"attempt": attempt + 1}),
        schedule_type=Schedule.ONCE,
        repeats=-1,  # django-q2 deletes a ONCE schedule with negative repeats after it runs
        next_run=now + retry_delay(attempt),
    )


STALE = Q(score__isnull=True) | Q(sessions_version__gt=F("score__sessions_version"))
# Under a burst, one processing task also rescores every OTHER tutor that went stale within this
# window (found through the sessions_changed_at index), so the tasks queued behind it find their
# tutors fresh and finish in two cheap queries. Older staleness is the 5-minute sweep's job.
COALESCE_WINDOW = timedelta(minutes=30)
COALESCE_LIMIT = 2000  # after a bulk load: leave the rest to the sweep's full recompute


def stale_tutor_ids(tutor_ids=None):
    """Tutors without a score, or whose sessions changed since the version their score saw."""
    tutors = Tutor.objects.filter(STALE).order_by()
    if tutor_ids is not None:
        tutors = tutors.filter(pk__in=list(tutor_ids))
    return list(tutors.values_list("id", flat=True))


def recently_stale_tutor_ids(*, now=None):
    """Tutors that went stale within COALESCE_WINDOW (at most COALESCE_LIMIT, oldest change
    first), read through the sessions_changed_at index."""
    now = now or timezone.now()
    return list(
        Tutor.objects.filter(STALE, sessions_changed_at__gte=now - COALESCE_WINDOW)
        .order_by("sessions_changed_at")
        .values_list("id", flat=True)[:COALESCE_LIMIT]
    )


def _is_stale(tutor, score):
    # The STALE rule, in Python, for tutors and scores already loaded.
    return score is None or tutor.sessions_version > score.sessions_version


def process_sessions(session_ids, *, attempt=1):
    """After ingest: rescore the stale tutors of these sessions, together with every other tutor
    that went stale recently (coalesced, set-based), then send `session_scored` once per session.
    Running it twice rescores nothing the second time. Under a burst the tasks behind the first
    one find their tutors already fresh: two queries, then the signals."""
    session_ids = [str(session_id) for session_id in session_ids]
    try:
        sessions = list(Session.objects.filter(pk__in=session_ids).select_related("tutor__score"))
        tutors = {session.tutor_id: session.tutor for session in sessions}
        # A tutor never scored has no `score`: the reverse accessor raises an AttributeError.
        scores = {tutor_id: getattr(tutor, "score", None) for tutor_id, tutor in tutors.items()}
        stale = {tutor_id for tutor_id, tutor in tutors.items() if _is_stale(tutor, scores[tutor_id])}
        stale = sorted(stale.union(recently_stale_tutor_ids()) if tutors else stale)
        if stale:
            engine.recompute_all(tutor_ids=stale, newer_only=True)
            scores = {score.tutor_id: score for score in TutorScore.objects.filter(tutor_id__in=list(tutors))}
    except Exception:
        schedule_retry("scoring.tasks.process_sessions", [session_ids], attempt=attempt)
        raise
    logger.info("process_sessions: %d sessions, %d tutors rescored", len(sessions), len(stale))
    for session in sessions:
        score = scores.get(session.tutor_id)
        if score is None:  # the tutor was deleted meanwhile
            continue
        score.tutor = session.tutor
        # With the ingest and mail lines, this follows one session from the API to its mails.
        logger.info(
            "session scored session_id=%s tutor_id=%s risk_level=%s risk_score=%s",
            session.pk,
            session.tutor_id,
            score.risk_level,
            score.risk_score,
        )
        for receiver, result in session_scored.send_robust(sender=Session, session=session, score=score):
            if isinstance(result, Exception):
                logger.error(
                    "session_scored receiver %r failed for session %s: %r", receiver, session.pk, result
                )
    return len(stale)


def rescore_stale(*, attempt=1):
    """The 5-minute sweep: rescore every tutor whose sessions changed since its score."""
    try:
        stale = stale_tutor_ids()
        # After a bulk load most tutors are stale: one full recompute is cheaper than a long id list.
        scored = engine.recompute_all(tutor_ids=None if len(stale) > STALE_FULL_RECOMPUTE else stale)
    except Exception:
        schedule_retry("scoring.tasks.rescore_stale", [], attempt=attempt)
        raise
    if scored:
        logger.info("rescore_stale: %d tutors rescored", scored)
    return scored


def recompute_all_task(*, attempt=1):
    """Hourly (and after a settings change): rescore every tutor, since windows slide with time."""
    try:
        return engine.recompute_all()
    except Exception:
        schedule_retry("scoring.tasks.recompute_all_task", [], attempt=attempt)
        raise


def snapshot_history(*, attempt=1):
    """Nightly: refresh every score, then write today's history snapshot."""
    try:
        now = timezone.now()
        engine.recompute_all(now=now)
        return history.snapshot_scores(now=now)
    except Exception:
        schedule_retry("scoring.tasks.snapshot_history", [], attempt=attempt)
        raise
