"""GET /healthz: what is actually broken, in bounded time, with no key and no private data.

- `database` and `task_queue` (the broker): without them nothing is served or queued → 503.
- `workers` (each queue's scheduler/worker heartbeat: its schedules run on time), `outbox`
  (mail waiting too long or stuck), `static_files` (the production manifest): the site still
  serves, but something needs a person → 200 with status "degraded".

Every check is bounded: the database by connect_timeout (and a statement timeout on
PostgreSQL), Redis by its socket timeouts; a check that fails says so instead of hanging.
"""

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

logger = logging.getLogger(__name__)

CRITICAL = ("database", "task_queue")
HEALTH_STATEMENT_TIMEOUT_MS = 2000


def healthz(request: HttpRequest) -> JsonResponse:
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(
            {"error": "method_not_allowed", "message": "Use GET on this endpoint.", "details": {}}, status=405
        )
        response["Allow"] = "GET, HEAD"
        return response
    now = timezone.now()
    checks = {"database": _run(check_database), "task_queue": _run(check_task_queue)}
    if checks["database"]["status"] == "ok":  # the rest reads the database
        checks["workers"] = _run(check_workers, now=now)
        checks["outbox"] = _run(check_outbox, now=now)
    checks["static_files"] = _run(check_static_files)
    if any(checks[name]["status"] != "ok" for name in CRITICAL):
        status, code = "error", 503
    elif any(check["status"] != "ok" for check in checks.values()):
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    response = JsonResponse({"status": status, "checks": checks}, status=code)
    if code == 503:
        response["Retry-After"] = str(settings.UNAVAILABLE_RETRY_AFTER_SECONDS)
    return response


def _run(check, **kwargs):
    try:
        return check(**kwargs)
    except Exception as exc:
        logger.error("healthz: %s failed: %s: %s", check.__name__, type(exc).__name__, exc)
        return {"status": "error", "error": type(exc).__name__}


def check_database() -> dict[str, Any]:
    started = time.perf_counter()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {HEALTH_STATEMENT_TIMEOUT_MS}")
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def check_task_queue() -> dict[str, Any]:
    """Both queues reachable and how many tasks wait in each, and when a worker last finished a
    task. The ORM broker is the database; the Redis one is bounded by its socket timeouts."""
    from django_q.brokers import get_broker
    from django_q.models import Task

    broker = get_broker()
    broker.ping()
    queued = broker.queue_size()
    mail_queued = get_broker(settings.MAIL_QUEUE).queue_size()
    last_finished = Task.objects.order_by("-stopped").values_list("stopped", flat=True).first()
    return {
        "status": "ok",
        "broker": "redis" if "redis" in settings.Q_CLUSTER else "orm",
        "queued_tasks": queued,
        "queued_mail_tasks": mail_queued,
        "last_task_finished_at": last_finished.isoformat() if last_finished else None,
        "seconds_since_last_task": round((timezone.now() - last_finished).total_seconds())
        if last_finished
        else None,
    }


def check_workers(*, now: datetime) -> dict[str, Any]:
    """Each queue's heartbeat: its schedules (the stale sweep every 5 min, the outbox every
    minute) are run on time only while its cluster is up."""
    from django_q.models import Schedule

    late_before = now - timedelta(seconds=settings.HEALTH_SCHEDULE_GRACE_SECONDS)
    overdue = {}
    for name, cluster in (("scoring", None), ("mail", settings.MAIL_QUEUE)):
        schedules = Schedule.objects.exclude(repeats=0).filter(cluster=cluster)
        oldest = schedules.order_by("next_run").values_list("next_run", flat=True).first()
        overdue[name] = round((now - oldest).total_seconds()) if oldest and oldest < late_before else 0
    late = [name for name, seconds in overdue.items() if seconds]
    return {
        "status": "late" if late else "ok",
        **({"late": late} if late else {}),
        "overdue_seconds": overdue,
    }


def check_outbox(*, now: datetime) -> dict[str, Any]:
    from reports.outbox import backlog

    figures = backlog(now=now)
    too_old = (figures["oldest_waiting_seconds"] or 0) > settings.HEALTH_OUTBOX_MAX_AGE_SECONDS
    return {"status": "late" if too_old or figures["stuck_sending"] else "ok", **figures}


def check_static_files() -> dict[str, Any]:
    """In production the hashed-file manifest must exist (collectstatic ran), or every page 500s."""
    backend = settings.STORAGES["staticfiles"]["BACKEND"]
    if "Manifest" not in backend:
        return {"status": "ok", "manifest": "not used"}
    present = (settings.STATIC_ROOT / "staticfiles.json").exists()
    return {"status": "ok" if present else "missing", "manifest": "present" if present else "missing"}
