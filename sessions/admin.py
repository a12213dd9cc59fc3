"""Admin for ops staff: correct tutors, sessions and reschedules; manage the platform's API keys.

Every session or reschedule saved or deleted here marks its tutor for rescoring (sessions/signals.py).
"""

from typing import TYPE_CHECKING, Any, TypeVar

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from . import ingest
from .models import ApiKey, Reschedule, Session, Tutor
from .rescheduling import LAST_MINUTE_HOURS, fill_derived_fields

if TYPE_CHECKING:  # the stubs' name for what get_fields returns (a list of names or of groups)
    from django.contrib.admin.options import _FieldGroups

M = TypeVar("M", bound=Model)


@admin.register(Tutor)
class TutorAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "is_active", "sessions_link", "sessions_changed_at", "created_at"]
    list_filter = ["is_active", "created_at"]
    search_fields = ["name", "email"]
    date_hierarchy = "created_at"
    readonly_fields = ["sessions_changed_at", "created_at", "updated_at"]
    fields = ["id", "name", "email", "is_active", *readonly_fields]
    show_full_result_count = False  # one COUNT(*) per page is enough on large tables

    def get_readonly_fields(
        self, request: HttpRequest, obj: Tutor | None = None
    ) -> list[str] | tuple[str, ...]:
        # The id is the platform's tutor id: settable on creation, fixed afterwards.
        return [*self.readonly_fields, "id"] if obj else self.readonly_fields

    @admin.display(description="Sessions")
    def sessions_link(self, tutor: Tutor) -> str:
        url = reverse("admin:tutoring_session_changelist") + f"?tutor__id__exact={tutor.pk}"
        return format_html('<a href="{}">sessions</a>', url)


def search_by_tutor_or_student(queryset: QuerySet[M], search_term: str, *, prefix: str) -> QuerySet[M]:
    """Rows of tutors whose name contains the term (or e-mail is it), or of that exact student id.

    Matching the few thousand tutors first lets the database use the (tutor, time) index; a
    contains-search joined over millions of sessions took seconds.
    """
    term = search_term.strip()
    if not term:
        return queryset
    tutors = Tutor.objects.filter(Q(name__icontains=term) | Q(email__iexact=term)).values("pk")
    return queryset.filter(Q(**{f"{prefix}tutor__in": tutors}) | Q(**{f"{prefix}student_id": term}))


class SessionForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        # Apply Session.apply_defaults() before the database constraints are checked, so a
        # no-show without "by" means the tutor and other statuses drop a stale no_show_by.
        status = cleaned.get("status")
        if status == Session.Status.NO_SHOW and not cleaned.get("no_show_by"):
            cleaned["no_show_by"] = Session.NoShowBy.TUTOR
        elif status and status != Session.Status.NO_SHOW:
            cleaned["no_show_by"] = None
        return cleaned


class RescheduleForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("original_time"):
            # Derive reason_code and cancelled_at as Reschedule.save() would, before the
            # database constraints are validated (cancelled_at must be set, the code valid).
            derived = fill_derived_fields(
                Reschedule(
                    reason=cleaned.get("reason", ""),
                    reason_code=cleaned.get("reason_code", ""),
                    original_time=cleaned["original_time"],
                    cancelled_at=cleaned.get("cancelled_at"),
                ),
                received_at=timezone.now(),
            )
            cleaned["reason_code"], cleaned["cancelled_at"] = derived.reason_code, derived.cancelled_at
        return cleaned


RESCHEDULE_FIELDS = [*ingest.RESCHEDULE_FIELDS, "created_at"]


