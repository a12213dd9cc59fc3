"""Dashboard page timings: p50/p95 server time of every page on the benchmark database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tutorscore_bench python bench/pages.py [--runs 30]

Requests go through Django's test Client (the whole middleware stack, template rendering
included; no network), logged in as a staff user `bench-staff` that the script creates if
needed. Prints one line per page: p50, p95, max (ms) and SQL statements per request.
The data set is the 10,000-tutor / 1,000,000-session one from
`generate_data --tutors 10000 --sessions 1000000 --days 90 --seed 42`.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tutorscore_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tutorscore.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from scoring.models import Alert, TutorScore  # noqa: E402
from sessions.models import Reschedule, Session, Tutor  # noqa: E402

# Plain static storage: the manifest needs collectstatic, which a timing run should not depend on.
STATIC = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(client, urls, runs, *, cold_cache=False, htmx=False):
    """Time `runs` requests cycling through `urls` after one warm-up each; returns ms list + queries."""
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    for url in urls:
        client.get(url, **headers)
    timings, queries = [], []
    for index in range(runs):
        url = urls[index % len(urls)]
        if cold_cache:
            cache.clear()
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url, **headers)
            if response.streaming:
                b"".join(response.streaming_content)
            timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries.append(len(captured))
    return timings, max(queries)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="requests per page (default 30)")
    args = parser.parse_args()

    tutors = Tutor.objects.count()
    if not tutors:
        sys.exit("The database has no tutors: run generate_data first (see the docstring).")
    # This machine's PostgreSQL runs without autovacuum, and the recompute benchmark leaves every
    # score row dead many times over (it rolls back): measure what a vacuumed database serves.
    # Sessions too: a freshly generated table has no statistics and no visibility map, and its rows
    # lie tutor after tutor, so the overview's count of the last 24 hours read 82,000 heap pages
    # at 10 million sessions (1.5 s) where autovacuum gives it an index-only scan.
    with connection.cursor() as cursor:
        for model in (Session, Reschedule, Tutor, TutorScore, Alert):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    user, _ = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True, "email": "bench@example.com"}
    )
    # The CSV export needs the permission a coaching lead's role grants (reports/roles.py).
    user.user_permissions.add(Permission.objects.get(codename="export_tutors"))
    client = Client()
    client.force_login(user)
    # A spread of tutors for the detail page: the busiest, the riskiest and some ordinary ones.
    detail_ids = list(Tutor.objects.order_by("?").values_list("pk", flat=True)[:20])
    detail_ids += list(
        Tutor.objects.filter(score__isnull=False)
        .order_by("-score__total_sessions_90d")
        .values_list("pk", flat=True)[:5]
    )
    today = timezone.now().date()
    history_range = f"from={today - timedelta(days=60)}&to={today - timedelta(days=10)}"
    alert_filters = [
        "/alerts/?status=open",
        "/alerts/?status=acknowledged",
        "/alerts/?status=snoozed",
        "/alerts/?assignee=mine",
        "/alerts/?assignee=none&age=week",
        "/alerts/?age=older&sort=severity",
    ]
    pages = [
        ("overview", ["/"], {}),
        ("overview, trend cache cold", ["/"], {"cold_cache": True}),
        ("overview, htmx poll", ["/"], {"htmx": True}),
        ("tutors, default (risk score)", ["/tutors/"], {}),
        ("tutors, sort rate", ["/tutors/?sort=rate"], {}),
        ("tutors, sort rate asc", ["/tutors/?sort=rate&order=asc"], {}),
        ("tutors, sort sessions", ["/tutors/?sort=sessions"], {}),
        ("tutors, sort name", ["/tutors/?sort=name"], {}),
        ("tutors, risk=high", ["/tutors/?risk=high"], {}),
        ("tutors, risk=medium", ["/tutors/?risk=medium"], {}),
        ("tutors, risk=low, sort rate", ["/tutors/?risk=low&sort=rate"], {}),
        ("tutors, window 7, sort rate", ["/tutors/?window=7&sort=rate"], {}),
        ("tutors, window 90, sort sessions", ["/tutors/?window=90&sort=sessions"], {}),
        ("tutors, search", ["/tutors/?q=smith", "/tutors/?q=example.com&sort=name", "/tutors/?q=ann"], {}),
        ("tutors, page 200", ["/tutors/?page=200"], {}),
        ("tutors, htmx poll", ["/tutors/?risk=high&sort=rate"], {"htmx": True}),
        ("tutor detail", [f"/tutors/{pk}/" for pk in detail_ids], {}),
        ("tutor detail, history 180 days", [f"/tutors/{pk}/?days=180" for pk in detail_ids], {}),
        ("tutor detail, history from/to", [f"/tutors/{pk}/?{history_range}" for pk in detail_ids], {}),
        ("alerts, newest", ["/alerts/"], {}),
        ("alerts, most severe", ["/alerts/?sort=severity"], {}),
        ("alerts, filter kind", [f"/alerts/?kind={kind}" for kind in Alert.Kind.values], {}),
        ("alerts, filter status/assignee/age", alert_filters, {}),
        ("alerts, htmx poll", ["/alerts/?kind=reschedule_rate&status=open"], {"htmx": True}),
        ("alerts, page 5", ["/alerts/?page=5"], {}),
        ("coaching outcomes", ["/alerts/outcomes/"], {}),
        ("how scores work", ["/how-scores-work/"], {}),
    ]
    print(
        f"{tutors:,} tutors, {Alert.objects.exclude(status='resolved').count():,} unresolved alerts; "
        f"{args.runs} requests per page, database {connection.vendor} {connection.settings_dict['NAME']}"
    )
    print(f"{'page':36} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}")
    with override_settings(STORAGES=STATIC, DEBUG=False):
        for name, urls, options in pages:
            timings, queries = measure(client, urls, args.runs, **options)
            print(
                f"{name:36} {statistics.median(timings):8.1f} {percentile(timings, 0.95):8.1f} "
                f"{max(timings):8.1f} {queries:8d}"
            )
        timings, queries = measure(client, ["/tutors/?format=csv"], 3)
        label = "CSV export, all tutors (not a page)"
        print(f"{label:36} {statistics.median(timings):8.1f} {'':8} {'':8} {queries:8d}")


if __name__ == "__main__":
    main()
