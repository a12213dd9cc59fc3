"""Admin for ops staff: tune the scoring settings; read scores, history and alerts.

Scores and history are computed data, so they are read-only here. Alert transitions go through
scoring.alerts (which records an AlertEvent for each), never through a raw edit.
"""

import copy
from typing import Any, Protocol, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from . import alerts, engine
from .models import Alert, AlertEvent, ScoringSettings, TutorScore, TutorScoreHistory


class AlertAction(Protocol):
    """scoring.alerts.acknowledge / resolve, as the admin calls them."""

    def __call__(self, alert: Alert, *, user: User) -> AlertEvent: ...


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never added, edited or deleted by hand."""

    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


# Fields whose change rescores tutors, and so may flag or unflag some.
SCORING_FIELDS = [
    "reschedule_rate_threshold",
    "no_show_rate_threshold",
    "first_session_retention_threshold",
    "minimum_sessions",
    "flag_evidence_ratio",
    "reschedule_weight",
    "no_show_weight",
    "first_session_weight",
]


class ScoringSettingsForm(forms.ModelForm):
    """Saving a change that rescores tutors takes two steps: first the preview says how many
    tutors it would flag and unflag, then the same form, confirmed, saves it."""

    confirm = forms.BooleanField(
        required=False,
        label="Apply the change",
        help_text="Tick after reading the preview of how many tutors the change flags and unflags.",
    )

    class Meta:
        model = ScoringSettings
        fields = [*SCORING_FIELDS, "report_recipients", "session_report_mode", "digest_time"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if self.errors or self.cleaned_data.get("confirm"):
            return cleaned
        if not any(name in self.changed_data for name in SCORING_FIELDS):
            return cleaned
        candidate = copy.copy(self.instance)  # the instance gets the new values only after clean()
        for name in SCORING_FIELDS:
            setattr(candidate, name, cleaned[name])
        preview = engine.preview_settings(candidate)
        raise ValidationError(
            "Preview: this change would flag %(newly)d more tutor(s) and unflag %(unflagged)d "
            "(%(now)d flagged now, %(after)d after). Tick “Apply the change” and save again to apply it.",
            code="preview",
            params={
                "newly": preview["newly_flagged"],
                "unflagged": preview["unflagged"],
                "now": preview["flagged_now"],
                "after": preview["flagged_after"],
            },
        )


@admin.register(ScoringSettings)
class ScoringSettingsAdmin(admin.ModelAdmin):
    """One row: the changelist opens it directly. Saving it triggers a recompute (scoring.receivers)
    after a preview of how many tutors the change flags and unflags."""

    form = ScoringSettingsForm

    fieldsets = [
        (
            "Thresholds",
            {
                "fields": [
                    "reschedule_rate_threshold",
                    "no_show_rate_threshold",
                    "first_session_retention_threshold",
                    "minimum_sessions",
                    "flag_evidence_ratio",
                ]
            },
        ),
        ("Risk-score weights", {"fields": ["reschedule_weight", "no_show_weight", "first_session_weight"]}),
        ("Mail", {"fields": ["report_recipients", "session_report_mode", "digest_time"]}),
        ("Confirm", {"fields": ["confirm"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = ["created_at", "updated_at"]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        settings = ScoringSettings.load()
        return redirect("admin:scoring_scoringsettings_change", settings.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not ScoringSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(TutorScore)
class TutorScoreAdmin(ReadOnlyAdmin):
    list_display = [
        "tutor",
        "risk_level",
        "risk_score",
        "reschedule_rate_7d",
        "reschedule_rate_30d",
        "reschedule_rate_90d",
        "no_show_rate_30d",
        "first_session_retention_90d",
        "total_sessions_30d",
        "is_high_risk",
        "last_calculated_at",
    ]
    list_filter = ["risk_level", "is_high_risk", "reschedule_flag", "no_show_flag", "first_session_flag"]
    search_fields = ["tutor__name", "tutor__email"]
    list_select_related = ["tutor"]
    ordering = ["-risk_score"]


@admin.register(TutorScoreHistory)
class TutorScoreHistoryAdmin(ReadOnlyAdmin):
    list_display = [
        "date",
        "tutor",
        "risk_level",
        "risk_score",
        "reschedule_rate_7d",
        "reschedule_rate_30d",
        "no_show_rate_30d",
        "first_session_retention_90d",
        "total_sessions_30d",
    ]
    list_filter = ["risk_level", "is_high_risk", "date"]
    search_fields = ["tutor__name", "tutor__email"]
    date_hierarchy = "date"
    list_select_related = ["tutor"]
    ordering = ["-date", "tutor__name"]


EVENT_FIELDS = ["created_at", "action", "actor", "text"]


class AlertEventInline(admin.TabularInline):
    model = AlertEvent
    fields = [*EVENT_FIELDS]
    readonly_fields = EVENT_FIELDS
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[AlertEvent]:
        return super().get_queryset(request).select_related("actor")

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = [
        "opened_at",
        "tutor",
        "kind",
        "status",
        "assignee",
        "acknowledged_at",
        "snoozed_until",
        "resolved_at",
        "resolver",
    ]
    list_filter = ["status", "kind", "opened_at", ("snoozed_until", admin.EmptyFieldListFilter)]
    search_fields = ["tutor__name", "tutor__email", "message"]
    date_hierarchy = "opened_at"
    list_select_related = ["tutor", "assignee", "resolved_by"]
    inlines = [AlertEventInline]
    actions = ["acknowledge", "resolve"]

    @admin.display(description="Resolved by")
    def resolver(self, alert: Alert) -> User | str:
        if alert.resolved_by_system:
            return "system"
        return alert.resolved_by or ""

    def _apply(self, request: HttpRequest, queryset: QuerySet[Alert], action: AlertAction, verb: str) -> None:
        done = 0
        for alert in queryset.select_related("tutor"):
            try:
                action(alert, user=cast(User, request.user))  # the admin serves logged-in staff only
            except ValidationError as error:
                self.message_user(request, f"{alert}: {' '.join(error.messages)}", messages.WARNING)
            else:
                done += 1
        self.message_user(request, f"{verb} {done} alert(s).", messages.SUCCESS)

    def has_act_on_alert_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("scoring.act_on_alert")

    @admin.action(description="Acknowledge selected alerts", permissions=["act_on_alert"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        self._apply(request, queryset, alerts.acknowledge, "Acknowledged")

    @admin.action(description="Resolve selected alerts", permissions=["act_on_alert"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        self._apply(request, queryset, alerts.resolve, "Resolved")


@admin.register(AlertEvent)
class AlertEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "alert", "action", "actor", "text"]
    list_filter = ["action", "created_at"]
    search_fields = ["alert__tutor__name", "text"]
    date_hierarchy = "created_at"
    list_select_related = ["alert__tutor", "actor"]
