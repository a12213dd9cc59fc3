"""Input of the dashboard's alert actions: each action's form validates what it was sent."""

from django import forms
from django.core.exceptions import ValidationError

from tutorscore.text import FreeTextField

from . import selectors

NOTE_MAX_LENGTH = 2000  # the note input's maxlength too


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
    note = FreeTextField(
        max_length=NOTE_MAX_LENGTH,
        required=False,
        error_messages={"max_length": f"Keep the note under {NOTE_MAX_LENGTH} characters."},
    )


ACTION_FORMS = {
    "acknowledge": AcknowledgeForm,
    "assign": AssignForm,
    "note": NoteForm,
    "resolve": ResolveForm,
}
