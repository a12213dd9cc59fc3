"""Signals the scoring app sends; the reports app listens (dependencies point reports → scoring)."""

from django.dispatch import Signal

# Sent after an alert is opened (once per episode). kwargs: alert.
alert_opened = Signal()

# Sent after a session has been processed and its tutor's score covers it. kwargs: session, score.
session_scored = Signal()
