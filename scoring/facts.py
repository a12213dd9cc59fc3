"""What the engine reads: each tutor's raw counts (TutorFacts), in a fixed number of grouped queries.

Windows: a window of N days holds a tutor's sessions with `now − N days < scheduled_time ≤ now`
and status completed, rescheduled or no_show (scheduled sessions have not happened yet).
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Count, Q, QuerySet, Sum
from django.utils import timezone

from sessions.first_sessions import FOLLOW_UP_DAYS as FIRST_SESSION_FOLLOW_UP_DAYS
from sessions.models import COUNTED_STATUSES, Reschedule, Session, Tutor
from sessions.rescheduling import LAST_MINUTE_HOURS

from .rates import WEEKDAYS, WINDOWS

TutorIds = Sequence[uuid.UUID] | None
Sql = tuple[str, Sequence[Any]]  # (sql, params), as a QuerySet compiles them
QueryBuilder = Callable[[datetime, TutorIds], Sql]


@dataclass
class TutorFacts:
    """The raw counts of one tutor, as read from the database."""

    sessions_version: int = 0  # the tutor's sessions_version, read before the counts
    is_active: bool = True  # as the platform marks the tutor
    totals: dict[int, int] = field(default_factory=lambda: dict.fromkeys(WINDOWS, 0))
    tutor_reschedules: dict[int, int] = field(default_factory=lambda: dict.fromkeys(WINDOWS, 0))
    no_shows_30d: int = 0
    last_minute_reschedules: int = 0
    rated_sessions: int = 0
    rating_sum: int = 0
    first_sessions: int = 0
    retained_first_sessions: int = 0
    weekdays: dict[int, int] = field(default_factory=dict)  # {ISO weekday: tutor reschedules}, non-zero only
    reason_codes: dict[str, int] = field(
        default_factory=dict
    )  # {reason code: tutor reschedules}, non-zero only


def as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    """A tutor id as the database returned it (SQLite returns hex text)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _restrict(queryset: QuerySet, tutor_ids: TutorIds) -> QuerySet:
    return queryset if tutor_ids is None else queryset.filter(tutor_id__in=tutor_ids)


def _window_start(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def _counted_sessions(now: datetime, tutor_ids: TutorIds, days: int = 90) -> QuerySet:
    queryset = Session.objects.filter(
        status__in=COUNTED_STATUSES,
        scheduled_time__gt=_window_start(now, days),
        scheduled_time__lte=now,
    )
    return _restrict(queryset, tutor_ids)


# What the counts count: a column never NULL, and in the covering indexes the queries read (so
# PostgreSQL needs no table row for it, as COUNT(*) would, which Django allows with no FILTER).
EVERY_ROW = "scheduled_time"
# Read from the session's copies of its reschedule's fields (sessions/triggers.py), not a join.
TUTOR_RESCHEDULE = Q(status=Session.Status.RESCHEDULED, reschedule_initiator=Reschedule.Initiator.TUTOR)
REASON_CODES = tuple(Reschedule.ReasonCode.values)  # read once, not once per tutor row


# --- compiled once, executed many times ---------------------------------------------------------
#
# Building these ORM queries (40-odd conditional aggregates) cost ~10 ms of Python per call, five
# times what PostgreSQL needs to run them for one tutor: the per-ingest path was mostly query
# compilation. So each query is compiled once per shape (database, time zone, number of tutor
# ids) with sentinel values, and later calls only swap the sentinels in the parameter list for
# the real `now`-relative datetimes and tutor ids. The SQL is exactly what the ORM would send.
#
# Each shape is compiled twice, with two different sets of sentinels: every parameter that
# changes between the two must be a recognised placeholder ("now − N days" for an N of
# _NOW_OFFSETS, or a tutor id) at the same position in both, and the SQL must not change. A
# window Django (or a new query) passes some other way is refused loudly, never run with the
# sentinel's date. Every part of the two sentinel times differs (year to microsecond, weekday).
_SENTINELS = (  # (now, first tutor id)
    (datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC), 1),
    (datetime(2002, 3, 5, 6, 7, 8, 901234, tzinfo=UTC), 1 << 64),
)
_NOW_OFFSETS = (0, *WINDOWS, FIRST_SESSION_FOLLOW_UP_DAYS)  # every "now − N days" the queries use
_CACHED_TUTOR_IDS = 64  # above this the compilation is noise next to the query itself
Slot = tuple[str, Any]  # ("now", days) | ("tutor", position) | ("value", the parameter itself)
_compiled: dict[tuple, tuple[str, list[Slot]]] = {}


