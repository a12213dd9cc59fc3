"""The development mail backend: one console line per message (the email log keeps the rest)."""

from django.core.mail import EmailMessage
from django.core.mail.backends import console


class ConsoleSummaryBackend(console.EmailBackend):
    """Prints `mail to <recipients>: <subject>`, not the whole MIME message; DEBUG's default."""

    def write_message(self, message: EmailMessage) -> None:
        self.stream.write(f"mail to {', '.join(message.recipients())}: {message.subject}\n")
