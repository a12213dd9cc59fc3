"""tutorscore.lib.tasks.enqueue: by dotted path, on the queue asked for; a broken broker is logged."""

import logging

import pytest

from tutorscore.lib.tasks import enqueue


@pytest.fixture
def calls(db, monkeypatch, settings):
    settings.TASK_COALESCE_SECONDS = 30
    made = []
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda func, *args, **kwargs: made.append((func, args, kwargs))
    )
    yield made
    from django.core.cache import caches

    caches["coalesce"].clear()


def test_enqueues_by_dotted_path_on_the_queue_asked_for(calls):
    assert enqueue("app.tasks.work", [1, 2], cluster="mail", save=False) is True
    assert enqueue("app.tasks.other") is True
    assert calls == [
        ("app.tasks.work", ([1, 2],), {"cluster": "mail", "save": False}),
        ("app.tasks.other", (), {}),
    ]


def test_coalesced_enqueues_one_while_one_waits(calls):
    assert [enqueue("app.tasks.work", number, coalesce=True) for number in range(3)] == [True, False, False]
    assert [func for func, _, _ in calls] == ["app.tasks.work"]


@pytest.mark.parametrize("coalesce", [False, True])
def test_a_broken_broker_is_logged_never_raised(calls, monkeypatch, caplog, coalesce):
    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("django_q.tasks.async_task", broken)
    ids = [f"session-{number:02}" for number in range(50)]
    with caplog.at_level(logging.ERROR, logger="tutorscore.lib.tasks"):
        queued = enqueue(
            "app.tasks.work", ids, coalesce=coalesce, fallback="the sweep does it", task_name="work 50"
        )

    assert queued is False
    [record] = caplog.records
    assert record.getMessage() == (
        "could not enqueue app.tasks.work (work 50) args=(['session-00', 'session-01', 'session-02', ...],)"
        "; the sweep does it"
    )
    assert record.exc_info[0] is ConnectionError
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    assert enqueue("app.tasks.work", coalesce=coalesce) is True  # a failed try leaves no marker behind
