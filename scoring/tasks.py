"""django-q2 tasks of the scoring app. Small, look rows up by id, safe to run twice.

Retries: django-q2 only re-delivers tasks that were never acknowledged, so a scoring task that
fails schedules its own retry: a ONCE Schedule with a doubling delay, at most MAX_ATTEMPTS runs.
Nothing is lost beyond that either: the 5-minute sweep rescores every stale tutor.
"""

import logging
import time
import uuid
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime, timedelta
from itertools import chain, islice

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.models import Schedule

from sessions.models import Session, Tutor
from tutorscore.coalesce import release_coalesced
from tutorscore.lib.locks import one_at_a_time
from tutorscore.lib.retry import MAX_ATTEMPTS, retry_delay

from . import engine, history
from .models import TutorScore
from .signals import sessions_scored

logger = logging.getLogger(__name__)

RETRY_BASE_DELAY = timedelta(seconds=30)  # 30 s, 1 min, 2 min, 4 min
STALE_FULL_RECOMPUTE = 5000
PROCESS_TASK = "scoring.tasks.process_sessions"


def schedule_retry(
    func: str, args: Iterable[object], *, attempt: int, now: datetime | None = None
) -> Schedule | None:
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
        next_run=now + retry_delay(attempt, base=RETRY_BASE_DELAY),
    )


STALE = Q(score__isnull=True) | Q(sessions_version__gt=F("score__sessions_version"))
# Under a burst, one processing task also rescores every OTHER tutor that went stale within this
# window (found through the sessions_changed_at index), so the tasks queued behind it find their
# tutors fresh and finish in two cheap queries. Older staleness is the 5-minute sweep's job.
COALESCE_WINDOW = timedelta(minutes=30)
COALESCE_LIMIT = 2000  # after a bulk load: leave the rest to the sweep's full recompute


def stale_tutor_ids(tutor_ids: Iterable[uuid.UUID] | None = None) -> list[uuid.UUID]:
    """Tutors without a score, or whose sessions changed since the version their score saw."""
    tutors = Tutor.objects.filter(STALE).order_by()
    if tutor_ids is not None:
        tutors = tutors.filter(pk__in=list(tutor_ids))
    return list(tutors.values_list("id", flat=True))


def recently_stale_tutor_ids(*, now: datetime | None = None) -> list[uuid.UUID]:
    """Tutors that went stale within COALESCE_WINDOW (at most COALESCE_LIMIT, oldest change
    first), read through the sessions_changed_at index."""
    now = now or timezone.now()
    return list(
        Tutor.objects.filter(STALE, sessions_changed_at__gte=now - COALESCE_WINDOW)
        .order_by("sessions_changed_at")
        .values_list("id", flat=True)[:COALESCE_LIMIT]
    )


# A change is stamped (updated_at) when its ingest starts and commits a moment later; a scoring
# that started in between did not see it, yet its last_calculated_at is later than the stamp. So
# the sessions changed up to this long before the previous calculation count as news again: an
# ingest request never takes this long. Announcing one twice is harmless (the mail side keeps one
# report per session, status and recipient), only a little work.
ANNOUNCE_OVERLAP = timedelta(seconds=10)


ANNOUNCE_CHUNK = 2000  # sessions per signal: after an outage or a bulk load there can be many


def newly_covered_sessions(
    previous_calculations: dict[uuid.UUID, datetime], tutor_ids: Collection[uuid.UUID]
) -> Iterator[Session]:
    """Sessions of these tutors that changed since (about) the score each had before rescoring:
    all of them for a tutor never scored. `previous_calculations` is {tutor_id: last_calculated_at}.
    Yields them, read in chunks."""
    never_scored = [tutor_id for tutor_id in tutor_ids if tutor_id not in previous_calculations]
    scored = [tutor_id for tutor_id in tutor_ids if tutor_id in previous_calculations]
    sessions = Session.objects.select_related("tutor", "reschedule").order_by("scheduled_time")
    if never_scored:
        yield from sessions.filter(tutor_id__in=never_scored).iterator(chunk_size=ANNOUNCE_CHUNK)
    if scored:
        since = min(previous_calculations[tutor_id] for tutor_id in scored) - ANNOUNCE_OVERLAP
        for session in sessions.filter(tutor_id__in=scored, updated_at__gte=since).iterator(
            chunk_size=ANNOUNCE_CHUNK
        ):
            if session.updated_at >= previous_calculations[session.tutor_id] - ANNOUNCE_OVERLAP:
                yield session


def rescore_and_announce(
    stale: Collection[uuid.UUID],
    *,
    sessions: Collection[Session] = (),
    everyone: bool = False,
    now: datetime | None = None,
    newer_only: bool = False,
) -> int:
    """Rescore the `stale` tutors (`everyone`: every tutor), and send `sessions_scored` for
    `sessions` and for every session a new score covers for the first time, in the same
    transaction: what a receiver writes (the mail outbox) commits with the score or not at all,
    so a task lost before or after this point loses no mail. Returns how many tutors were scored."""
    now = now or timezone.now()
    with transaction.atomic():
        previous = dict(
            TutorScore.objects.filter(tutor_id__in=list(stale)).values_list("tutor_id", "last_calculated_at")
        )
        if everyone:
            scored = engine.recompute_all(now=now, newer_only=newer_only)
        else:  # only the stale ones: a fresh score is already right
            scored = engine.recompute_all(now=now, tutor_ids=list(stale), newer_only=newer_only)
        given = {session.pk for session in sessions}
        covered = (session for session in newly_covered_sessions(previous, stale) if session.pk not in given)
        pending = chain(sessions, covered)
        while chunk := list(islice(pending, ANNOUNCE_CHUNK)):
            scores = TutorScore.objects.in_bulk(
                {session.tutor_id for session in chunk}, field_name="tutor_id"
            )
            announce(chunk, scores)
    return scored


