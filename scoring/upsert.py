"""Writing scores: one upsert on tutor that never replaces a score computed from newer data.

Table and column names come from TutorScore._meta, so the SQL follows the model.
"""

import functools
import operator
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import chain, islice

import orjson
from django.db import connection, models, transaction
from django.utils import timezone

from .facts import as_uuid
from .models import TutorScore
from .rates import WINDOWS

# From this many tutors on, PostgreSQL writes scores with COPY; a handful of tutors (the
# per-ingest path) is cheaper with a plain INSERT. Measured: about even at 50–100 tutors; a
# burst's coalesced task of 300 tutors rescores in 0.15–0.17 s with COPY, 0.19–0.27 s without.
BULK_THRESHOLD = 100
# Scores per COPY and upsert on that path: small enough that writing one chunk overlaps building
# most of the next, large enough that the statements stay few (10 for 10,000 tutors).
COPY_CHUNK = 1000

# Every TutorScore field the engine writes (the upsert updates exactly these).
SCORE_FIELDS = [
    *(f"total_sessions_{days}d" for days in WINDOWS),
    *(f"tutor_reschedules_{days}d" for days in WINDOWS),
    *(f"reschedule_rate_{days}d" for days in WINDOWS),
    "no_shows_30d",
    "no_show_rate_30d",
    "first_sessions_90d",
    "retained_first_sessions_90d",
    "first_session_retention_90d",
    "average_rating_90d",
    "rated_sessions_90d",
    "reschedule_flag",
    "no_show_flag",
    "first_session_flag",
    "is_high_risk",
    "is_watching",
    "risk_score",
    "risk_level",
    "evidence",
    "reasons",
    "recommendations",
    "reschedule_rate_threshold",
    "no_show_rate_threshold",
    "first_session_retention_threshold",
    "minimum_sessions",
    "flag_evidence_ratio",
    "last_calculated_at",
    "sessions_version",
    "updated_at",
]
SAVED_FIELDS = ["id", "tutor_id", "created_at", *SCORE_FIELDS]

# A score never replaces one computed from newer data: the hourly recompute reads every tutor's
# version first and commits seconds later, after per-ingest tasks may have scored newer sessions
# (overwriting them would resolve their alerts, and reopen them at the next sweep).
NEWER_DATA_ONLY = "sessions_version"
# With newer_only, nor one calculated later: two workers may score the same tutor at once (a
# coalesced burst), and the one that started first may commit last.
NEWER_ONLY = "last_calculated_at"


def save_scores(scores: Iterable[TutorScore], *, newer_only: bool = False) -> list[TutorScore]:
    """Upsert the rows on tutor, unless the stored score was computed from a newer
    sessions_version (with newer_only: or calculated later); returns the scores that landed.
    `scores` may be lazy (engine.compute_scores builds them as they are consumed).
    PostgreSQL with many rows: in chunks, each COPY into a temporary table then one INSERT … ON
    CONFLICT; otherwise multi-row INSERT … ON CONFLICT statements (SQLite batches them by its
    variable limit)."""
    scores = iter(scores)
    head = list(islice(scores, BULK_THRESHOLD))
    saved_at = timezone.now()  # auto_now, as Model.save would set updated_at
    if connection.vendor == "postgresql" and len(head) == BULK_THRESHOLD:
        return _copy_upsert(chain(head, scores), saved_at=saved_at, newer_only=newer_only)
    everything = [*head, *scores]
    for score in everything:
        score.updated_at = saved_at
        score.id = score.id or uuid.uuid4()  # used only if it is the tutor's first score
    landed = _insert_upsert(everything, newer_only=newer_only) if everything else set()
    return [score for score in everything if score.tutor_id in landed]


def _saved_fields() -> list[models.Field]:
    fields = {field.attname: field for field in TutorScore._meta.concrete_fields}
    return [fields[name] for name in SAVED_FIELDS]


@functools.cache
def _names(vendor: str) -> tuple[str, dict[str, str]]:
    """TutorScore's quoted table name and column names by attribute name ('tutor_id', not 'tutor'),
    worked out once per database vendor rather than on every write (each `connection.ops` lookup
    goes through the connection proxy)."""
    quote = connection.ops.quote_name
    columns = {field.attname: quote(field.column) for field in TutorScore._meta.concrete_fields}
    return quote(TutorScore._meta.db_table), columns


def _upsert_tail(table: str, columns: dict[str, str], *, newer_only: bool) -> str:
    updates = ", ".join(f"{columns[name]} = EXCLUDED.{columns[name]}" for name in SCORE_FIELDS)
    rules = [NEWER_DATA_ONLY, NEWER_ONLY] if newer_only else [NEWER_DATA_ONLY]
    where = " AND ".join(f"{table}.{columns[name]} <= EXCLUDED.{columns[name]}" for name in rules)
    tutor = columns["tutor_id"]
    return f"ON CONFLICT ({tutor}) DO UPDATE SET {updates} WHERE {where} RETURNING {tutor}"


