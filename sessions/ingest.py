"""Store sessions pushed by the platform (upsert), then wake the scoring pipeline.

Set-based: a batch costs a fixed number of SQL statements whatever its size (one SELECT each for
the tutors and the existing sessions, the latter skipped when none exists, one SELECT of the pairs
it touches for their first-session flags, bulk INSERT/UPDATE for the rest; the hot ones
hand-written in sessions/sql.py, lists as one array parameter on PostgreSQL), and enqueues ONE
processing task for the sessions that really changed. Identical repeats write nothing and
enqueue nothing, so they cannot trigger duplicate mails.

Concurrent posts of one session take turns: the tutors (those posted, and those the stored
sessions belong to) and the stored sessions are read with their rows locked (tutors first, then
sessions, each in id order, so two batches never wait on each other crosswise). A post older
than the stored state is stale and changes nothing (sessions/ordering.py).
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from tutorscore.lib.tasks import enqueue

from .first_sessions import FLAG_FIELDS, plan_pairs, write_changes
from .models import Reschedule, Session, Tutor
from .ordering import latest_state
from .rescheduling import fill_derived_fields
from .schemas import SessionIn
from .sql import bulk_update, copy_rows, fetch, lock_clause, matching

logger = logging.getLogger(__name__)

PROCESS_TASK = "scoring.tasks.process_sessions"  # by dotted path: sessions never imports scoring

SESSION_FIELDS = [
    "tutor_id",
    "student_id",
    "scheduled_time",
    "completed_time",
    "status",
    "duration_minutes",
    "student_rating",
    "no_show_by",
    "platform_updated_at",
]
RESCHEDULE_FIELDS = [
    "initiator",
    "original_time",
    "new_time",
    "reason",
    "reason_code",
    "cancelled_at",
    "hours_before_session",
]
NEW_SESSION_COLUMNS = ["id", *SESSION_FIELDS, "created_at", "updated_at", *FLAG_FIELDS]
RESCHEDULE_COLUMNS = ["id", "session_id", *RESCHEDULE_FIELDS, "created_at"]


class IngestError(Exception):
    """The batch is valid JSON but conflicts with stored data (answered as a 422)."""

    def __init__(self, details: dict[str, list[str]]) -> None:
        super().__init__(details)
        self.details = details


@dataclass
class IngestResult:
    session_ids: list = field(default_factory=list)  # every accepted session, in request order
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0  # older than the stored state (sessions/ordering.py): acknowledged, not stored
    tutors_created: int = 0
    changed_session_ids: list = field(default_factory=list)
    stale_session_ids: list = field(default_factory=list)

    def outcome(self, session_id: uuid.UUID) -> str:
        if session_id in self.stale_session_ids:
            return "stale"
        return "unchanged" if session_id not in self.changed_session_ids else "stored"


def default_tutor_name(tutor_id: uuid.UUID | str) -> str:
    return f"Tutor {str(tutor_id)[:8]}"


def ingest_sessions(
    items: Sequence[SessionIn],
    *,
    now: datetime | None = None,
    prefix: Callable[[int], str] | None = None,
) -> IngestResult:
    """Upsert validated sessions (schemas.SessionIn) in one transaction; enqueue processing on commit.

    `prefix(index)` names an item in error details (e.g. "sessions[3]."). Raises IngestError when
    a new tutor's e-mail belongs to another tutor. A race with a concurrent request (the same new
    tutor or session inserted meanwhile, a deadlock, a locked SQLite file) is retried once: the
    second pass sees the committed rows and updates them.
    """
    now = now or timezone.now()
    prefix = prefix or (lambda index: "")
    try:
        return _ingest(items, now=now, prefix=prefix)
    except IntegrityError:
        return _ingest(items, now=now, prefix=prefix)
    except OperationalError as exc:
        if not _is_transient(exc):
            raise
        return _ingest(items, now=now, prefix=prefix)


def _is_transient(exc):
    message = str(exc).lower()
    return "deadlock" in message or "database is locked" in message


def _ingest(items, *, now, prefix):
    # The same session twice in one batch: its items apply in order, as if posted one after the other.
    posted = defaultdict(list)
    for item in items:
        posted[item.session_id].append(item)
    result = IngestResult(session_ids=[str(item.session_id) for item in items])

    with transaction.atomic():
        # The posted tutors and those the stored sessions belong to (a session moved to another
        # tutor changes both), locked in one go, in id order: when a moved session's old tutor
        # was locked later, two posts swapping sessions between two tutors deadlocked.
        posted_tutor_ids = {item.tutor_id for item in items}
        tutors_where, tutor_params = matching("id", Tutor._meta.pk, posted_tutor_ids)
        sessions_where, session_params = matching("id", Session._meta.pk, list(posted))

        tutors_sql = (
            f"SELECT id FROM tutors WHERE id IN (SELECT id FROM tutors WHERE {tutors_where} "
            f"UNION ALL SELECT tutor_id FROM sessions WHERE {sessions_where}) ORDER BY id{lock_clause()}"
        )

        def lock_tutors() -> set[uuid.UUID]:
            rows = fetch(tutors_sql, [*tutor_params, *session_params], [Tutor._meta.pk])
            return {tutor_id for (tutor_id,) in rows}

        existing_tutor_ids = lock_tutors() & posted_tutor_ids
        new_tutors = _new_tutors(enumerate(items), existing_tutor_ids, prefix, now=now)
        if new_tutors:
            # ignore_conflicts: a tutor created by a concurrent request meanwhile is fine as it is
            # (inserted in id order, so two batches creating the same tutors wait in turn).
            Tutor.objects.bulk_create(sorted(new_tutors, key=lambda tutor: tutor.pk), ignore_conflicts=True)
            result.tutors_created = len(new_tutors)
            if connection.features.has_select_for_update:
                # Locked too before any session is. A post that waited here for a concurrent post
                # creating the same tutor held no tutor lock: it locked the session, then waited
                # at mark_changed for a third post that held the tutor and waited for the session.
                lock_tutors()

        stored_ids = list(posted)
        if connection.features.has_select_for_update:  # SQLite: the write lock is already ours
            # A concurrent post of the same session waits here until the other commits. Locking and
            # reading apart: a statement that waited still reads the joined reschedule as it was
            # when it started. (A new session both insert: a unique violation for one, retried.)
            where, params = matching("id", Session._meta.pk, stored_ids)
            stored_ids = [
                session_id
                for (session_id,) in fetch(
                    f"SELECT id FROM sessions WHERE {where} ORDER BY id{lock_clause()}",
                    params,
                    [Session._meta.pk],
                )
            ]
        # Only the locked rows can exist: new sessions (the usual post) skip the read.
        existing = (
            Session.objects.select_related("reschedule").order_by().in_bulk(stored_ids) if stored_ids else {}
        )
        new_rows, sessions_to_update = [], []  # new sessions as rows in NEW_SESSION_COLUMNS order
        reschedules_to_create, reschedules_to_update, reschedules_to_delete = [], [], []
        changed_pairs = set()  # (tutor_id, student_id) of every changed session, before and after
        incoming = []  # (id, tutor_id, student_id, status, scheduled_time) of every session written
        written_at = timezone.now()  # updated_at is auto_now: the clock, as save() would set it
        for session_id, versions in posted.items():
            stored = existing.get(session_id)
            item, platform_updated_at = latest_state(
                versions,
                current_status=stored.status if stored else None,
                current_updated_at=stored.platform_updated_at if stored else None,
            )
            if item is None:
                result.stale += 1
                result.stale_session_ids.append(str(session_id))
                continue
            if stored is None:
                # A new session (the usual post) is a row, not a model object: no comparison to make.
                result.changed_session_ids.append(str(session_id))
                changed_pairs.add((item.tutor_id, item.student_id))
                new_rows.append(_new_session_row(item, platform_updated_at, now=now, written_at=written_at))
                incoming.append(
                    (session_id, item.tutor_id, item.student_id, item.status, item.scheduled_time)
                )
                result.created += 1
                if item.reschedule_info is not None:
                    reschedules_to_create.append(_reschedule_from(item, None, now=now))
                continue
            session = _session_from(item, platform_updated_at, now=now)
            stored_reschedule = _stored_reschedule(stored)
            reschedule = _reschedule_from(item, stored_reschedule, now=now)
            session_changed = _values(stored, SESSION_FIELDS) != _values(session, SESSION_FIELDS)
            reschedule_changed = (stored_reschedule is None) != (reschedule is None) or (
                reschedule is not None
                and _values(stored_reschedule, RESCHEDULE_FIELDS) != _values(reschedule, RESCHEDULE_FIELDS)
            )
            if not (session_changed or reschedule_changed):
                result.unchanged += 1
                continue

            result.changed_session_ids.append(str(item.session_id))
            changed_pairs.add((item.tutor_id, item.student_id))
            changed_pairs.add((stored.tutor_id, stored.student_id))  # it may have moved
            session.created_at = stored.created_at
            sessions_to_update.append(session)
            incoming.append(
                (session_id, item.tutor_id, item.student_id, session.status, session.scheduled_time)
            )
            result.updated += 1
            if reschedule is None and stored_reschedule is not None:
                reschedules_to_delete.append(stored_reschedule.pk)
            elif reschedule is not None and stored_reschedule is None:
                reschedules_to_create.append(reschedule)
            elif reschedule is not None and reschedule_changed:
                reschedules_to_update.append(reschedule)

        changed_tutor_ids = {tutor_id for tutor_id, _ in changed_pairs}
        if changed_tutor_ids:
            # Bulk writes send no signals: flag the tutors for the scoring sweep ourselves, in the
            # same transaction, so a lost task can never leave a change unscored. Their row locks
            # also make concurrent batches of the same tutors take turns from here on, so each
            # reads the pairs' sessions the others committed.
            Tutor.mark_changed(changed_tutor_ids, now=now)
        flag_changes, flags = plan_pairs(changed_pairs, incoming)
        if new_rows:
            copy_rows(Session, NEW_SESSION_COLUMNS, [(*row, *flags[row[0]]) for row in new_rows])
        if sessions_to_update:
            for session in sessions_to_update:
                session.is_first_session, session.first_session_retained = flags[session.pk]
            bulk_update(Session, sessions_to_update, [*SESSION_FIELDS, *FLAG_FIELDS, "updated_at"])
        write_changes(flag_changes)
        if reschedules_to_delete:
            Reschedule.objects.filter(pk__in=reschedules_to_delete).delete()
        if reschedules_to_create:
            rows = [_values(reschedule, RESCHEDULE_COLUMNS) for reschedule in reschedules_to_create]
            copy_rows(Reschedule, RESCHEDULE_COLUMNS, rows)
        if reschedules_to_update:
            bulk_update(Reschedule, reschedules_to_update, RESCHEDULE_FIELDS)
        if changed_tutor_ids:
            changed_ids = list(result.changed_session_ids)
            transaction.on_commit(lambda: enqueue_processing(changed_ids))

    _log_accepted(posted, result)
    return result


def _log_accepted(posted, result):
    """One line per request, with every session id, so `grep <session id>` still finds it: a line
    per session cost 20–90 ms per 1,000-session batch."""
    if len(posted) == 1:
        [(session_id, versions)] = posted.items()
        logger.info(
            "session accepted session_id=%s tutor_id=%s status=%s outcome=%s",
            session_id,
            versions[-1].tutor_id,
            versions[-1].status,
            result.outcome(str(session_id)),
        )
        return
    logger.info(
        "sessions accepted count=%d created=%d updated=%d unchanged=%d stale=%d session_ids=%s",
        len(posted),
        result.created,
        result.updated,
        result.unchanged,
        result.stale,
        ",".join(str(session_id) for session_id in posted),
    )


def _new_tutors(indexed_items, existing_tutor_ids, prefix, *, now):
    """Tutors to create for unknown tutor ids; a taken e-mail is an IngestError, not a crash."""
    new = {}
    email_owner = {}  # email → (tutor_id, index) among the new tutors
    errors: dict[str, list[str]] = {}
    for index, item in sorted(indexed_items, key=lambda pair: pair[0]):
        if item.tutor_id in existing_tutor_ids or item.tutor_id in new:
            continue
        email = item.tutor_email or None
        if email is not None:
            if email in email_owner:
                errors.setdefault(f"{prefix(index)}tutor_email", []).append(
                    "This e-mail is already used by another tutor in this request."
                )
                continue
            email_owner[email] = (item.tutor_id, index)
        new[item.tutor_id] = Tutor(
            id=item.tutor_id,
            name=item.tutor_name or default_tutor_name(item.tutor_id),
            email=email,
            created_at=now,
        )
    if email_owner:
        taken = Tutor.objects.filter(email__in=list(email_owner)).order_by().values_list("email", flat=True)
        for email in taken:
            _tutor_id, index = email_owner[email]
            errors.setdefault(f"{prefix(index)}tutor_email", []).append(
                "This e-mail is already used by another tutor."
            )
    if errors:
        raise IngestError(errors)
    return list(new.values())


SESSION_ATTNAMES = [field.attname for field in Session._meta.concrete_fields]


def _session_from(item, platform_updated_at, *, now):
    values = {
        "id": item.session_id,
        "tutor_id": item.tutor_id,
        "student_id": item.student_id,
        "scheduled_time": item.scheduled_time,
        "completed_time": item.completed_time,
        "status": item.status,
        "duration_minutes": item.duration_minutes,
        "student_rating": item.student_rating,
        "no_show_by": item.no_show_by,
        "is_first_session": False,  # set by plan_pairs
        "first_session_retained": False,
        "platform_updated_at": platform_updated_at,
        "created_at": now,
        "updated_at": now,
        # Never written from here: the triggers on `reschedules` keep them (sessions/triggers.py).
        "reschedule_initiator": None,
        "reschedule_reason_code": None,
        "reschedule_hours_before": None,
    }
    # Positional: Model.__init__ with keywords costs 2.5 times as much (19 µs against 8 µs a session).
    session = Session(*(values[name] for name in SESSION_ATTNAMES))  # type: ignore[misc]  # stubs type keywords only
    return session.apply_defaults()  # bulk writes skip save(): apply the no-show default here


def _new_session_row(item, platform_updated_at, *, now, written_at):
    """A new session as a tuple in NEW_SESSION_COLUMNS order, without its first-session flags
    (plan_pairs works them out): a model object cost 10 µs more per session."""
    return (
        item.session_id,
        item.tutor_id,
        item.student_id,
        item.scheduled_time,
        item.completed_time,
        item.status,
        item.duration_minutes,
        item.student_rating,
        Session.default_no_show_by(item.status, item.no_show_by),  # bulk writes skip save()
        platform_updated_at,
        now,
        written_at,
    )


def _stored_reschedule(stored):
    if stored is None:
        return None
    try:
        return stored.reschedule
    except Reschedule.DoesNotExist:
        return None


def _reschedule_from(item, stored_reschedule, *, now):
    info = item.reschedule_info
    if info is None:
        return None
    cancelled_at = info.cancelled_at
    if cancelled_at is None and stored_reschedule is not None:
        # Keep when the reschedule was first received, so a repeat is really identical.
        cancelled_at = stored_reschedule.cancelled_at
    reschedule = Reschedule(
        id=stored_reschedule.pk if stored_reschedule else None,
        session_id=item.session_id,
        initiator=info.initiator,
        original_time=info.original_time,
        new_time=info.new_time,
        reason=info.reason,
        reason_code=info.reason_code or "",
        cancelled_at=cancelled_at,
        created_at=stored_reschedule.created_at if stored_reschedule else now,
    )
    if reschedule.id is None:
        reschedule.id = Reschedule._meta.pk.get_default()
    return fill_derived_fields(reschedule, received_at=now)


def _values(obj, fields):
    return [getattr(obj, name) for name in fields]


def enqueue_processing(session_ids: Sequence[uuid.UUID | str]) -> None:
    """Queue one scoring task for these sessions; a broker failure is logged, never raised.

    The tutors are already flagged (sessions_changed_at), so the periodic stale sweep scores
    them even when this enqueue is lost.
    """
    # save=False: a successful run's result is not stored. Storing it made django-q2 lock and
    # read its whole result table (save_limit rows) per task, the largest cost of a burst.
    # Failures are still stored; the stale sweep's runs still show the worker is alive.
    # Coalesced: while a processing task waits, it will score these sessions too.
    enqueue(
        PROCESS_TASK,
        session_ids,
        coalesce=True,
        fallback="the stale sweep will score them",
        task_name=f"process {len(session_ids)} sessions",
        save=False,
    )