class RescheduleInline(admin.StackedInline):
    model = Reschedule
    form = RescheduleForm
    extra = 0
    max_num = 1
    fields = [*RESCHEDULE_FIELDS]
    readonly_fields = ["hours_before_session", "created_at"]


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    form = SessionForm
    list_display = [
        "scheduled_time",
        "tutor",
        "student_id",
        "status",
        "duration_minutes",
        "student_rating",
        "no_show_by",
        "completed_time",
    ]
    list_filter = ["status", "no_show_by", "student_rating", "is_first_session", "scheduled_time"]
    search_fields = ["student_id", "tutor__name", "tutor__email"]  # see get_search_results
    date_hierarchy = "scheduled_time"
    list_select_related = ["tutor"]
    autocomplete_fields = ["tutor"]
    # The first-session flags are derived from the pair's sessions on every save.
    readonly_fields = ["is_first_session", "first_session_retained", "created_at", "updated_at"]
    inlines = [RescheduleInline]
    show_full_result_count = False

    def get_readonly_fields(
        self, request: HttpRequest, obj: Session | None = None
    ) -> list[str] | tuple[str, ...]:
        # The id is the platform's session id: settable on creation, fixed afterwards.
        return [*self.readonly_fields, "id"] if obj else self.readonly_fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Session], search_term: str
    ) -> tuple[QuerySet[Session], bool]:
        return search_by_tutor_or_student(queryset, search_term, prefix=""), False


class LastMinuteFilter(admin.SimpleListFilter):
    title = "last-minute"
    parameter_name = "last_minute"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", f"Less than {LAST_MINUTE_HOURS} h before"), ("no", f"{LAST_MINUTE_HOURS} h or more")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Reschedule]) -> QuerySet[Reschedule]:
        last_minute = Q(hours_before_session__lt=LAST_MINUTE_HOURS)
        if self.value() == "yes":
            return queryset.filter(last_minute)
        if self.value() == "no":
            return queryset.exclude(last_minute)
        return queryset


@admin.register(Reschedule)
class RescheduleAdmin(admin.ModelAdmin):
    form = RescheduleForm
    list_display = [
        "original_time",
        "tutor",
        "initiator",
        "reason_code",
        "reason",
        "hours_before_session",
        "is_last_minute",
        "new_time",
    ]
    list_filter = ["initiator", "reason_code", LastMinuteFilter, "original_time"]
    search_fields = ["session__student_id", "session__tutor__name", "session__tutor__email"]
    date_hierarchy = "original_time"
    list_select_related = ["session__tutor"]
    autocomplete_fields = ["session"]
    fields = ["session", *RESCHEDULE_FIELDS]
    readonly_fields = ["hours_before_session", "created_at"]
    show_full_result_count = False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Reschedule], search_term: str
    ) -> tuple[QuerySet[Reschedule], bool]:
        return search_by_tutor_or_student(queryset, search_term, prefix="session__"), False

    @admin.display(description="Tutor", ordering="session__tutor__name")
    def tutor(self, reschedule: Reschedule) -> Tutor:
        return reschedule.session.tutor

    @admin.display(description="Last-minute", boolean=True)
    def is_last_minute(self, reschedule: Reschedule) -> bool:
        return reschedule.is_last_minute


class ActiveKeyFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        if self.value() in ("active", "revoked"):
            return queryset.filter(revoked_at__isnull=self.value() == "active")
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys for the platform: created here from a name, shown once, then only their hash is kept."""

    list_display = ["name", "prefix", "is_active", "created_at", "last_used_at", "revoked_at"]
    list_filter = [ActiveKeyFilter]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> "_FieldGroups":
        if obj is None:
            return ["name"]
        return ["name", "prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return [] if obj is None else ["prefix", "created_at", "last_used_at", "revoked_at"]

    @admin.display(boolean=True, description="Active")
    def is_active(self, api_key: ApiKey) -> bool:
        return api_key.is_active

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        raw_key = None if change else obj.assign_new_key()
        super().save_model(request, obj, form, change)
        if raw_key:
            messages.warning(
                request,
                f"New API key for “{obj.name}”: {raw_key} — copy it now; it is not stored and will not "
                "be shown again.",
            )

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)
