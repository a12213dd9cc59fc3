"""Test settings: tasks run inline, mail goes to locmem, broken template variables are loud."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")

from tutorscore.settings import *  # noqa: E402,F403

Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
# One task per request, as the tests that count enqueued tasks expect; test_coalesce.py turns it on.
TASK_COALESCE_SECONDS = 0
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
TEMPLATES[0]["OPTIONS"]["string_if_invalid"] = "INVALID_TEMPLATE_VARIABLE[%s]"  # noqa: F405
SITE_URL = "http://testserver"
# Serve static files through the finders, as in development: no collectstatic before tests.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The suite runs at a frozen reference time that may lie years from the browser's own clock
# (`TUTORSCORE_TEST_NOW`): cookies that expire with the browser, not at a date, survive that.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_AGE = None