class CompiledQueryMismatch(RuntimeError):
    """A compiled query's placeholders are not where the cache expects them."""


def _slots(params: Sequence[Any], now: datetime, tutor_ids: TutorIds) -> list[Slot]:
    """What each parameter of a query compiled with these sentinels is."""
    time_field = Session._meta.get_field("scheduled_time")
    id_field = Tutor._meta.pk
    known = {
        time_field.get_db_prep_value(now - timedelta(days=days), connection): ("now", days)
        for days in _NOW_OFFSETS
    }
    known |= {
        id_field.get_db_prep_value(tutor_id, connection): ("tutor", position)
        for position, tutor_id in enumerate(tutor_ids or ())
    }
    slots = []
    for param in params:
        try:
            slots.append(known.get(param, ("value", param)))
        except TypeError:  # an unhashable parameter is never a sentinel
            slots.append(("value", param))
    return slots


def _compile(name: str, build: QueryBuilder, tutor_count: int | None) -> tuple[str, list[Slot]]:
    """(sql, slots) of build(now, tutor_ids), checked against a second set of sentinels."""
    compiled = []
    for now, first_id in _SENTINELS:
        tutor_ids = None if tutor_count is None else [uuid.UUID(int=first_id + n) for n in range(tutor_count)]
        sql, params = build(now, tutor_ids)
        compiled.append((sql, _slots(params, now, tutor_ids)))
    (sql, slots), (other_sql, other_slots) = compiled
    if sql != other_sql:
        raise CompiledQueryMismatch(f"{name}: a sentinel was written into the SQL, not passed as a parameter")
    for position, (slot, other) in enumerate(zip(slots, other_slots, strict=True)):
        if slot != other:
            raise CompiledQueryMismatch(
                f"{name}: parameter {position} depends on now or the tutor ids but is not a placeholder "
                f"the cache knows ({slot!r} with one set of sentinels, {other!r} with the other)"
            )
    found = {position for kind, position in slots if kind == "tutor"}  # a query may use each id twice
    if len(found) != (tutor_count or 0):
        raise CompiledQueryMismatch(
            f"{name}: {len(found)} of {tutor_count} tutor ids found in the compiled query"
        )
    return sql, slots


