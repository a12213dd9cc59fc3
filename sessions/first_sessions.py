"""First sessions (SPEC §5), kept as two flags on the session rows.

A (tutor, student) pair's first session is its earliest counted session (completed, rescheduled
or no-show; a tie on scheduled_time goes to the smaller id). It is retained when the student came
back: another completed session of the pair at most 14 days after it.

Scoring counts first sessions from these flags as two more columns of its main scan. Working them
out there instead meant an anti-join of every session against its pair's history, plus one index
probe per first session, on every full recompute: a third of its time.

Every write keeps the flags of the pairs it touches up to date, in its own transaction:
- the ingest (plan_pairs before its writes, once its tutors are locked, so new rows are
  written flagged; write_changes for the other rows after);
- ORM saves and deletes such as the admin (signals, refresh_pairs);
- the generator (pair_flags, as it builds the rows);
- the migration that added the flags (backfill).

`manage.py refresh_first_sessions` repairs them after writes that bypassed the app (raw SQL,
QuerySet.update) or that old code made during a deploy (repair).
"""

import uuid
from collections import defaultdict
from collections.abc import Callable, Container, Iterable
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any, cast

from django.db import models, transaction

from .models import COUNTED_STATUSES, Session, Tutor
from .sql import fetch, matching_rows

FOLLOW_UP_DAYS = 14
NOT_FIRST = (False, False)

Pair = tuple[uuid.UUID, str]  # (tutor_id, student_id)
Flags = tuple[bool, bool]  # (is_first_session, first_session_retained)
Changes = dict[Flags, list[uuid.UUID]]  # {flags: ids of the sessions to set them on}


def pair_flags(sessions: Iterable[tuple[uuid.UUID, str, datetime]]) -> dict[uuid.UUID, Flags]:
    """{session id: (is_first_session, first_session_retained)} for the sessions of ONE pair,
    given as (id, status, scheduled_time) tuples in any order."""
    sessions = list(sessions)
    flags = dict.fromkeys((session_id for session_id, _, _ in sessions), NOT_FIRST)
    counted = [session for session in sessions if session[1] in COUNTED_STATUSES]
    if counted:
        first_id, _, first_time = min(counted, key=lambda session: (session[2], session[0]))
        follow_up_until = first_time + timedelta(days=FOLLOW_UP_DAYS)
        retained = any(
            status == Session.Status.COMPLETED and first_time < scheduled_time <= follow_up_until
            for _, status, scheduled_time in sessions
        )
        flags[first_id] = (True, retained)
    return flags


PAIR_COLUMNS = ("tutor_id", "student_id", "id", "status", "scheduled_time")
FLAG_FIELDS = ["is_first_session", "first_session_retained"]


def _changes(
    rows_by_pair: Iterable[Iterable[tuple[Any, ...]]], incoming: Container[uuid.UUID] = frozenset()
) -> tuple[Changes, dict[uuid.UUID, Flags]]:
    """({flags: [ids]} of the stored sessions whose flags differ from what their pair implies,
    {id: flags} of the `incoming` sessions (ids of rows about to be written))."""
    changes: Changes = defaultdict(list)
    incoming_flags: dict[uuid.UUID, Flags] = {}
    for rows in rows_by_pair:
        rows = list(rows)
        if len(rows) == 1 and rows[0][2] in incoming:  # a new pair (most of a batch): no min, no scan
            incoming_flags[rows[0][2]] = (rows[0][3] in COUNTED_STATUSES, False)
            continue
        flags = pair_flags(row[2:5] for row in rows)
        for row in rows:
            session_id = row[2]
            if session_id in incoming:
                incoming_flags[session_id] = flags[session_id]
            elif flags[session_id] != row[5:7]:
                changes[flags[session_id]].append(session_id)
    return changes, incoming_flags


def write_changes(changes: Changes, *, model: type[models.Model] = Session, chunk_size: int = 5000) -> None:
    """Store what plan_pairs returned: one UPDATE per combination of flags (at most three)."""
    for (is_first, retained), ids in changes.items():
        for start in range(0, len(ids), chunk_size):
            model._default_manager.filter(pk__in=ids[start : start + chunk_size]).update(
                is_first_session=is_first, first_session_retained=retained
            )


