"""Migration operations that build or drop an index without blocking writes on PostgreSQL."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations
from django.db.migrations.operations.base import Operation


class _ConcurrentlyOnPostgreSQL(Operation):
    """The CONCURRENTLY operation (next in the MRO) on PostgreSQL; `plain`, its ordinary
    counterpart, elsewhere (SQLite has no concurrent build)."""

    plain: type[migrations.AddIndex] | type[migrations.RemoveIndex]

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexOnline(_ConcurrentlyOnPostgreSQL, AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, so ingest keeps writing sessions while the index
    builds (a plain CREATE INDEX blocks writes: seconds at 10 million sessions)."""

    plain = migrations.AddIndex


class RemoveIndexOnline(_ConcurrentlyOnPostgreSQL, RemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL (a plain DROP INDEX waits for, and then blocks, every
    query on the table)."""

    plain = migrations.RemoveIndex
