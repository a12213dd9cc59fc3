"""Anymail tracking webhooks (mounted and gated in reports/webhook_urls.py, basic-auth secured by
ANYMAIL WEBHOOK_SECRET) → EmailReport delivered / bounced."""

from anymail.signals import AnymailTrackingEvent, tracking
from django.dispatch import receiver

from . import delivery


@receiver(tracking, dispatch_uid="reports.tracking")
def on_tracking_event(sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: object) -> None:
    delivery.record_tracking_event(event)