def run_compiled(
    name: str, build: QueryBuilder, *, now: datetime, tutor_ids: TutorIds
) -> tuple[dict[str, int], list[tuple]]:
    """(column positions by alias, row tuples) of the query build(now, tutor_ids) describes."""
    tutor_count = None if tutor_ids is None else len(tutor_ids)
    params: Sequence[Any]
    if tutor_count is not None and tutor_count > _CACHED_TUTOR_IDS:
        sql, params = build(now, tutor_ids)
    else:
        shape = (connection.alias, connection.vendor, timezone.get_current_timezone_name(), name, tutor_count)
        if shape not in _compiled:
            _compiled[shape] = _compile(name, build, tutor_count)
        sql, slots = _compiled[shape]
        time_field = Session._meta.get_field("scheduled_time")
        id_field = Tutor._meta.pk
        ids = tutor_ids or ()
        params = [
            time_field.get_db_prep_value(now - timedelta(days=value), connection)
            if kind == "now"
            else id_field.get_db_prep_value(ids[value], connection)
            if kind == "tutor"
            else value
            for kind, value in slots
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = {column[0]: position for position, column in enumerate(cursor.description)}
        return columns, cursor.fetchall()


def session_counts_query(now: datetime, tutor_ids: TutorIds) -> QuerySet:
    """One grouped query over every counted session: the 7/30/90-day totals, no-shows, ratings and
    first sessions, by conditional aggregation. Nothing here reads a reschedule, so the sessions
    are read alone (reschedule_counts_query has the rest)."""
    in_window = {days: Q(scheduled_time__gt=_window_start(now, days)) for days in WINDOWS}
    aggregates: dict[str, Aggregate] = {
        f"total_{days}": Count(EVERY_ROW, filter=in_window[days]) for days in WINDOWS
    }
    aggregates["no_shows_30d"] = Count(
        EVERY_ROW,
        filter=in_window[30] & Q(status=Session.Status.NO_SHOW, no_show_by=Session.NoShowBy.TUTOR),
    )
    # Ratings belong to sessions that happened.
    rated = Q(status=Session.Status.COMPLETED, student_rating__isnull=False)
    aggregates["rated"] = Count(EVERY_ROW, filter=rated)
    aggregates["rating_sum"] = Sum("student_rating", filter=rated)
    # Completed first sessions of the window old enough to show whether the student came back
    # (within FIRST_SESSION_FOLLOW_UP_DAYS), from the flags the writes keep on each session.
    judged_first = Q(
        is_first_session=True,
        status=Session.Status.COMPLETED,
        scheduled_time__lte=now - timedelta(days=FIRST_SESSION_FOLLOW_UP_DAYS),
    )
    aggregates["first_sessions"] = Count(EVERY_ROW, filter=judged_first)
    aggregates["retained_first_sessions"] = Count(
        EVERY_ROW, filter=judged_first & Q(first_session_retained=True)
    )
    return _counted_sessions(now, tutor_ids).values("tutor_id").annotate(**aggregates).order_by()


def reschedule_counts_query(now: datetime, tutor_ids: TutorIds) -> QuerySet:
    """One grouped query over the tutor reschedules alone (from the partial index
    sessions_reschedule_counts_idx alone): the 7/30/90-day counts, the last-minute ones, and the
    weekday and reason patterns over the 90-day window (the query's own).

    Joining every session to its reschedule cost more than all the counting: at 10 million
    sessions, counting the sessions and these apart took every tutor's counts from 4.2 to 2.7 s,
    64 tutors' at random from 297 to 124 ms (bench/facts.py, PostgreSQL's default plan). Then the
    join that was left, one reschedule lookup per tutor reschedule, was 130 of 311 ms for 100 busy
    tutors: the fields it read are now copied onto the session (sessions/triggers.py)."""
    aggregates: dict[str, Aggregate] = {
        f"tutor_reschedules_{days}": Count(EVERY_ROW, filter=Q(scheduled_time__gt=_window_start(now, days)))
        for days in WINDOWS
    }
    aggregates["last_minute"] = Count(EVERY_ROW, filter=Q(reschedule_hours_before__lt=LAST_MINUTE_HOURS))
    for weekday in WEEKDAYS:
        aggregates[f"weekday_{weekday}"] = Count(EVERY_ROW, filter=Q(scheduled_time__iso_week_day=weekday))
    for code in REASON_CODES:
        aggregates[f"reason_{code}"] = Count(EVERY_ROW, filter=Q(reschedule_reason_code=code))
    tutor_reschedules = _counted_sessions(now, tutor_ids).filter(TUTOR_RESCHEDULE)
    return tutor_reschedules.values("tutor_id").annotate(**aggregates).order_by()


def window_counts_sql(now: datetime, tutor_ids: TutorIds) -> Sql:
    """Both grouped queries as ONE statement, so they read one snapshot: counted apart, a session
    committed in between could be a reschedule without its session (a rate above 100%)."""
    sessions_sql, sessions_params = session_counts_query(now, tutor_ids).query.sql_with_params()
    reschedules_sql, reschedules_params = reschedule_counts_query(now, tutor_ids).query.sql_with_params()
    return (
        f"SELECT * FROM ({sessions_sql}) session_counts "
        f"LEFT JOIN ({reschedules_sql}) reschedule_counts USING (tutor_id)",
        (*sessions_params, *reschedules_params),
    )


# The counts of given tutors (the per-ingest scoring, a burst's coalesced rescoring) are planned
# for a database in memory and without JIT, and those of a few tutors in one process: PostgreSQL's
# defaults planned them for a disk (a hash of every reschedule), a JIT compilation longer than the
# query, and two parallel workers that cost more to start than they save on a small read
# (bench/facts.py at 10 million sessions: 64 tutors at random 124 → 60 ms, the 250 busiest
# 1.44 → 0.96 s). set_config(…, true) lasts until the scoring's transaction ends; the full
# recompute keeps the server's settings.
FEW_TUTORS = _CACHED_TUTOR_IDS
_PLAN_FOR_MEMORY = "SELECT set_config('random_page_cost', '1.1', true), set_config('jit', 'off', true)"
_IN_ONE_PROCESS = ", set_config('max_parallel_workers_per_gather', '0', true)"


def plan_for_given_tutors(tutor_ids: TutorIds) -> None:
    if tutor_ids is None or connection.vendor != "postgresql" or not connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(_PLAN_FOR_MEMORY + (_IN_ONE_PROCESS if len(tutor_ids) <= FEW_TUTORS else ""))


def _read_window_counts(now: datetime, tutor_ids: TutorIds) -> dict[uuid.UUID, TutorFacts]:
    """{tutor_id: TutorFacts} of the tutors with counted sessions (sessions_version left unset)."""
    plan_for_given_tutors(tutor_ids)
    position, rows = run_compiled("window_counts", window_counts_sql, now=now, tutor_ids=tutor_ids)
    # A tutor without reschedules has no row in reschedule_counts: NULLs from the join.
    totals = [(days, position[f"total_{days}"]) for days in WINDOWS]
    reschedules = [(days, position[f"tutor_reschedules_{days}"]) for days in WINDOWS]
    weekdays = [(day, position[f"weekday_{day}"]) for day in WEEKDAYS]
    reason_codes = [(code, position[f"reason_{code}"]) for code in REASON_CODES]
    facts = {}
    for row in rows:
        facts[as_uuid(row[position["tutor_id"]])] = TutorFacts(
            totals={days: row[at] for days, at in totals},
            tutor_reschedules={days: row[at] or 0 for days, at in reschedules},
            no_shows_30d=row[position["no_shows_30d"]],
            last_minute_reschedules=row[position["last_minute"]] or 0,
            rated_sessions=row[position["rated"]],
            rating_sum=row[position["rating_sum"]] or 0,
            first_sessions=row[position["first_sessions"]],
            retained_first_sessions=row[position["retained_first_sessions"]],
            weekdays={day: row[at] for day, at in weekdays if row[at]},
            reason_codes={code: row[at] for code, at in reason_codes if row[at]},
        )
    return facts


def tutors_sql(now: datetime, tutor_ids: TutorIds) -> Sql:
    """Every tutor (or the given ones) as (id, sessions_version, is_active)."""
    tutors = Tutor.objects.all() if tutor_ids is None else Tutor.objects.filter(pk__in=tutor_ids)
    # Ordered, so concurrent scorers upsert (and lock) score rows in the same order: no deadlocks.
    return tutors.order_by("id").values_list("id", "sessions_version", "is_active").query.sql_with_params()


def read_facts(*, now: datetime, tutor_ids: TutorIds = None) -> dict[uuid.UUID, TutorFacts]:
    """{tutor_id: TutorFacts} for every tutor (or the given ones), in two queries, by tutor id.

    The tutors' versions are read first: a change committed after that read makes its tutor
    stale again, whether or not the counts read next include it.
    """
    _, tutors = run_compiled("tutors", tutors_sql, now=now, tutor_ids=tutor_ids)
    counts = _read_window_counts(now, tutor_ids) if tutors else {}
    facts = {}
    # Tutors deleted between the two queries are dropped with their counts.
    for tutor_id, version, is_active in tutors:
        tutor_id = as_uuid(tutor_id)
        facts[tutor_id] = counts.get(tutor_id) or TutorFacts()
        facts[tutor_id].sessions_version = version
        facts[tutor_id].is_active = bool(is_active)
    return facts
