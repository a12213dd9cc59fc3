"""Signals the scoring app sends; the reports app listens (dependencies point reports → scoring)."""

from django.dispatch import Signal

# Sent after an alert is opened (once per episode). kwargs: alert.
alert_opened = Signal()

# Sent once per scoring pass, in its transaction, for the sessions its new scores cover (each
# at least once). kwargs: sessions (Session list, `.tutor` loaded), scores ({tutor_id: TutorScore}).
sessions_scored = Signal()
