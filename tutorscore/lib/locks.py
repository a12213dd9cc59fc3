"""A lock across every process and host that shares the database."""

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """The 64-bit advisory lock key of a name (stable across processes and releases)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@contextmanager
def one_at_a_time(name: str) -> Iterator[None]:
    """Run the block in one process at a time: others wait for it. A PostgreSQL session-level
    advisory lock, so it holds across the block's own transactions and is released with the
    connection if the process dies; on SQLite (one writer at a time anyway) the block just runs."""
    if connection.vendor != "postgresql":
        yield
        return
    key = lock_key(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        except DatabaseError:  # a broken connection: closing it ends the session and its locks
            logger.warning("could not release lock %r; closing the connection", name, exc_info=True)
            connection.close()
