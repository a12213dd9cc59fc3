"""Writing the generated rows: PostgreSQL COPY (bulk_create elsewhere), and clearing old data."""

import contextlib
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.apps import apps
from django.db import connection, models
from django.db.backends.utils import CursorWrapper

from ..models import Reschedule, Session, Tutor

SESSION_COLUMNS = (
    "id",
    "tutor_id",
    "student_id",
    "scheduled_time",
    "completed_time",
    "status",
    "duration_minutes",
    "student_rating",
    "no_show_by",
    "created_at",
    "updated_at",
    "is_first_session",
    "first_session_retained",
    "platform_updated_at",  # generated rows never came from the platform: None
    # Its reschedule's copies, as the triggers would write them (sessions/triggers.py), which
    # then find nothing to change: written with the session, not one UPDATE per reschedule.
    "reschedule_initiator",
    "reschedule_reason_code",
    "reschedule_hours_before",
)
RESCHEDULE_COLUMNS = (
    "id",
    "session_id",
    "initiator",
    "original_time",
    "new_time",
    "reason",
    "reason_code",
    "cancelled_at",
    "hours_before_session",
    "created_at",
)


def _column_types(cursor: CursorWrapper, table: str, columns: Sequence[str]) -> list[int]:
    """The PostgreSQL type oids of a table's columns, in `columns` order (for binary COPY)."""
    cursor.execute(
        "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
        [table],
    )
    oids = dict(cursor.fetchall())
    return [oids[column] for column in columns]


def _copy_rows(model: type[models.Model], columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """PostgreSQL binary COPY: several times faster than INSERT for large loads, and binary saves
    both sides formatting and parsing text (a million sessions: about 15 s of CPU less)."""
    table = model._meta.db_table
    sql = f"COPY {connection.ops.quote_name(table)} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor:
        types = _column_types(cursor, table, columns)
        with cursor.copy(sql) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


def _bulk_create(model: type[models.Model], columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    objects = [model(**dict(zip(columns, row, strict=True))) for row in rows]
    for obj in objects:
        if isinstance(obj, Session):
            obj.apply_defaults()
    model._default_manager.bulk_create(objects, batch_size=2000)


def write_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Store rows (tuples in `columns` order) of `model`."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        _copy_rows(model, columns, rows)
    else:
        _bulk_create(model, columns, rows)


def write_sessions(session_rows: Sequence[tuple], reschedule_rows: Sequence[tuple]) -> None:
    write_rows(Session, SESSION_COLUMNS, session_rows)
    write_rows(Reschedule, RESCHEDULE_COLUMNS, reschedule_rows)


SECONDARY_INDEXES = """
    SELECT 'index', index.relname, pg_get_indexdef(x.indexrelid)
    FROM pg_index x JOIN pg_class index ON index.oid = x.indexrelid
    WHERE x.indrelid = %s::regclass AND NOT x.indisprimary AND NOT x.indisunique
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
    ORDER BY index.relname
"""
FOREIGN_KEYS = """
    SELECT 'foreign key', conname, pg_get_constraintdef(oid) FROM pg_constraint
    WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname
"""


@contextlib.contextmanager
def checked_and_indexed_after(*models: type[models.Model]) -> Iterator[None]:
    """Load EMPTY tables without their secondary indexes and foreign keys, then build the indexes
    (one sort each instead of a million random inserts) and add the foreign keys back (one join
    validates them all instead of a million deferred checks), in the same transaction: PostgreSQL's
    own advice for populating a database. A million sessions: about 25 s less. The definitions come
    from the catalog, so everything comes back exactly as the migrations made it. Elsewhere, or
    for a table that has rows, nothing changes."""
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        yield
        return
    dropped = []  # (table, kind, name, definition)
    with connection.cursor() as cursor:
        for model in models:
            if model._default_manager.exists():
                continue
            table = connection.ops.quote_name(model._meta.db_table)
            for query in (SECONDARY_INDEXES, FOREIGN_KEYS):
                cursor.execute(query, [model._meta.db_table])
                dropped += [(table, *found) for found in cursor.fetchall()]
        for table, kind, name, _ in dropped:
            name = connection.ops.quote_name(name)
            cursor.execute(
                f"DROP INDEX {name}" if kind == "index" else f"ALTER TABLE {table} DROP CONSTRAINT {name}"
            )
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # DDL refuses pending deferred checks
        for table, kind, name, definition in dropped:
            name = connection.ops.quote_name(name)
            cursor.execute(
                definition if kind == "index" else f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
            )
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def related_models() -> list[type[models.Model]]:
    """Our models plus every installed model that (transitively) points at them, children first."""
    found = [Reschedule, Session, Tutor]
    changed = True
    while changed:
        changed = False
        for model in apps.get_models():
            if model in found:
                continue
            if any(
                f.many_to_one or f.one_to_one for f in model._meta.concrete_fields if f.related_model in found
            ):
                found.insert(0, model)  # points at something found: delete it before its target
                changed = True
    return found


def clear_data() -> None:
    """Delete tutors, sessions, reschedules and everything hanging off them (scores, alerts, mail log)."""
    tables = [connection.ops.quote_name(model._meta.db_table) for model in related_models()]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks still pending in this transaction would block TRUNCATE.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")  # children first: foreign keys stay valid


def tutors_exist(tutor_ids: Sequence[uuid.UUID]) -> bool:
    return Tutor.objects.filter(pk__in=tutor_ids).exists()


def write_tutors(tutors: Sequence[Tutor]) -> None:
    Tutor.objects.bulk_create(tutors, batch_size=2000)


def mark_for_scoring(tutor_ids: Sequence[uuid.UUID]) -> None:
    """Flag every new tutor for scoring, once all their sessions are in."""
    for start in range(0, len(tutor_ids), 5000):
        Tutor.mark_changed(tutor_ids[start : start + 5000])
