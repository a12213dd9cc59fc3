"""Page input of the dashboard: the tutor list's filters, the alert queue's filters, each alert
action and the bulk actions. A form that changes alerts does so through scoring.alerts."""

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.template.defaultfilters import pluralize

from tutorscore.text import FreeTextField, without_control_characters

from . import alerts, selectors
from .alerts import BULK_ACTIONS, OUTCOMES
from .models import Alert

NOTE_MAX_LENGTH = 2000  # the note input's maxlength too
SNOOZE_MAX_DAYS = 90
OUTCOME_CHOICES = [(outcome.value, outcome.label) for outcome in OUTCOMES]


def snooze_until(day: date, *, now: datetime) -> datetime:
    """The moment a snooze ends: the start of `day` in UTC, which must be after today and within
    SNOOZE_MAX_DAYS (a snooze is a reminder, not a way to hide an alert for good)."""
    if day <= now.date():
        raise ValidationError("Snooze until a date after today.")
    if day > now.date() + timedelta(days=SNOOZE_MAX_DAYS):
        raise ValidationError(f"Snooze for at most {SNOOZE_MAX_DAYS} days.")
    return datetime.combine(day, time(0), tzinfo=UTC)


# --- Tutor list -------------------------------------------------------------------------------

RISK_FILTERS = [
    ("", "All levels"),
    ("high", "High"),
    ("medium", "Medium"),
    ("low", "Low"),
    ("inactive", "Inactive"),
    ("none", "Not scored"),
]
WINDOW_CHOICES = [(7, "7 days"), (30, "30 days"), (90, "90 days")]
# The overview's cards count active tutors only; its links use status=active to list the same ones.
STATUS_FILTERS = [("", "All tutors"), ("active", "Active"), ("inactive", "Inactive")]
SEARCH_MAX_LENGTH = 100


class SearchField(forms.CharField):
    """A search: control characters dropped (noise in a search), stripped, cut to its length."""

    def to_python(self, value: Any) -> str:
        # `or ""`: the parent returns empty_value for an empty input, which is "" here.
        return without_control_characters(super().to_python(value) or "").strip()[:SEARCH_MAX_LENGTH]


class TutorListForm(forms.Form):
    """The tutor list's state from the query string: a value it does not know means the default."""

    q = SearchField(required=False)
    risk = forms.ChoiceField(choices=RISK_FILTERS, required=False)
    status = forms.ChoiceField(choices=STATUS_FILTERS, required=False)
    window = forms.TypedChoiceField(choices=WINDOW_CHOICES, coerce=int, required=False)  # empty: DEFAULTS
    sort = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in selectors.SORTS.items()], required=False
    )
    order = forms.ChoiceField(choices=[("asc", "Lowest first"), ("desc", "Highest first")], required=False)

    DEFAULTS = {"q": "", "risk": "", "status": "", "window": 30, "sort": "risk", "order": ""}

    def state(self) -> dict[str, Any]:
        """Every field's valid value, or its default."""
        self.is_valid()
        return {name: self.cleaned_data.get(name) or default for name, default in self.DEFAULTS.items()}

    def selector_filters(self) -> dict[str, Any]:
        """Keyword arguments of selectors.tutor_list."""
        state = self.state()
        return {
            "search": state["q"],
            "risk": state["risk"],
            "window": state["window"],
            "sort": state["sort"],
            "order": state["order"],
            "active": {"active": True, "inactive": False}.get(state["status"]),
        }

    def sort_columns(self) -> dict[str, dict[str, Any]]:
        """Each sortable column's header: whether it sorts the list, its aria-sort, and the order
        a click on it asks for (the other way round when it sorts, else its usual order)."""
        state = self.state()
        current = state["order"] or selectors.SORTS[state["sort"]][1]
        columns = {}
        for key, (label, usual_order) in selectors.SORTS.items():
            active = key == state["sort"]
            columns[key] = {
                "key": key,
                "label": label,
                "active": active,
                "aria_sort": ("descending" if current == "desc" else "ascending") if active else "none",
                "next_order": ("asc" if current == "desc" else "desc") if active else usual_order,
            }
        return columns


# --- Alert queue ------------------------------------------------------------------------------


class QueueFilterForm(forms.Form):
    """The alert queue's filters, from the query string: anything unknown means "any"."""

    sort = forms.ChoiceField(choices=list(selectors.ALERT_SORTS.items()), required=False, label="Order")
    kind = forms.ChoiceField(choices=[("", "All kinds"), *Alert.Kind.choices], required=False)
    status = forms.ChoiceField(choices=list(selectors.ALERT_STATUS_FILTERS.items()), required=False)
    assignee = forms.ChoiceField(required=False, label="Assigned to")
    age = forms.ChoiceField(choices=list(selectors.ALERT_AGES.items()), required=False, label="Opened")

    def __init__(self, data: Mapping[str, Any], *, staff: list[User]) -> None:
        super().__init__(data)
        # Declared as a ChoiceField above: its choices are the staff, known only now.
        cast(forms.ChoiceField, self.fields["assignee"]).choices = [
            ("", "Anyone"),
            ("mine", "Me"),
            ("none", "Nobody"),
            *[(str(person.pk), person.get_full_name() or person.get_username()) for person in staff],
        ]

    def filters(self, *, user: User) -> dict[str, Any]:
        """Keyword arguments of selectors.queue_alerts; an invalid field falls back to "any"."""
        self.is_valid()
        values = {name: self.cleaned_data.get(name) or "" for name in ("kind", "status", "age")}
        assignee = self.cleaned_data.get("assignee") or ""
        values["assignee"] = user.pk if assignee == "mine" else assignee
        return values

    def query_items(self) -> list[tuple[str, str]]:
        """The valid filters as (name, value), for the bulk form's hidden fields."""
        self.is_valid()
        return [(name, value) for name, value in self.cleaned_data.items() if value]


