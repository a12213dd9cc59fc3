"""Anymail tracking webhooks move a sent mail to delivered / bounced (basic auth required)."""

import base64
import json

import pytest
from anymail.signals import AnymailTrackingEvent, tracking

from reports.models import EmailReport
from tutorscore.testing import NOW

SECRET = "tracker:s3cret-webhook-password"


@pytest.fixture
def sent_report(db):
    return EmailReport.objects.create(
        kind="digest",
        event_key="digest:2026-11-25",
        recipient_email="lead@example.com",
        status="sent",
        attempts=1,
        provider_message_id="pm-123",
        sent_at=NOW,
    )


@pytest.fixture
def webhook_secret(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}


def post_postmark(client, payload, auth=SECRET):
    headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    return client.post(
        "/anymail/postmark/tracking/", data=json.dumps(payload), content_type="application/json", **headers
    )


def test_delivery_webhook_marks_the_mail_delivered(client, sent_report, webhook_secret):
    response = post_postmark(
        client,
        {
            "RecordType": "Delivery",
            "MessageID": "pm-123",
            "Recipient": "lead@example.com",
            "DeliveredAt": "2026-11-25T12:00:05Z",
            "Details": "250 OK",
        },
    )
    assert response.status_code == 200
    sent_report.refresh_from_db()
    assert sent_report.status == "delivered"


def test_bounce_webhook_marks_the_mail_bounced_with_the_reason(client, sent_report, webhook_secret):
    response = post_postmark(
        client,
        {
            "RecordType": "Bounce",
            "Type": "HardBounce",
            "MessageID": "pm-123",
            "Email": "lead@example.com",
            "BouncedAt": "2026-11-25T12:00:05Z",
            "Description": "The server was unable to deliver your message",
            "Details": "550 5.1.1 user unknown",
            "ID": 42,
        },
    )
    assert response.status_code == 200
    sent_report.refresh_from_db()
    assert sent_report.status == "bounced"
    assert sent_report.error_message == "Bounced: The server was unable to deliver your message"


def test_webhook_without_the_secret_changes_nothing(client, sent_report, webhook_secret):
    payload = {"RecordType": "Delivery", "MessageID": "pm-123", "Recipient": "lead@example.com"}
    assert post_postmark(client, payload, auth=None).status_code == 400
    assert post_postmark(client, payload, auth="tracker:wrong").status_code == 400
    sent_report.refresh_from_db()
    assert sent_report.status == "sent"


def test_a_late_delivery_does_not_hide_a_bounce(sent_report):
    def event(event_type):
        return AnymailTrackingEvent(
            event_type=event_type,
            message_id="pm-123",
            recipient="lead@example.com",
            description="mailbox full",
        )

    tracking.send(sender=object, event=event("bounced"), esp_name="Test")
    tracking.send(sender=object, event=event("delivered"), esp_name="Test")
    sent_report.refresh_from_db()
    assert (sent_report.status, sent_report.error_message) == ("bounced", "Bounced: mailbox full")


def test_events_for_other_messages_or_of_other_types_are_ignored(sent_report):
    tracking.send(
        sender=object, event=AnymailTrackingEvent(event_type="delivered", message_id="other"), esp_name="X"
    )
    tracking.send(
        sender=object, event=AnymailTrackingEvent(event_type="opened", message_id="pm-123"), esp_name="X"
    )
    sent_report.refresh_from_db()
    assert sent_report.status == "sent"
