"""Coalesced enqueueing: while one task of a kind waits in the queue, asking for another is a
no-op, so the queue stays bounded however fast requests arrive (issue 15).

Used for tasks that do "everything outstanding" rather than one item (scoring rescores every
stale tutor, the mail outbox sends every due row): the waiting task covers whatever a skipped
request would have enqueued, provided the task clears its marker (`release_coalesced`) BEFORE it
reads what is outstanding. The marker is a key with a TTL (TASK_COALESCE_SECONDS) in the cache
"coalesce", which every web and worker process shares (Redis with REDIS_URL, else a database
table), so a task lost by the broker blocks new ones for that long at most; the periodic sweeps
cover that gap. With TASK_COALESCE_SECONDS = 0 every call enqueues.

A Redis broker that failed is not asked again by this process for BROKER_RETRY_SECONDS: while
Redis hangs, each request would otherwise wait out its socket timeouts; the callers fall back to
the periodic sweeps anyway. (The ORM broker is the database: a request fails without it.)
"""

import logging
from time import monotonic
from typing import Any

from django.conf import settings
from django.core.cache import caches

logger = logging.getLogger(__name__)

BROKER_RETRY_SECONDS = 10
_broker = {"unavailable_until": 0.0}


class BrokerUnavailable(ConnectionError):
    """The Redis broker failed moments ago in this process: not tried again yet."""


def _marker(key: str) -> str:
    return f"coalesce:{key}"


def enqueue_coalesced(func: str, *args: Any, key: str | None = None, **options: Any) -> bool:
    """async_task(func, *args, **options) unless one for `key` (default: func) is already waiting.

    Returns True when a task was enqueued. A broker error is raised (after clearing the marker)
    so that the caller logs it its own way; a cache error only costs the coalescing.
    """
    from django_q.tasks import async_task

    redis_broker = "redis" in settings.Q_CLUSTER
    if redis_broker and monotonic() < _broker["unavailable_until"]:
        raise BrokerUnavailable(f"the broker failed less than {BROKER_RETRY_SECONDS}s ago")
    ttl = settings.TASK_COALESCE_SECONDS
    marker = _marker(key or func)
    if ttl > 0:
        try:
            if not caches["coalesce"].add(marker, 1, timeout=ttl):
                return False
        except Exception:
            logger.warning("coalescing cache unavailable; enqueueing %s anyway", func, exc_info=True)
            ttl = 0
    try:
        async_task(func, *args, **options)
    except Exception:
        if redis_broker:
            _broker["unavailable_until"] = monotonic() + BROKER_RETRY_SECONDS
        if ttl > 0:
            release_coalesced(key or func)
        raise
    return True


def release_coalesced(key: str) -> None:
    """Called by the task as it starts: requests from now on enqueue a new task."""
    if settings.TASK_COALESCE_SECONDS <= 0:
        return
    try:
        caches["coalesce"].delete(_marker(key))
    except Exception:  # the marker expires by itself
        logger.warning("coalescing cache unavailable; marker %s left to expire", key, exc_info=True)
