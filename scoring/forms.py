"""Input of the alert queue: its filters, each alert action and the bulk actions."""

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError

from tutorscore.text import FreeTextField

from . import selectors
from .alerts import BULK_ACTIONS, OUTCOMES
from .models import Alert

NOTE_MAX_LENGTH = 2000  # the note input's maxlength too
SNOOZE_MAX_DAYS = 90
OUTCOME_CHOICES = [(outcome.value, outcome.label) for outcome in OUTCOMES]


def snooze_until(day, *, now) -> datetime:
    """The moment a snooze ends: the start of `day` in UTC, which must be after today and within
    SNOOZE_MAX_DAYS (a snooze is a reminder, not a way to hide an alert for good)."""
    if day <= now.date():
        raise ValidationError("Snooze until a date after today.")
    if day > now.date() + timedelta(days=SNOOZE_MAX_DAYS):
        raise ValidationError(f"Snooze for at most {SNOOZE_MAX_DAYS} days.")
    return datetime.combine(day, time(0), tzinfo=UTC)


class QueueFilterForm(forms.Form):
    """The alert queue's filters, from the query string: anything unknown means "any"."""

    sort = forms.ChoiceField(choices=list(selectors.ALERT_SORTS.items()), required=False, label="Order")
    kind = forms.ChoiceField(choices=[("", "All kinds"), *Alert.Kind.choices], required=False)
    status = forms.ChoiceField(choices=list(selectors.ALERT_STATUS_FILTERS.items()), required=False)
    assignee = forms.ChoiceField(required=False, label="Assigned to")
    age = forms.ChoiceField(choices=list(selectors.ALERT_AGES.items()), required=False, label="Opened")

    def __init__(self, data, *, staff):
        super().__init__(data)
        self.fields["assignee"].choices = [
            ("", "Anyone"),
            ("mine", "Me"),
            ("none", "Nobody"),
            *[(str(person.pk), person.get_full_name() or person.get_username()) for person in staff],
        ]

    def filters(self, *, user) -> dict:
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
    def __init__(self, data, *, alert):
        super().__init__(data)
        self.alert = alert

    def error_messages(self) -> list[str]:
        return [message for messages in self.errors.values() for message in messages]


class AcknowledgeForm(AlertActionForm):
    pass


class AssignForm(AlertActionForm):
    assignee = forms.ModelChoiceField(
        queryset=selectors.alert_assignees(),
        required=False,
        error_messages={"invalid_choice": "Choose a staff member to assign."},
    )

    def clean_assignee(self):
        assignee = self.cleaned_data["assignee"]
        if assignee is None and self.alert.assignee_id is None:  # empty choice: unassign, if assigned
            raise ValidationError("Choose a staff member to assign.")
        return assignee


class NoteForm(AlertActionForm):
    text = FreeTextField(
        max_length=NOTE_MAX_LENGTH,
        error_messages={
            "required": "Write a note first.",
            "max_length": f"Keep the note under {NOTE_MAX_LENGTH} characters.",
        },
    )


class ResolveForm(AlertActionForm):
    # Optional for older clients: no outcome records a plain "resolved by a person".
    outcome = forms.ChoiceField(choices=OUTCOME_CHOICES, required=False)
    note = FreeTextField(
        max_length=NOTE_MAX_LENGTH,
        required=False,
        error_messages={"max_length": f"Keep the note under {NOTE_MAX_LENGTH} characters."},
    )

    def clean_outcome(self):
        return self.cleaned_data["outcome"] or Alert.Resolution.BY_HAND


class SnoozeForm(AlertActionForm):
    until = forms.DateField(error_messages={"required": "Choose a date to snooze until."})

    def __init__(self, data, *, alert, now):
        super().__init__(data, alert=alert)
        self.now = now

    def clean_until(self):
        return snooze_until(self.cleaned_data["until"], now=self.now)


ACTION_FORMS = {
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

    def __init__(self, data, *, now):
        super().__init__(data)
        self.now = now

    def error_messages(self) -> list[str]:
        return [message for messages in self.errors.values() for message in messages]

    def clean(self):
        data = super().clean()
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
