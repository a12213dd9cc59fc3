"""Provider tracking webhooks under /anymail/: only the providers TutorScore documents, closed by
default.

anymail's own URLconf mounts every provider it knows and accepts anyone when no webhook secret is
set, so this one mounts four and puts a gate in front of each: no `ANYMAIL_WEBHOOK_SECRET` → 404
(the endpoint does not exist); wrong or missing basic auth → 401; a provider that is not configured
(Mailgun without its signing key, SES without boto3) → 404; a body anymail cannot read → 400.
Events are recorded all or nothing.
"""

import functools
import logging
from collections.abc import Callable
from typing import Any

from anymail.utils import get_anymail_setting, get_request_basic_auth
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import path
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)

PROVIDERS = {
    "postmark": PostmarkTrackingWebhookView,
    "mailgun": MailgunTrackingWebhookView,
    "amazon_ses": AmazonSESTrackingWebhookView,
    "sendgrid": SendGridTrackingWebhookView,
}
# What anymail's parsers raise on a body that is not the provider's format (bad JSON is a
# ValueError; they index into whatever they got).
MALFORMED = (ValueError, KeyError, IndexError, TypeError, AttributeError)


def _secrets() -> list[str]:
    secret = get_anymail_setting("webhook_secret", default=[])
    return [secret] if isinstance(secret, str) else list(secret)


def gated(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an anymail webhook view: 404 unless secured and configured, 401 without the secret."""

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        secrets = _secrets()
        if not secrets:
            raise Http404("Tracking webhooks are off: ANYMAIL_WEBHOOK_SECRET is not set.")
        sent = get_request_basic_auth(request) or ""
        if not any(constant_time_compare(sent, secret) for secret in secrets):
            response = HttpResponse("Unauthorized", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Basic realm="tracking webhooks"'
            return response
        try:
            with transaction.atomic():
                return view(request, *args, **kwargs)
        except ImproperlyConfigured as exc:
            logger.error("tracking webhook %s is not configured: %s", request.path, exc)
            raise Http404("This provider's webhook is not configured.") from None
        except MALFORMED as exc:
            logger.warning("tracking webhook %s: unreadable body (%s)", request.path, type(exc).__name__)
            return HttpResponseBadRequest("Unreadable webhook body.", content_type="text/plain")

    return wrapper


urlpatterns = [
    path(f"{name}/tracking/", gated(view.as_view()), name=f"{name}_tracking_webhook")
    for name, view in PROVIDERS.items()
]
