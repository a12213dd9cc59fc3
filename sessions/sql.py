"""Hand-written SQL for the ingest's hot statements (lookups, COPY of new rows, updates by key).

Building an ORM statement costs 0.5–0.8 ms of Python, more than PostgreSQL needs to run these
small lookups, and an `IN` list makes Django and psycopg handle every value as a parameter of its
own. Here a list travels as ONE array parameter on PostgreSQL (`= ANY(%s)`); other databases
(SQLite: the demo) get an `IN` list. Values go in through the fields' `get_db_prep_value` and rows
come back through the same converters the ORM applies (none on PostgreSQL for these columns).
"""

from collections.abc import Sequence
from typing import cast

from django.db import connection
from django.db.models import Field, Model


def _array(field) -> str:
    return f"%s::{field.db_type(connection).split('(')[0]}[]"  # varchar(100)[] would truncate


def matching(column: str, field, values) -> tuple[str, list]:
    """(SQL, params) of `column` matched against these values of `field` (never empty)."""
    values = list(values)
    if connection.vendor == "postgresql":
        return f"{column} = ANY({_array(field)})", [values]
    prepared = [field.get_db_prep_value(value, connection) for value in values]
    return f"{column} IN ({', '.join(['%s'] * len(prepared))})", prepared


def matching_rows(columns: list[str], fields: list, rows) -> tuple[str, list]:
    """(SQL, params) of these columns matched, together, against these tuples (never empty): on
    PostgreSQL one array per column, paired up again by `unnest`."""
    rows = list(rows)
    names = ", ".join(columns)
    if connection.vendor == "postgresql":
        arrays = ", ".join(_array(field) for field in fields)
        return f"({names}) IN (SELECT * FROM unnest({arrays}))", [
            list(values) for values in zip(*rows, strict=True)
        ]
    params = [
        field.get_db_prep_value(value, connection)
        for row in rows
        for field, value in zip(fields, row, strict=True)
    ]
    placeholders = f"({', '.join(['%s'] * len(fields))})"
    return f"({names}) IN (VALUES {', '.join([placeholders] * len(rows))})", params


def lock_clause() -> str:
    """The row lock the ingest takes on what it reads ('' where the database has none: SQLite
    already holds the write lock)."""
    return " FOR NO KEY UPDATE" if connection.features.has_select_for_update else ""


def fetch(sql: str, params: list, fields) -> list[tuple]:
    """The rows of a statement whose columns are these model fields, as the ORM would convert them."""
    # get_col(): a foreign key's column converts as its target's, as in the ORM's own queries.
    columns = [field.get_col(field.model._meta.db_table) for field in fields]
    converters = [
        (position, converter, column)
        for position, column in enumerate(columns)
        for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not converters:
        return rows
    converted = []
    for row in rows:
        row = list(row)
        for position, converter, column in converters:
            row[position] = converter(row[position], column, connection)
        converted.append(tuple(row))
    return converted


def execute(sql: str, params: list) -> int:
    """Run a write; the number of rows it touched."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def copy_rows(model, columns: list[str], rows: list[tuple]) -> None:
    """Insert rows (tuples of Python values in `columns` order, attnames of `model`); on PostgreSQL
    with one binary COPY, which streams the values without a parameter, a model object or a text
    form each (bulk_create spent half its time binding 13 parameters × 1,000 rows). A duplicate
    key raises Django's IntegrityError, which the ingest retries. Other databases (SQLite: the
    demo) keep bulk_create."""
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**dict(zip(columns, row, strict=True))) for row in rows])
        return
    fields = [model._meta.get_field(column) for column in columns]
    quote = connection.ops.quote_name
    names = ", ".join(quote(field.column) for field in fields)
    types = [field.db_type(connection).split("(")[0] for field in fields]  # psycopg knows them by name
    with connection.wrap_database_errors, connection.cursor() as cursor:
        sql = f"COPY {quote(model._meta.db_table)} ({names}) FROM STDIN (FORMAT BINARY)"
        with cursor.cursor.copy(sql) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


def bulk_update(model: type[Model], objs: Sequence[Model], fields: Sequence[str]) -> None:
    """Write these fields of every object, by primary key, in one statement on PostgreSQL.

    Django's bulk_update writes one CASE per field with a branch per row: for a batch of 1,000
    changed sessions it spent 2–3 s building the SQL and 0.4 s running it (each row walks the
    CASE), holding the batch's tutor locks all along. Here each column travels as one array and
    `unnest` pairs them up again. Other databases (SQLite: the demo) keep Django's bulk_update.
    """
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objs, fields)
        return
    quote = connection.ops.quote_name
    table, key = quote(model._meta.db_table), model._meta.pk
    columns = [key, *(cast(Field, model._meta.get_field(name)) for name in fields)]
    # Arrays of the bare types: an explicit cast to varchar(100) would silently truncate, while
    # assigning to the column still checks its length.
    arrays = ", ".join(_array(column) for column in columns)
    names = ", ".join(quote(column.column) for column in columns)
    assignments = ", ".join(f"{quote(column.column)} = v.{quote(column.column)}" for column in columns[1:])
    # The objects' Python values as they are, as copy_rows sends them (UUID, aware datetime, str,
    # int, bool, Decimal, None: psycopg adapts each). get_db_prep_save returns these unchanged on
    # PostgreSQL, at 3 µs a value: a third of the web CPU of a batch of 1,000 changed sessions.
    params = [[getattr(obj, column.attname) for obj in objs] for column in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({names}) "
            f"WHERE {table}.{quote(key.column)} = v.{quote(key.column)}",
            params,
        )
