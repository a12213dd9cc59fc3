"""Fake providers for the tests: flaky, hanging, refusing, and one whose worker dies mid-send."""

import time

from anymail.exceptions import AnymailRecipientsRefused
from django.conf import settings
from django.core.mail.backends import locmem
from django.db import connection


class FlakyBackend(locmem.EmailBackend):
    failures_left = 0  # class-level: Django builds a new backend instance per connection

    def send_messages(self, messages):
        if FlakyBackend.failures_left > 0:
            FlakyBackend.failures_left -= 1
            raise ConnectionError("provider unavailable (503)")
        return super().send_messages(messages)


class HangingBackend(locmem.EmailBackend):
    """A provider that never answers: the client gives up after EMAIL_TIMEOUT, as anymail's and
    SMTP's do with the timeout settings (0 in unit tests, a few seconds in live ones)."""

    def send_messages(self, messages):
        time.sleep(settings.EMAIL_TIMEOUT)
        raise TimeoutError(f"provider did not answer within {settings.EMAIL_TIMEOUT}s")


class RefusingBackend(locmem.EmailBackend):
    """A provider that refuses the recipient outright (suppressed or invalid address)."""

    def send_messages(self, messages):
        raise AnymailRecipientsRefused("All message recipients were rejected.")


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing below the task catches it, so no outcome is recorded."""


class DyingBackend(locmem.EmailBackend):
    """The provider accepts the message (it lands in the outbox), then the worker dies before
    recording it: the case at-least-once re-sends."""

    def send_messages(self, messages):
        super().send_messages(messages)
        raise WorkerKilled


class CommitModeBackend(locmem.EmailBackend):
    """Records the database's synchronous_commit setting at the moment each mail is sent."""

    seen: list[str] = []

    def send_messages(self, messages):
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            CommitModeBackend.seen.append(cursor.fetchone()[0])
        return super().send_messages(messages)
