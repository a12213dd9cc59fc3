"""Database triggers that copy a reschedule's counted fields onto its session.

A score counts a tutor's reschedules by initiator, reason code and notice (scoring/facts.py).
Joined from `reschedules`, that cost one index lookup per reschedule: more than half of what
rescoring busy tutors read at 10 million sessions (184 of 311 ms for 100 of them). So each
session carries copies of the three fields (`reschedule_initiator`, `reschedule_reason_code`,
`reschedule_hours_before`; NULL without a reschedule), and the partial index
sessions_reschedule_counts_idx holds them.

The copies are kept by the database itself, on every INSERT, UPDATE and DELETE of `reschedules`,
so no write path can forget them: the ingest's COPY and bulk update, the admin, the generator.
An update that changes nothing on the session writes nothing.

On SQLite, a migration that rebuilds `reschedules` (Django remakes a table to alter a column)
drops its triggers: such a migration must call `install` again (sessions/tests/test_triggers.py
fails otherwise).
"""

COPIED = {  # session column: reschedule column
    "reschedule_initiator": "initiator",
    "reschedule_reason_code": "reason_code",
    "reschedule_hours_before": "hours_before_session",
}


def _assign(row: str) -> str:
    return ", ".join(f"{copy} = {row}.{source}" for copy, source in COPIED.items())


_CLEARED = ", ".join(f"{copy} = NULL" for copy in COPIED)
_COPIES = ", ".join(COPIED)
_SOURCES = ", ".join(f"NEW.{source}" for source in COPIED.values())

POSTGRESQL = [
    f"""
CREATE OR REPLACE FUNCTION sessions_copy_reschedule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE sessions SET {_CLEARED} WHERE id = OLD.session_id;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.session_id <> NEW.session_id THEN
        UPDATE sessions SET {_CLEARED} WHERE id = OLD.session_id;
    END IF;
    UPDATE sessions SET {_assign("NEW")}
    WHERE id = NEW.session_id AND ({_COPIES}) IS DISTINCT FROM ({_SOURCES});
    RETURN NULL;
END
$$""",
    """
CREATE TRIGGER reschedules_copy_to_session AFTER INSERT OR UPDATE OR DELETE ON reschedules
FOR EACH ROW EXECUTE FUNCTION sessions_copy_reschedule()""",
]
POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS reschedules_copy_to_session ON reschedules",
    "DROP FUNCTION IF EXISTS sessions_copy_reschedule()",
]

# SQLite's IS NOT compares NULLs as values, as PostgreSQL's IS DISTINCT FROM does.
_CHANGED = " OR ".join(f"{copy} IS NOT NEW.{source}" for copy, source in COPIED.items())
SQLITE = [
    f"""
CREATE TRIGGER reschedules_copy_on_insert AFTER INSERT ON reschedules BEGIN
    UPDATE sessions SET {_assign("NEW")} WHERE id = NEW.session_id AND ({_CHANGED});
END""",
    f"""
CREATE TRIGGER reschedules_copy_on_update AFTER UPDATE ON reschedules BEGIN
    UPDATE sessions SET {_CLEARED} WHERE id = OLD.session_id AND OLD.session_id <> NEW.session_id;
    UPDATE sessions SET {_assign("NEW")} WHERE id = NEW.session_id AND ({_CHANGED});
END""",
    f"""
CREATE TRIGGER reschedules_copy_on_delete AFTER DELETE ON reschedules BEGIN
    UPDATE sessions SET {_CLEARED} WHERE id = OLD.session_id;
END""",
]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS reschedules_copy_on_{event}" for event in ("insert", "update", "delete")
]

# Copies for the reschedules stored before the triggers existed.
BACKFILL = {
    "postgresql": f"UPDATE sessions s SET {_assign('r')} FROM reschedules r WHERE r.session_id = s.id",
    "sqlite": (
        f"UPDATE sessions SET ({_COPIES}) = "
        f"(SELECT {', '.join(COPIED.values())} FROM reschedules r WHERE r.session_id = sessions.id) "
        "WHERE id IN (SELECT session_id FROM reschedules)"
    ),
}


def install(apps, schema_editor) -> None:
    """Create the triggers, then copy what is already stored (so a write in between is copied
    too)."""
    vendor = schema_editor.connection.vendor
    for statement in POSTGRESQL if vendor == "postgresql" else SQLITE:
        schema_editor.execute(statement)
    schema_editor.execute(BACKFILL[vendor])


def uninstall(apps, schema_editor) -> None:
    for statement in POSTGRESQL_DROP if schema_editor.connection.vendor == "postgresql" else SQLITE_DROP:
        schema_editor.execute(statement)
