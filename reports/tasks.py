"""django-q2 tasks of the reports app, all on the mail queue (settings.MAIL_QUEUE), served by its
own cluster (the Procfile's worker-mail): a slow provider never holds a scoring worker.

Thin wrappers around reports.outbox / reports.delivery; each is safe to run twice (rows are created
on their unique key and claimed before sending).
"""

from collections.abc import Iterable

from django.conf import settings
from django.utils import timezone

from tutorscore.coalesce import release_coalesced
from tutorscore.lib.tasks import enqueue

from . import delivery, outbox


def flush_outbox() -> int:
    """Every minute, and after scoring: reclaim, batch alerts, send what is due."""
    release_coalesced(outbox.FLUSH_TASK)  # a kick from now on enqueues a new run
    return outbox.flush(now=timezone.now())


def request_flush() -> None:
    """Ask the mail cluster for an outbox run soon (coalesced); a broker error is logged: the
    every-minute schedule runs it anyway."""
    enqueue(
        outbox.FLUSH_TASK,
        cluster=settings.MAIL_QUEUE,
        coalesce=True,
        fallback="the outbox schedule will send the mail",
        save=False,
    )


def send_daily_digest() -> int:
    """Queue and send today's digest (run daily by the reports.daily_digest schedule)."""
    now = timezone.now()
    return delivery.deliver_reports(outbox.queue_digest(now=now), now=now)


def deliver_reports(report_ids: Iterable[object]) -> int:
    """Send rows that were requeued (resend from the log or the admin)."""
    return delivery.deliver_reports(report_ids)
