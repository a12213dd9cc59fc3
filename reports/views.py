"""Reports pages: the email log (filter, paginate, resend) and a preview of each kind of mail."""

import uuid
from collections.abc import Iterable
from datetime import datetime

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from scoring.models import Alert
from sessions.models import Session, Tutor
from tutorscore.lib.tasks import enqueue
from tutorscore.lib.views import StaffRequest, permission_required, render_page, staff_required
from tutorscore.text import safe_next_url

from . import content, delivery, digest, outbox
from .models import EmailReport

PAGE_SIZE = 50
PREVIEW_ALERTS = 3


def _choice(value: str, choices: Iterable[tuple[str, str]]) -> str:
    return value if value in dict(choices) else ""


def _tutor(tutor_id: str) -> Tutor | None:
    """The tutor a `?tutor=` filter names, or None (unknown or malformed ids are ignored)."""
    try:
        return Tutor.objects.filter(pk=uuid.UUID(tutor_id)).first()
    except ValueError:
        return None


@staff_required
def email_log(request: StaffRequest) -> HttpResponse:
    kind = _choice(request.GET.get("kind", ""), EmailReport.Kind.choices)
    status = _choice(request.GET.get("status", ""), EmailReport.Status.choices)
    tutor = _tutor(request.GET.get("tutor", ""))
    reports = EmailReport.objects.select_related("tutor").order_by("-created_at", "recipient_email")
    if kind:
        reports = reports.filter(kind=kind)
    if status:
        reports = reports.filter(status=status)
    if tutor:  # its own mails, and the alert mails that list one of its alerts
        reports = reports.filter(pk__in=EmailReport.objects.about_tutor(tutor).values("pk"))
    page = Paginator(reports, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "kind": kind,
        "status": status,
        "kinds": EmailReport.Kind.choices,
        "statuses": EmailReport.Status.choices,
        "tutor": tutor,
        "filter_query": urlencode(
            {
                key: value
                for key, value in (
                    ("kind", kind),
                    ("status", status),
                    ("tutor", str(tutor.pk) if tutor else ""),
                )
                if value
            }
        ),
        "next_url": request.get_full_path(),
        "poll_seconds": settings.DASHBOARD_POLL_SECONDS,
    }
    return render_page(request, "reports/email_log.html", "reports/_email_log_results.html", context)


@permission_required("reports.resend_email", "resend mail")
@require_POST
def resend(request: StaffRequest, report_id: uuid.UUID) -> HttpResponse:
    """Requeue a failed mail; the django-q2 task sends it (never the view)."""
    report = get_object_or_404(EmailReport, pk=report_id)
    requeued = delivery.resend([report.pk])
    if requeued:
        transaction.on_commit(
            lambda: enqueue("reports.tasks.deliver_reports", [str(report.pk)], cluster=settings.MAIL_QUEUE)
        )
    next_url = safe_next_url(request, reverse("reports:email_log"))
    if request.htmx:  # swap just this row
        report.refresh_from_db()
        return render(request, "reports/_email_row.html", {"report": report, "next_url": next_url})
    if requeued:
        messages.success(request, f"Resending to {report.recipient_email}.")
    else:
        messages.info(request, f"Not resent: the mail to {report.recipient_email} is {report.status}.")
    return redirect(next_url)


def _preview_context(kind: str, *, now: datetime) -> dict | None:
    """The data a preview of `kind` is rendered from, or None when there is none yet."""
    if kind == EmailReport.Kind.SESSION_REPORT:
        session = (
            Session.objects.filter(status__in=outbox.REPORTED_SESSION_STATUSES)
            .select_related("tutor__score", "reschedule")
            .order_by("-scheduled_time")
            .first()
        )
        return content.session_report_context(session) if session else None
    if kind == EmailReport.Kind.ALERT:  # a batch: the latest few alerts
        alerts = list(Alert.objects.select_related("tutor__score").order_by("-opened_at")[:PREVIEW_ALERTS])
        return content.alert_context(alerts) if alerts else None
    if not Session.objects.exists():
        return None
    return digest.digest_context(now=now)


@staff_required
# The mail's own inline styles, in its srcdoc iframe (csp types its decorators for one-argument views).
@csp_update({"style-src": [UNSAFE_INLINE]})  # type: ignore[arg-type]
def preview(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in EmailReport.Kind.values:
        raise Http404("No such kind of mail.")
    context = _preview_context(kind, now=timezone.now())
    rendered = context and content.render_mail(kind, context)
    return render(
        request,
        "reports/preview.html",
        {"kind": kind, "kinds": EmailReport.Kind.choices, "rendered": rendered},
    )
