"""A mail backend that fails a set number of times, then delivers to the locmem outbox."""

from django.core.mail.backends import locmem


class FlakyBackend(locmem.EmailBackend):
    failures_left = 0  # class-level: Django builds a new backend instance per connection

    def send_messages(self, messages):
        if FlakyBackend.failures_left > 0:
            FlakyBackend.failures_left -= 1
            raise ConnectionError("provider unavailable (503)")
        return super().send_messages(messages)