def _insert_upsert(scores: Sequence[TutorScore], *, newer_only: bool) -> set[uuid.UUID]:
    # Hand-written rather than bulk_create(update_conflicts=...): that cannot say "only when
    # newer", and compiling it was a visible share of the one-tutor path.
    fields = _saved_fields()
    table, columns = _names(connection.vendor)
    column_list = ", ".join(columns[name] for name in SAVED_FIELDS)
    tail = _upsert_tail(table, columns, newer_only=newer_only)
    batch = max(1, connection.ops.bulk_batch_size(fields, scores))
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    landed: set[uuid.UUID] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(scores), batch):
            chunk = scores[start : start + batch]
            params = [
                field.get_db_prep_save(getattr(score, field.attname), connection)
                for score in chunk
                for field in fields
            ]
            cursor.execute(
                f"INSERT INTO {table} ({column_list}) VALUES {', '.join([row] * len(chunk))} {tail}",
                params,
            )
            landed.update(as_uuid(tutor_id) for (tutor_id,) in cursor.fetchall())
    return landed


def _json_text(value: object) -> str:
    # The evidence's keys are alert kinds (str enums), which orjson takes with OPT_NON_STR_KEYS.
    # It writes 10,000 scores' evidence, reasons and recommendations in a quarter of json.dumps' time.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# Every score of a recompute holds the same settings and times: they are bound to each chunk's
# upsert once rather than copied 10,000 times (a quarter of the COPY's columns and its Python).
SHARED_FIELDS = [
    "created_at",
    "last_calculated_at",
    "updated_at",
    "reschedule_rate_threshold",
    "no_show_rate_threshold",
    "first_session_retention_threshold",
    "minimum_sessions",
    "flag_evidence_ratio",
]


def _copy_upsert(scores: Iterator[TutorScore], *, saved_at: datetime, newer_only: bool) -> list[TutorScore]:
    # Binding 10,000 rows × 35 values as query parameters costs seconds of Python; COPY streams
    # them in a fraction of that. Same columns, same conflict rule as the INSERT path.
    # The id is not copied: the database gives one to a tutor's first score (the upsert keeps a
    # stored score's id), so no UUID is generated, nor written, per score.
    copied = [field for field in _saved_fields() if field.attname not in ("id", *SHARED_FIELDS)]
    as_json = [position for position, field in enumerate(copied) if isinstance(field, models.JSONField)]
    row_of = operator.attrgetter(*(field.attname for field in copied))
    shared_of = operator.attrgetter(*SHARED_FIELDS)
    table, columns = _names(connection.vendor)
    column_list = ", ".join(columns[field.attname] for field in copied)
    shared_list = ", ".join(columns[name] for name in SHARED_FIELDS)
    upsert = (
        f"INSERT INTO {table} ({columns['id']}, {column_list}, {shared_list}) "
        f"SELECT gen_random_uuid(), {column_list}, {', '.join(['%s'] * len(SHARED_FIELDS))} "
        f"FROM scoring_upsert ORDER BY {columns['tutor_id']} "
        f"{_upsert_tail(table, columns, newer_only=newer_only)}"
    )
    landed: list[TutorScore] = []
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.scoring_upsert")
        cursor.execute(
            f"CREATE TEMPORARY TABLE scoring_upsert ON COMMIT DROP AS SELECT {column_list} FROM {table} "
            "WITH NO DATA"
        )
        chunk = list(islice(scores, COPY_CHUNK))
        while chunk:
            chunk[0].updated_at = saved_at
            shared = shared_of(chunk[0])
            with cursor.cursor.copy(f"COPY scoring_upsert ({column_list}) FROM STDIN") as copy:
                for score in chunk:
                    score.updated_at = saved_at
                    if shared_of(score) != shared:
                        raise ValueError("the scores of one save share their settings and calculation time")
                    row = list(row_of(score))  # one C call for the 27 values, not 27 getattr()s
                    for position in as_json:
                        row[position] = _json_text(row[position])
                    copy.write_row(row)
            # Pipeline mode sends the upsert, and the TRUNCATE that empties the table for the next
            # chunk, without waiting for them: PostgreSQL writes this chunk while Python builds the
            # next one (a lazy `scores`), on the other core.
            with cursor.cursor.connection.pipeline():
                cursor.execute(upsert, shared)
                cursor.cursor.connection.execute("TRUNCATE scoring_upsert")
                written, chunk = chunk, list(islice(scores, COPY_CHUNK))
            kept = {tutor_id for (tutor_id,) in cursor.fetchall()}
            landed.extend(score for score in written if score.tutor_id in kept)
    return landed
