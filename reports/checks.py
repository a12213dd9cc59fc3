"""System checks of the mail setup: production must not print, keep or drop its mails."""

from django.conf import settings
from django.core.checks import Error, register

# Django's development backends: they "send" (the email log says sent) without delivering.
UNDELIVERING_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend": "prints every mail, personal data included, to stdout",
    "django.core.mail.backends.locmem.EmailBackend": "keeps every mail in memory",
    "django.core.mail.backends.dummy.EmailBackend": "drops every mail",
    "django.core.mail.backends.filebased.EmailBackend": "writes every mail to a local file",
}


@register("reports", deploy=True)
def check_mail_backend_delivers(app_configs, **kwargs) -> list[Error]:
    """With DEBUG off, EMAIL_BACKEND must be a real provider (manage.py check --deploy)."""
    what = UNDELIVERING_BACKENDS.get(settings.EMAIL_BACKEND)
    if settings.DEBUG or what is None:
        return []
    return [
        Error(
            f"EMAIL_BACKEND is {settings.EMAIL_BACKEND} with DEBUG off: it {what} and the email log "
            "marks those mails sent.",
            hint="Set EMAIL_BACKEND to a provider's backend (e.g. anymail.backends.postmark.EmailBackend) "
            "and its credentials; see 'E-mail providers' in the README.",
            id="reports.E001",
        )
    ]
