"""The task broker: django-q2's ORM queue, woken by LISTEN/NOTIFY on PostgreSQL."""

import threading

import psycopg
import pytest
from django.db import connection, connections
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ

from tutorscore.broker import NotifyingORM

pytestmark = pytest.mark.django_db(transaction=True)  # the listener is a connection of its own

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's")


@pytest.fixture
def broker(monkeypatch):
    monkeypatch.setattr(Conf, "POLL", 0.05)
    broker = get_broker("test-queue")
    yield broker
    if broker.listener is not None:
        broker.listener.close()


def test_the_configured_broker_is_the_notifying_orm_broker():
    assert isinstance(get_broker(), NotifyingORM)


def test_a_task_is_handed_out_once_and_removed_when_acknowledged(broker):
    task_id = broker.enqueue("signed task")

    assert broker.dequeue() == [(task_id, "signed task")]
    assert broker.dequeue() is None  # locked until the retry timeout
    broker.acknowledge(task_id)
    assert not OrmQ.objects.filter(pk=task_id).exists()


@postgres_only
def test_an_idle_pusher_wakes_as_soon_as_another_process_enqueues(broker, monkeypatch):
    # Polling alone would find the task only after 30 s, and dequeue would return None first.
    monkeypatch.setattr(Conf, "POLL", 30)
    assert broker.listen()

    def enqueue_elsewhere():
        try:
            get_broker("test-queue").enqueue("late task")
        finally:
            connections.close_all()  # this thread's own connection

    threading.Timer(0.2, enqueue_elsewhere).start()

    tasks = broker.dequeue()

    assert [payload for _, payload in tasks] == ["late task"]


@postgres_only
def test_without_a_listener_it_polls_like_the_stock_broker(broker, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise psycopg.OperationalError("too many connections")

    monkeypatch.setattr(psycopg, "connect", refuse)
    task_id = broker.enqueue("task")

    assert broker.dequeue() == [(task_id, "task")]
    assert "LISTEN failed, polling every 0.05s instead" in caplog.text


@postgres_only
def test_a_lost_listener_connection_is_reopened(broker, monkeypatch, caplog):
    monkeypatch.setattr(Conf, "POLL", 0.5)
    assert broker.dequeue() is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [broker.listener.info.backend_pid])

    assert broker.dequeue() is None  # the wait fails: logged, the connection dropped
    assert "LISTEN connection lost" in caplog.text
    task_id = broker.enqueue("task")
    assert broker.dequeue() == [(task_id, "task")]
    assert not broker.listener.closed


@postgres_only
def test_a_connection_lost_under_a_claim_costs_one_empty_look(broker, monkeypatch, caplog):
    task_id = broker.enqueue("task")
    orm = connections[Conf.ORM]
    # Dropped after the health check that precedes each claim: the claim's own query fails.
    monkeypatch.setattr(NotifyingORM, "get_connection", staticmethod(lambda list_key=None: OrmQ.objects))
    with psycopg.connect(**orm.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [orm.connection.info.backend_pid])

    assert broker.dequeue() is None  # logged, not raised: the pusher lives on
    assert "database connection lost while claiming" in caplog.text
    assert broker.dequeue() == [(task_id, "task")]