class AlertActionForm(forms.Form):
    """One action on one alert: `act` checks the input, then changes the alert."""

    done = ""  # what the success message says was done

    def __init__(self, data: Mapping[str, Any], *, alert: Alert, now: datetime) -> None:
        super().__init__(data)
        self.alert = alert
        self.now = now

    def error_messages(self) -> list[str]:
        return [str(message) for messages in self.errors.values() for message in messages]

    def act(self, *, user: User) -> None:
        """Raises ValidationError with every message when the input or the transition is refused."""
        if not self.is_valid():
            raise ValidationError(self.error_messages())
        self.apply(user=user)

    def apply(self, *, user: User) -> None:
        """Changes the alert with the cleaned input (called by `act` once it is valid)."""
        raise NotImplementedError


class AcknowledgeForm(AlertActionForm):
    done = "acknowledged"

    def apply(self, *, user: User) -> None:
        alerts.acknowledge(self.alert, user=user)


class AssignForm(AlertActionForm):
    done = "assigned"
    assignee = forms.ModelChoiceField(
        queryset=selectors.alert_assignees(),
        required=False,
        error_messages={"invalid_choice": "Choose a staff member to assign."},
    )

    def clean_assignee(self) -> User | None:
        assignee = self.cleaned_data["assignee"]
        if assignee is None and self.alert.assignee_id is None:  # empty choice: unassign, if assigned
            raise ValidationError("Choose a staff member to assign.")
        return assignee

    def apply(self, *, user: User) -> None:
        alerts.assign(self.alert, assignee=self.cleaned_data["assignee"], user=user)  # None: unassign


class NoteForm(AlertActionForm):
    done = "note added"
    text = FreeTextField(
        max_length=NOTE_MAX_LENGTH,
        error_messages={
            "required": "Write a note first.",
            "max_length": f"Keep the note under {NOTE_MAX_LENGTH} characters.",
        },
    )

    def apply(self, *, user: User) -> None:
        alerts.add_note(self.alert, text=self.cleaned_data["text"], user=user)


class ResolveForm(AlertActionForm):
    done = "resolved"
    # Optional for older clients: no outcome records a plain "resolved by a person".
    outcome = forms.ChoiceField(choices=OUTCOME_CHOICES, required=False)
    note = FreeTextField(
        max_length=NOTE_MAX_LENGTH,
        required=False,
        error_messages={"max_length": f"Keep the note under {NOTE_MAX_LENGTH} characters."},
    )

    def clean_outcome(self) -> str:
        return self.cleaned_data["outcome"] or Alert.Resolution.BY_HAND

    def apply(self, *, user: User) -> None:
        data = self.cleaned_data
        alerts.resolve(self.alert, user=user, note=data["note"], outcome=data["outcome"])


class SnoozeForm(AlertActionForm):
    done = "snoozed"
    until = forms.DateField(error_messages={"required": "Choose a date to snooze until."})

    def clean_until(self) -> datetime:
        return snooze_until(self.cleaned_data["until"], now=self.now)

    def apply(self, *, user: User) -> None:
        alerts.snooze(self.alert, until=self.cleaned_data["until"], user=user)


ACTION_FORMS: dict[str, type[AlertActionForm]] = {
    "acknowledge": AcknowledgeForm,
    "assign": AssignForm,
    "note": NoteForm,
    "resolve": ResolveForm,
    "snooze": SnoozeForm,
}


class BulkActionForm(forms.Form):
    """One action on the selected alerts, or on every alert matching the queue's filters."""

    action = forms.ChoiceField(choices=[(action, action) for action in BULK_ACTIONS])
    scope = forms.ChoiceField(
        choices=[("selected", "Selected alerts"), ("filtered", "All matching the filter")]
    )
    alerts = forms.ModelMultipleChoiceField(queryset=Alert.objects.all(), required=False)
    # Not "assignee": that name is the queue filter's, posted alongside for "all matching".
    assign_to = forms.ModelChoiceField(queryset=selectors.alert_assignees(), required=False)
    outcome = forms.ChoiceField(choices=OUTCOME_CHOICES, required=False)
    until = forms.DateField(required=False)

    def __init__(self, data: Mapping[str, Any], *, now: datetime) -> None:
        super().__init__(data)
        self.now = now

    def error_messages(self) -> list[str]:
        return [str(message) for messages in self.errors.values() for message in messages]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what the parent returns: the fields' cleaned values
        action, scope = data.get("action"), data.get("scope")
        if scope == "selected" and not data.get("alerts"):
            raise ValidationError("Select at least one alert first.")
        if action == "resolve" and not data.get("outcome"):
            raise ValidationError("Choose an outcome to resolve with.")
        if action == "snooze":
            if not data.get("until"):
                raise ValidationError("Choose a date to snooze until.")
            data["until"] = snooze_until(data["until"], now=self.now)
        return data

    def apply(self, matching: QuerySet[Alert], *, user: User) -> str:
        """Acts on the selected alerts, or on all of `matching` (the queue's filtered queryset);
        says what was done. Call after is_valid()."""
        data = self.cleaned_data
        targets = matching
        if data["scope"] == "selected":
            targets = Alert.objects.filter(pk__in=[alert.pk for alert in data["alerts"]])
        changed = alerts.bulk_act(
            targets,
            data["action"],
            user=user,
            now=self.now,
            assignee=data["assign_to"],
            outcome=data["outcome"],
            until=data["until"],
        )
        return f"{changed} alert{pluralize(changed)} {ACTION_FORMS[data['action']].done}."