def plan_pairs(
    pairs: Iterable[Pair], incoming: Iterable[tuple[Any, ...]] = ()
) -> tuple[Changes, dict[uuid.UUID, Flags]]:
    """Work out the flags of every session of these (tutor_id, student_id) pairs, in one SELECT.

    `incoming` are (id, tutor_id, student_id, status, scheduled_time) of sessions about to be
    written, new or changed versions of stored rows: they count as already written, so a new first
    session is written once, flagged. Returns ({flags: [ids]} for the other, stored sessions whose
    flags change, {id: flags} of the incoming sessions).
    The caller must hold the pairs' tutors locked (Tutor.mark_changed) to see concurrent writes.
    """
    wanted = set(pairs)
    if not wanted:
        return {}, {}
    by_id = {session[0]: session for session in incoming}
    fields = [cast(models.Field, Session._meta.get_field(name)) for name in (*PAIR_COLUMNS, *FLAG_FIELDS)]
    # The exact pairs, not a tutor list and a student list: those also matched every other
    # pair they combine into (12 times the rows for a batch of 1,000).
    where, params = matching_rows(["tutor_id", "student_id"], fields[:2], wanted)
    rows = fetch(
        f"SELECT {', '.join(field.column for field in fields)} FROM sessions WHERE {where}", params, fields
    )
    by_pair: defaultdict[Pair, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        if row[2] not in by_id:  # a stored row about to change is replaced
            by_pair[row[:2]].append(row)
    for session_id, tutor_id, student_id, status, scheduled_time in by_id.values():
        pair = (tutor_id, student_id)
        if pair in wanted:
            by_pair[pair].append((tutor_id, student_id, session_id, status, scheduled_time))
    return _changes(by_pair.values(), by_id)


def refresh_pairs(pairs: Iterable[Pair]) -> None:
    """Bring the flags of every stored session of these pairs up to date (after a write)."""
    write_changes(plan_pairs(pairs)[0])


def backfill(model: type[models.Model]) -> None:
    """Set the flags of every session, pair after pair (the migration that added them)."""
    rows = (
        model._default_manager.order_by("tutor_id", "student_id")
        .values_list(*PAIR_COLUMNS, *FLAG_FIELDS)
        .iterator(chunk_size=10_000)
    )
    write_changes(_changes(rows for _, rows in groupby(rows, key=lambda row: row[:2]))[0], model=model)


def repair(
    *,
    since: datetime | None = None,
    chunk_size: int = 500,
    progress: Callable[[int, int, int], object] | None = None,
) -> tuple[int, int]:
    """Re-derive the flags of every pair (or of the pairs with a session written since `since`),
    a chunk of tutors per transaction with those tutors locked, so live ingests wait their turn
    instead of racing it. Tutors whose flags were wrong are marked for rescoring.
    Returns (tutors checked, sessions fixed)."""
    sessions = Session.objects.order_by()
    if since is not None:
        sessions = sessions.filter(updated_at__gte=since)
    tutor_ids = sorted(sessions.values_list("tutor_id", flat=True).distinct())
    fixed = 0
    for start in range(0, len(tutor_ids), chunk_size):
        chunk = tutor_ids[start : start + chunk_size]
        with transaction.atomic():
            list(Tutor.objects.select_for_update().filter(pk__in=chunk).order_by("pk").values_list("pk"))
            pairs = sessions.filter(tutor_id__in=chunk).values_list("tutor_id", "student_id").distinct()
            changes, _ = plan_pairs(pairs)
            write_changes(changes)
            changed_ids = [session_id for ids in changes.values() for session_id in ids]
            Tutor.mark_changed(
                Session.objects.filter(pk__in=changed_ids).values_list("tutor_id", flat=True).distinct()
            )
        fixed += len(changed_ids)
        if progress:
            progress(min(start + chunk_size, len(tutor_ids)), len(tutor_ids), fixed)
    return len(tutor_ids), fixed
