"""django-q2's ORM broker, woken by PostgreSQL LISTEN/NOTIFY instead of sleeping between polls.

The stock ORM broker sleeps `poll` seconds whenever its queue is empty, so a task waits half a
poll on average before a worker sees it: that, not the scoring, was most of the time from a
session's 202 to its score. On PostgreSQL the statement that inserts a task also sends a NOTIFY
(delivered when the row commits), and an idle pusher waits on LISTEN, still for at most `poll`
seconds, so tasks whose lock expired (retries) are found as before. On other databases it is
the stock broker.
"""

import logging

import psycopg
from django.db import InterfaceError, OperationalError, connections
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ
from psycopg import sql

logger = logging.getLogger(__name__)


class NotifyingORM(ORM):
    def __init__(self, list_key: str | None = None) -> None:
        super().__init__(list_key=list_key)
        self.channel = f"django_q.{self.list_key}"
        # The pusher's own connection; LISTEN belongs to one session.
        self.listener: psycopg.Connection | None = None

    @staticmethod
    def on_postgres() -> bool:
        return connections[Conf.ORM].vendor == "postgresql"

    def enqueue(self, task: str) -> int:
        if not self.on_postgres():
            return super().enqueue(task)
        # Not the stock broker's get_connection(): its close_old_connections() is for the pusher's
        # long-lived thread, and in a request it made the next statement pay a health check
        # (SELECT 1). Requests and tasks already get Django's connection checks.
        connection = connections[Conf.ORM]
        # One statement, so one commit: a NOTIFY makes its own transaction commit to disk too.
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH task AS (INSERT INTO {connection.ops.quote_name(OrmQ._meta.db_table)} "
                "(key, payload, lock) VALUES (%s, %s, %s) RETURNING id) "
                "SELECT id, pg_notify(%s, '') FROM task",
                [self.list_key or Conf.CLUSTER_NAME, task, timezone.now(), self.channel],
            )
            return cursor.fetchone()[0]

    def dequeue(self) -> list[tuple[int, str]] | None:
        # Listen before looking, so that a task enqueued in between still wakes us.
        if not self.on_postgres() or not self.listen():
            return super().dequeue()
        try:
            tasks = self.claim()
            if not tasks and self.wait():
                tasks = self.claim()
        except (OperationalError, InterfaceError):
            # The connection died under a query (a database restart): the health check before
            # each claim cannot see that. Raising would kill the pusher, which django-q restarts
            # only seconds later; a task claimed just before is handed out again after its lock.
            logger.warning("task queue: database connection lost while claiming; reconnecting", exc_info=True)
            connections[Conf.ORM].close()
            return None
        return tasks or None

    def claim(self) -> list[tuple[int, str]]:
        """Lock up to `bulk` ready tasks: the stock ORM broker's claim, without its sleep."""
        tasks = self.get_connection().filter(key=self.list_key, lock__lt=timezone.now())[: Conf.BULK]
        claimed = []
        for task in tasks:
            # Another cluster may have been faster: then nothing is updated and we skip the task.
            if self.get_connection().filter(id=task.id, lock=task.lock).update(lock=self.timeout(task)):
                claimed.append((task.pk, task.payload))
        return claimed

    def listen(self) -> bool:
        """Open the LISTEN connection if needed; False (after logging) when it cannot be opened."""
        if self.listener is not None and not self.listener.closed:
            return True
        try:
            self.listener = psycopg.connect(**connections[Conf.ORM].get_connection_params(), autocommit=True)
            self.listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except psycopg.Error:
            logger.warning("task queue: LISTEN failed, polling every %ss instead", Conf.POLL, exc_info=True)
            self.listener = None
            return False
        return True

    def wait(self) -> bool:
        """Block until a NOTIFY or `poll` seconds; True when notified."""
        assert self.listener is not None  # dequeue() waits only after listen() opened it
        try:
            # stop_after=1 still yields every notification that arrived together: one look at
            # the queue answers them all.
            return any(True for _ in self.listener.notifies(timeout=Conf.POLL, stop_after=1))
        except psycopg.Error:
            logger.warning("task queue: LISTEN connection lost; reconnecting", exc_info=True)
            self.listener.close()
            self.listener = None
            return False
