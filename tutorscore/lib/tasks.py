"""Enqueue a django-q2 task by dotted path: an unavailable broker is logged, never raised.

Every caller has a fallback that runs the work anyway (a periodic sweep or schedule), so a lost
enqueue must never fail the request, save or task that asked for it.
"""

import logging
import reprlib
from typing import Any

from tutorscore.coalesce import enqueue_coalesced

logger = logging.getLogger(__name__)

# The log line names the first few arguments in full (session ids are 36 characters), not thousands.
_args_repr = reprlib.Repr()
_args_repr.maxstring, _args_repr.maxlist = 80, 3


def enqueue(
    func: str,
    *args: Any,
    cluster: str | None = None,
    coalesce: bool = False,
    fallback: str = "",
    **options: Any,
) -> bool:
    """async_task(func, *args, **options), on queue `cluster` when given (default: the main one).

    coalesce=True: a no-op while a task for `func` already waits (tutorscore/coalesce.py).
    `fallback` says in the log line what does the work if this task is lost.
    Returns True when a task was enqueued.
    """
    from django_q.tasks import async_task  # looked up per call: tests replace it

    if cluster is not None:
        options["cluster"] = cluster
    try:
        if coalesce:
            return enqueue_coalesced(func, *args, **options)
        async_task(func, *args, **options)
        return True
    except Exception:
        name = options.get("task_name")
        logger.exception(
            "could not enqueue %s%s args=%s%s",
            func,
            f" ({name})" if name else "",
            _args_repr.repr(args),
            f"; {fallback}" if fallback else "",
        )
        return False
