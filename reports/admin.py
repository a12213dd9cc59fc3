from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from tutorscore.lib.tasks import enqueue

from . import delivery
from .models import EmailReport


@admin.register(EmailReport)
class EmailReportAdmin(admin.ModelAdmin):
    """Read-only log of every message; failed ones can be resent."""

    list_display = [
        "created_at",
        "kind",
        "recipient_email",
        "subject",
        "status",
        "attempts",
        "tutor",
        "sent_at",
    ]
    list_filter = ["kind", "status", "created_at"]
    # A batch alert mail is found through any tutor it lists.
    search_fields = [
        "recipient_email",
        "subject",
        "event_key",
        "provider_message_id",
        "tutor__name",
        "alerts__tutor__name",
    ]
    list_select_related = ["tutor"]
    date_hierarchy = "created_at"
    actions = ["resend_failed"]
    readonly_fields = [field.name for field in EmailReport._meta.fields] + ["listed_alerts"]

    @admin.display(description="alerts listed")
    def listed_alerts(self, obj: EmailReport) -> str:
        alerts = obj.alerts.select_related("tutor").order_by("opened_at", "tutor__name")
        return "; ".join(f"{alert.tutor.name}: {alert.get_kind_display().lower()}" for alert in alerts) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: EmailReport | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: EmailReport | None = None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reports.resend_email")

    @admin.action(description="Resend selected failed mails", permissions=["resend"])
    def resend_failed(self, request: HttpRequest, queryset: QuerySet[EmailReport]) -> None:
        selected = list(queryset.values_list("pk", flat=True))
        ids = [str(pk) for pk in delivery.resend(selected)]
        if ids:
            transaction.on_commit(
                lambda: enqueue("reports.tasks.deliver_reports", ids, cluster=settings.MAIL_QUEUE)
            )
        skipped = len(selected) - len(ids)
        self.message_user(request, f"Resending {len(ids)} mail(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} were not failed and were left alone.", messages.WARNING)
