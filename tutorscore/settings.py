"""TutorScore settings: every knob reads the environment, with safe development defaults.

Each variable is listed in the README. Production sets DEBUG=false, SECRET_KEY, DATABASE_URL,
ALLOWED_HOSTS and a mail provider; everything else has a sensible default.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional; never committed

DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
elif not (SECRET_KEY := env("SECRET_KEY", default="")):
    # manage.py prints this one line (no traceback); gunicorn refuses to boot with it.
    raise ImproperlyConfigured(
        "SECRET_KEY is not set: set DEBUG=true for development or SECRET_KEY=... in production"
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Links in mails and printed by commands. By default they follow the address the `web` process
# binds (HOST/PORT, as `make demo PORT=9000` sets them); production sets its public https URL.
_web_host = env("HOST", default="127.0.0.1")
_web_address = f"{'127.0.0.1' if _web_host == '0.0.0.0' else _web_host}:{env('PORT', default='8000')}"
SITE_URL = env("SITE_URL", default=f"http://{_web_address}").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_q",
    "anymail",
    "axes",
    "csp",
    "sessions.apps.TutoringConfig",
    "scoring.apps.ScoringConfig",
    "reports.apps.ReportsConfig",
    "tutorscore",  # the project's own management commands (setup_schedules)
]

MIDDLEWARE = [
    "tutorscore.middleware.TrustedProxyMiddleware",  # REMOTE_ADDR = the client's, behind our proxies
    "tutorscore.backpressure.ServiceUnavailableMiddleware",  # database/broker down: 503 + Retry-After
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files answer here, before the rest
    "csp.middleware.CSPMiddleware",
    "tutorscore.middleware.PrivateResponseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the locked-out page
]

ROOT_URLCONF = "tutorscore.urls"
WSGI_APPLICATION = "tutorscore.wsgi.application"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite is the embedded default; PostgreSQL in production via DATABASE_URL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
# A reused connection is checked (one round trip) before its first query in a request or task, so
# a database restart or failover costs a reconnect, not a 500 or a failed scoring task.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Every external call is bounded (issue 15): an unreachable database fails a request in seconds
# (answered 503 with Retry-After by tutorscore.backpressure), never after the OS's minutes.
DATABASE_CONNECT_TIMEOUT = env.int("DATABASE_CONNECT_TIMEOUT", default=5)
# PostgreSQL's JIT compiles a plan it expects to be costly: a win for the hourly recompute (6.9 s
# against 11.2 s at 10 million sessions), a loss of 40-50 ms on a dashboard page. The Procfile's
# web process turns it off; workers keep the server's default.
DATABASE_JIT = env.bool("DATABASE_JIT", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
    if not DATABASE_JIT:
        DATABASES["default"]["OPTIONS"]["options"] = "-c jit=off"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The covering indexes' included columns serve PostgreSQL's index-only reads; SQLite builds
    # the same indexes on their keys alone, as intended, so its warning on each migrate is noise.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
    # WAL lets the web and worker processes read while the other writes. IMMEDIATE transactions
    # take the write lock up front, so concurrent writers wait (timeout) instead of failing at once
    # with "database is locked" when a read transaction tries to upgrade to a write.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one username from
# one address, that pair is locked out for LOGIN_COOLOFF_MINUTES (every login form, admin too).
# One address is also locked out after LOGIN_ADDRESS_FAILURE_LIMIT failures over any usernames (a
# password spray). A locked-out attempt is refused before any password is hashed. Unlock:
# manage.py axes_reset. Behind reverse proxies, TRUSTED_PROXY_COUNT says how many to look through.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "tutorscore.throttling.AddressAwareHandler"
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=30)
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_USERNAME_CALLABLE = "tutorscore.throttling.login_username"
CSRF_FAILURE_VIEW = "tutorscore.errors.csrf_failure"  # JSON under /api/
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
USE_I18N = False
USE_TZ = True
TIME_ZONE = env("DISPLAY_TIME_ZONE", default="UTC")  # stored in UTC, shown in this zone

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Background tasks (django-q2). ORM broker by default; Redis when REDIS_URL is set. ---
# Two queues: scoring (the default cluster, `manage.py qcluster`) and mail (its own cluster,
# `Q_CLUSTER_NAME=mail manage.py qcluster`, the Procfile's worker-mail), so a slow or hung mail
# provider never holds a worker that a score is waiting for.
MAIL_QUEUE = "mail"
MAIL_WORKERS = env.int("MAIL_WORKERS", default=1)
Q_CLUSTER = {
    # The site's name on a shared Redis (django-q2 reads Q_CLUSTER_NAME itself to pick a queue).
    "name": env("Q_SITE_NAME", default="tutorscore"),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=120),  # must stay below retry
    "retry": env.int("Q_RETRY", default=180),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=5),
    "save_limit": 1000,
    "catch_up": False,  # a worker that was down does not replay every missed hourly run
    "ack_failures": True,
    "sync": env.bool("Q_SYNC", default=False),
    "poll": 0.2,
    "ALT_CLUSTERS": {MAIL_QUEUE: {"workers": MAIL_WORKERS}},
}
# Seconds a Redis call may take (broker and cache): a hung Redis fails a request fast (503)
# instead of blocking it for the OS's TCP timeout.
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=2.0)
REDIS_OPTIONS = {"socket_timeout": REDIS_SOCKET_TIMEOUT, "socket_connect_timeout": REDIS_SOCKET_TIMEOUT}
if env("REDIS_URL", default=""):
    import redis

    # django-q2 blocks up to 1 s on BLPOP: its socket timeout must be longer than that.
    Q_CLUSTER["redis"] = {
        **redis.connection.parse_url(env("REDIS_URL")),
        "socket_timeout": max(REDIS_SOCKET_TIMEOUT, 1.5),
        "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    }
    # Shared by every web and worker process (the dashboard's weekly trend, the task coalescing
    # markers).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env("REDIS_URL"),
            "KEY_PREFIX": Q_CLUSTER["name"],
            "OPTIONS": REDIS_OPTIONS,
        }
    }
    CACHES["coalesce"] = CACHES["default"]
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["broker_class"] = "tutorscore.broker.NotifyingORM"  # LISTEN/NOTIFY on PostgreSQL
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},  # one per process
        # The coalescing markers must be shared by web and worker processes: in the database
        # (table created by a reports migration).
        "coalesce": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "task_coalescing"},
    }
# While one processing (or outbox) task is waiting in the queue, further requests do not
# enqueue another: the waiting task covers them. The marker (cache "coalesce": Redis, or the
# database) expires after this many seconds in case its task was lost. 0 turns coalescing off.
TASK_COALESCE_SECONDS = env.int("TASK_COALESCE_SECONDS", default=30)

# --- Mail (django-anymail). Set EMAIL_BACKEND + ANYMAIL_* in prod. In development (DEBUG) each
# mail is one console line and a row of the email log, not pages of HTML burying the demo's output.
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="reports.backends.ConsoleSummaryBackend"
    if DEBUG
    else "django.core.mail.backends.console.EmailBackend",
)
# One provider call may take at most this long (SMTP and every anymail HTTP backend), so a hung
# provider fails the attempt (retried with backoff) instead of holding a mail worker.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="TutorScore <tutorscore@localhost>")
ANYMAIL = {
    "REQUESTS_TIMEOUT": (min(EMAIL_TIMEOUT, 5), EMAIL_TIMEOUT),  # (connect, read) seconds
    **{
        key: value
        for key, value in {
            "SENDGRID_API_KEY": env("SENDGRID_API_KEY", default=""),
            "AMAZON_SES_CLIENT_PARAMS": {
                "region_name": env("AWS_REGION", default=""),
                # anymail turns this dict into botocore's Config; no retries of its own (ours back off)
                "config": {
                    "connect_timeout": min(EMAIL_TIMEOUT, 5),
                    "read_timeout": EMAIL_TIMEOUT,
                    "retries": {"max_attempts": 1},
                },
            }
            if env("AWS_REGION", default="")
            else "",
            "AMAZON_SES_CONFIGURATION_SET_NAME": env("AMAZON_SES_CONFIGURATION_SET_NAME", default=""),
            "MAILGUN_API_KEY": env("MAILGUN_API_KEY", default=""),
            "MAILGUN_SENDER_DOMAIN": env("MAILGUN_SENDER_DOMAIN", default=""),
            "MAILGUN_API_URL": env("MAILGUN_API_URL", default=""),  # EU: https://api.eu.mailgun.net/v3
            "MAILGUN_WEBHOOK_SIGNING_KEY": env("MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
            "POSTMARK_SERVER_TOKEN": env("POSTMARK_SERVER_TOKEN", default=""),
            "WEBHOOK_SECRET": env("ANYMAIL_WEBHOOK_SECRET", default=""),
        }.items()
        if value
    },
}

# The outbox (reports/outbox.py): alerts opened within this many seconds go out as one mail per
# recipient; each outbox run sends for at most MAIL_SEND_BUDGET_SECONDS, leaving the rest to the
# next run (every minute, and after each scoring pass).
MAIL_ALERT_BATCH_SECONDS = env.int("MAIL_ALERT_BATCH_SECONDS", default=120)
MAIL_SEND_BUDGET_SECONDS = env.int("MAIL_SEND_BUDGET_SECONDS", default=60)

# --- Dashboard ---
DASHBOARD_POLL_SECONDS = env.int("DASHBOARD_POLL_SECONDS", default=30)  # table refresh interval
# The platform-wide weekly trend scans every session of 12 weeks: share it for this long.
DASHBOARD_TREND_CACHE_SECONDS = env.int("DASHBOARD_TREND_CACHE_SECONDS", default=300)

# --- Back-pressure and health ---
# Retry-After (seconds) of the 503 answered while the database or the broker is unavailable.
UNAVAILABLE_RETRY_AFTER_SECONDS = env.int("UNAVAILABLE_RETRY_AFTER_SECONDS", default=10)
# /healthz calls the scheduler late (degraded) when a schedule is this overdue, and the outbox
# when its oldest waiting mail is this old.
HEALTH_SCHEDULE_GRACE_SECONDS = env.int("HEALTH_SCHEDULE_GRACE_SECONDS", default=300)
HEALTH_OUTBOX_MAX_AGE_SECONDS = env.int("HEALTH_OUTBOX_MAX_AGE_SECONDS", default=600)

# --- API ---
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# How far ahead of our clock the platform's may run: a held session, a completion, a reschedule
# request or an `updated_at` later than now + this is refused (docs/api.md).
INGEST_CLOCK_SKEW_SECONDS = env.int("INGEST_CLOCK_SKEW_SECONDS", default=300)

# --- Security: strict unless DEBUG. `manage.py check --deploy` passes with DEBUG=false. ---
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Content-Security-Policy (django-csp): scripts and styles only from our own static files (htmx
# included, from django-htmx); no inline script, no eval. The nonce is only for the 500 page's
# inline style, which must not depend on static files. The mail preview adds inline styles.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Browser features the dashboard never uses, refused for it and anything it might embed.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)

# --- Logging: one line per event, with the ids needed to follow a session end to end. ---
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        app: {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False}
        for app in ("sessions", "scoring", "reports", "django-q")
    },
}
