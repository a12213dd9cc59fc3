"""Anymail tracking webhooks move a sent mail to delivered / bounced (basic auth required).

Forged events are refused on every mounted provider: 404 while no webhook secret is set, 401
without the right one, 4xx for garbage; none of them changes a mail."""

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
    return post(client, "postmark", json.dumps(payload), auth=auth)


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


FORGED_BOUNCE = {
    "RecordType": "Bounce",
    "Type": "HardBounce",
    "MessageID": "pm-123",
    "Email": "lead@example.com",
    "BouncedAt": "2026-11-25T12:00:05Z",
    "Description": "forged",
    "ID": 1,
}
PROVIDERS = ["postmark", "mailgun", "amazon_ses", "sendgrid"]


@pytest.mark.parametrize("auth", [None, "tracker:wrong", "tracker:", "garbage-without-colon"])
def test_webhook_without_the_secret_is_refused_and_changes_nothing(client, sent_report, webhook_secret, auth):
    response = post_postmark(client, FORGED_BOUNCE, auth=auth)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    sent_report.refresh_from_db()
    assert sent_report.status == "sent"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("auth", [None, SECRET])
def test_with_no_webhook_secret_configured_every_webhook_is_absent(
    client, settings, sent_report, provider, auth
):
    settings.ANYMAIL = {key: value for key, value in settings.ANYMAIL.items() if key != "WEBHOOK_SECRET"}
    response = post(client, provider, json.dumps(FORGED_BOUNCE), auth=auth)
    assert response.status_code == 404
    sent_report.refresh_from_db()
    assert sent_report.status == "sent"


@pytest.mark.parametrize("provider", ["brevo", "mailjet", "mandrill", "postal", "resend", "sparkpost"])
def test_providers_we_do_not_use_are_not_mounted(client, webhook_secret, provider):
    assert post(client, provider, "{}").status_code == 404


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("method", ["post", "get", "put", "delete", "head", "options"])
def test_forged_events_are_refused_on_every_provider(client, sent_report, webhook_secret, provider, method):
    url = f"/anymail/{provider}/tracking/"
    if method in ("post", "put"):
        response = getattr(client, method)(
            url, data=json.dumps(FORGED_BOUNCE), content_type="application/json"
        )
    else:
        response = getattr(client, method)(url)
    assert response.status_code == 401
    sent_report.refresh_from_db()
    assert sent_report.status == "sent"


GARBAGE = [
    "",
    "garbage",
    "{}",
    "[]",
    "[1]",
    "null",
    '"text"',
    '{"event-data": 1}',
    '[{"event": "bounced"}]',
    "\x00\xff",
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_with_the_secret_is_never_a_server_error(client, settings, sent_report, provider, body):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": "key"}
    response = post(client, provider, body)
    # 400 unreadable, 404 provider not configured here (SES needs boto3); a well-formed batch
    # without any event we know (SendGrid's `[]`) is a 200 that records nothing.
    assert response.status_code < 500
    sent_report.refresh_from_db()
    assert sent_report.status == "sent"


def test_mailgun_without_its_signing_key_is_absent_not_a_500(client, db, webhook_secret):
    assert post(client, "mailgun", "{}").status_code == 404


def test_mailgun_event_with_a_forged_signature_is_refused(client, settings, sent_report):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": "key"}
    payload = {
        "signature": {"timestamp": "1", "token": "t", "signature": "0" * 64},
        "event-data": {
            "event": "failed",
            "severity": "permanent",
            "message": {"headers": {"message-id": "pm-123"}},
        },
    }
    assert post(client, "mailgun", json.dumps(payload)).status_code == 400
    sent_report.refresh_from_db()
    assert sent_report.status == "sent"


def post(client, provider, body, auth=SECRET):
    headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    return client.post(
        f"/anymail/{provider}/tracking/", data=body, content_type="application/json", **headers
    )


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


def test_an_unreadable_body_is_a_400(client, settings, sent_report):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}
    assert post(client, "postmark", "garbage").status_code == 400
    assert post(client, "postmark", "[1]").status_code == 400