def announce(sessions: Iterable[Session], scores: dict[uuid.UUID, TutorScore]) -> None:
    """Send `sessions_scored` once for these sessions, with their tutors' fresh scores."""
    known = [session for session in sessions if session.tutor_id in scores]  # deleted tutors: none
    if not known:
        return
    for session in known:
        score = scores[session.tutor_id]
        score.tutor = session.tutor
        # With the ingest and mail lines, this follows one session from the API to its mails.
        logger.info(
            "session scored session_id=%s tutor_id=%s risk_level=%s risk_score=%s",
            session.pk,
            session.tutor_id,
            score.risk_level,
            score.risk_score,
        )
    for receiver, result in sessions_scored.send_robust(sender=Session, sessions=known, scores=scores):
        if isinstance(result, Exception):
            logger.error(
                "sessions_scored receiver %r failed for %d sessions: %r", receiver, len(known), result
            )


def _is_stale(tutor: Tutor, score: TutorScore | None) -> bool:
    # The STALE rule, in Python, for tutors and scores already loaded.
    return score is None or tutor.sessions_version > score.sessions_version


def process_sessions(session_ids: Iterable[uuid.UUID | str], *, attempt: int = 1) -> int:
    """After ingest: rescore the stale tutors of these sessions, then every other tutor that went
    stale recently (coalesced, set-based), and send `sessions_scored` for these sessions and every
    session the new scores cover for the first time. Running it twice rescores nothing the second
    time. Under a burst the tasks behind the first one find their tutors fresh.

    The coalesced part runs in one worker at a time (across hosts): two workers that both found
    the same recently stale tutors scored them all twice and waited on each other's row locks (a
    burst of 2,000 sessions at 1,000 tutors: p95 6.5-7.6 s, one at a time 2.7-2.8 s). A task's
    own tutors are scored before it waits its turn, so one session is never queued behind a
    burst's batch."""
    ids = [str(session_id) for session_id in session_ids]
    started = time.monotonic()
    coalesced = 0
    try:
        release_coalesced(PROCESS_TASK)  # from here on, a new ingest enqueues a new task
        sessions = list(Session.objects.filter(pk__in=ids).select_related("tutor__score", "reschedule"))
        tutors = {session.tutor_id: session.tutor for session in sessions}
        # A tutor never scored has no `score`: the reverse accessor raises an AttributeError.
        scores = {tutor_id: getattr(tutor, "score", None) for tutor_id, tutor in tutors.items()}
        stale = sorted(tutor_id for tutor_id, tutor in tutors.items() if _is_stale(tutor, scores[tutor_id]))
        if stale:
            rescored = rescore_and_announce(stale, sessions=sessions, newer_only=True)
        else:
            rescored = 0
            announce(sessions, {tutor_id: score for tutor_id, score in scores.items() if score})
        # Always, even for no session: a coalesced task stands for the ingests that did not enqueue.
        own_seconds = time.monotonic() - started
        with one_at_a_time(PROCESS_TASK):
            waited = time.monotonic()
            if others := recently_stale_tutor_ids():
                coalesced = rescore_and_announce(others, newer_only=True)
    except Exception:
        schedule_retry(PROCESS_TASK, [ids], attempt=attempt)
        raise
    # The timings show an operator where a burst's latency goes: its own tutors, the wait for the
    # coalesced turn, the coalesced rescoring.
    logger.info(
        "process_sessions: %d sessions, %d tutors rescored in %.0f ms, then %d coalesced in %.0f ms "
        "after waiting %.0f ms",
        len(sessions),
        rescored,
        own_seconds * 1000,
        coalesced,
        (time.monotonic() - waited) * 1000,
        (waited - started - own_seconds) * 1000,
    )
    return rescored + coalesced


def rescore_stale(*, attempt: int = 1) -> int:
    """The 5-minute sweep: rescore every tutor whose sessions changed since its score, and
    announce the sessions a lost processing task never announced."""
    try:
        stale = stale_tutor_ids()
        # After a bulk load most tutors are stale: one full recompute is cheaper than a long id list.
        everyone = len(stale) > STALE_FULL_RECOMPUTE
        scored = rescore_and_announce(stale, everyone=everyone) if stale else 0
    except Exception:
        schedule_retry("scoring.tasks.rescore_stale", [], attempt=attempt)
        raise
    if scored:
        logger.info("rescore_stale: %d tutors rescored", scored)
    return scored


def recompute_all_task(*, attempt: int = 1) -> int:
    """Hourly (and after a settings change): rescore every tutor, since windows slide with time."""
    try:
        return rescore_and_announce(stale_tutor_ids(), everyone=True)
    except Exception:
        schedule_retry("scoring.tasks.recompute_all_task", [], attempt=attempt)
        raise


def snapshot_history(*, attempt: int = 1) -> int:
    """Nightly: refresh every score, then write today's history snapshot."""
    try:
        now = timezone.now()
        rescore_and_announce(stale_tutor_ids(), everyone=True, now=now)
        return history.snapshot_scores(now=now)
    except Exception:
        schedule_retry("scoring.tasks.snapshot_history", [], attempt=attempt)
        raise
