"""Per-request cost of the platform API, as ratios to `GET /healthz` measured in the same run.

    python bench/generate.py --database tutorscore_bench_api --tutors 1000 --sessions 100000 --keep --scores
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tutorscore_bench_api python bench/api.py [--rounds 6]

1. Over HTTP: gunicorn (2 gthread workers × 4 threads, production settings, as bench/ingest.py
   runs it; no task worker, so nothing else competes for the cores) serves DATABASE_URL's data
   set. One keep-alive connection sends blocks of `--block` requests per endpoint, the endpoints
   taking turns for `--rounds` rounds so that the machine's changing load falls on all of them
   alike. Prints p50/p95 per endpoint, p95 as a ratio to `/healthz`'s p95 (SPEC §12: tutor detail
   ≤ 2×, list ≤ 2×, single POST ≤ 2.5×), and the CPU the gunicorn processes and the PostgreSQL
   backends spent per request (the figure this shared 2-core machine's load does not distort),
   also as a ratio to /healthz's.
2. In-process (`--in-process N`): N single POSTs through Django's test Client, CPU
   (`time.process_time`) per POST, by phase with `--profile` (cProfile on CPU time, top
   functions); with `--in-process-bulk N`, then N bulk POSTs of 1,000 new sessions, web CPU per 1,000.

The POSTs add completed sessions for existing tutors (new session and student ids); their queued
scoring tasks are deleted afterwards (no worker runs here).
"""

import argparse
import contextlib
import http.client
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testsupport.livestack import LiveStack  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tutorscore_bench_api")
TARGETS = {"GET /api/tutors/{id}": 2, "GET /api/tutors": 2, "POST /api/sessions": 2.5}  # × healthz p95


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def session_payload(tutor_id, rng):
    scheduled = datetime.now(UTC) - timedelta(minutes=rng.randint(60, 30 * 24 * 60))
    session_id = uuid.uuid4()  # new on every run: a repeat would be an update
    return {
        "session_id": str(session_id),
        "tutor_id": str(tutor_id),
        "student_id": f"bench-{session_id.hex[:10]}",
        "scheduled_time": iso(scheduled),
        "completed_time": iso(scheduled + timedelta(hours=1)),
        "status": "completed",
        "duration_minutes": 60,
    }


def percentile(values, percent):
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def read_ids(database_url):
    import psycopg

    with psycopg.connect(database_url) as db:
        tutors = [row[0] for row in db.execute("SELECT tutor_id FROM tutor_scores ORDER BY tutor_id")]
        sessions = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
    return tutors, sessions


def vacuum_read_tables(database_url):
    """VACUUM ANALYZE the tables the reads use. This machine's PostgreSQL runs without autovacuum,
    and every earlier benchmark's scoring left score and tutor rows dead: the list's index-only
    scans then fetched ~2,000 heap rows each (at 10,000 tutors) that autovacuum would have spared."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as db:
        for table in ("tutors", "tutor_scores"):
            db.execute(f"VACUUM ANALYZE {table}")


def delete_queued_tasks(database_url):
    import psycopg

    with psycopg.connect(database_url) as db:
        db.execute("DELETE FROM django_q_ormq")


def over_http(args, tutor_ids):
    rng = random.Random(42)
    with LiveStack(
        database_url=DATABASE_URL, scratch=False, clusters=0, web_workers=2, web_threads=4
    ) as stack:
        key = stack.create_api_key(f"bench-api-{uuid.uuid4().hex[:6]}")
        http_connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

        def request(method, path, body=None, headers=auth):
            started = time.perf_counter()
            http_connection.request(method, path, body=body, headers=headers)
            response = http_connection.getresponse()
            response.read()
            return response.status, time.perf_counter() - started

        endpoints = {
            "GET /healthz": lambda: request("GET", "/healthz", headers={}),
            "GET /api/tutors/{id}": lambda: request("GET", f"/api/tutors/{rng.choice(tutor_ids)}"),
            "GET /api/tutors": lambda: request("GET", "/api/tutors"),
            "GET /api/tutors/{id}/history": lambda: request(
                "GET", f"/api/tutors/{rng.choice(tutor_ids)}/history"
            ),
            "POST /api/sessions": lambda: request(
                "POST", "/api/sessions", json.dumps(session_payload(rng.choice(tutor_ids), rng))
            ),
        }
        for send in endpoints.values():  # warm-up: connections, imports, caches
            for _ in range(10):
                send()
        latencies = {name: [] for name in endpoints}
        cpu = dict.fromkeys(endpoints, 0.0)
        database_cpu = dict.fromkeys(endpoints, 0.0)
        for _ in range(args.rounds):
            for name, send in endpoints.items():
                before, database_before = stack.cpu_seconds("web"), stack.database_cpu_seconds()
                for _ in range(args.block):
                    status, seconds = send()
                    if status not in (200, 202):
                        raise SystemExit(f"{name} answered {status}")
                    latencies[name].append(seconds * 1000)
                cpu[name] += stack.cpu_seconds("web") - before
                database_cpu[name] += stack.database_cpu_seconds() - database_before
    delete_queued_tasks(DATABASE_URL)

    healthz_p95 = percentile(latencies["GET /healthz"], 95)
    print(
        f"{'endpoint':30} {'p50 ms':>7} {'p95 ms':>7} {'p95/healthz':>12} {'CPU ms/req web':>15} "
        f"{'database':>9} {'CPU/healthz':>12}  target (p95 ratio)"
    )
    healthz_cpu = (cpu["GET /healthz"] + database_cpu["GET /healthz"]) / len(latencies["GET /healthz"])
    for name, values in latencies.items():
        ratio = percentile(values, 95) / healthz_p95
        target = TARGETS.get(name)
        verdict = f"≤ {target:g}× {'met' if ratio <= target else 'MISSED'}" if target else ""
        print(
            f"{name:30} {statistics.median(values):7.1f} {percentile(values, 95):7.1f} {ratio:11.1f}× "
            f"{cpu[name] * 1000 / len(values):15.1f} {database_cpu[name] * 1000 / len(values):9.1f} "
            f"{(cpu[name] + database_cpu[name]) / len(values) / healthz_cpu:11.1f}×  {verdict}"
        )


def in_process(args, tutor_ids):
    os.environ.update(DJANGO_SETTINGS_MODULE="tutorscore.settings", DATABASE_URL=DATABASE_URL)
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    import django

    django.setup()
    from django.test import Client

    from sessions.models import ApiKey

    rng = random.Random(7)
    _, key = ApiKey.create_key(f"bench-api-{uuid.uuid4().hex[:6]}")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")

    def post():
        body = json.dumps(session_payload(rng.choice(tutor_ids), rng))
        response = client.post("/api/sessions", body, content_type="application/json")
        assert response.status_code == 202, response.content

    for _ in range(20):
        post()
    if args.in_process:
        with profiled(args.profile):
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            for _ in range(args.in_process):
                post()
            cpu = (time.process_time() - cpu_started) / args.in_process * 1000
            wall = (time.perf_counter() - wall_started) / args.in_process * 1000
        print(
            f"in-process single POST ({args.in_process} requests): "
            f"CPU {cpu:.2f} ms, wall {wall:.2f} ms per request"
        )
    if args.in_process_bulk:
        batches = [
            json.dumps({"sessions": [session_payload(rng.choice(tutor_ids), rng) for _ in range(1000)]})
            for _ in range(args.in_process_bulk + 1)
        ]
        client.post("/api/sessions/bulk", batches.pop(), content_type="application/json")  # warm-up
        # This machine's PostgreSQL runs without autovacuum: every ingest leaves its tutors' rows
        # dead once more (mark_changed), and a bloated tutors table would be measured instead.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE tutors")
        database_started = backend_cpu()
        with profiled(args.profile):
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            for body in batches:
                response = client.post("/api/sessions/bulk", body, content_type="application/json")
                assert response.status_code == 202, response.content
            cpu = (time.process_time() - cpu_started) / args.in_process_bulk * 1000
            wall = (time.perf_counter() - wall_started) / args.in_process_bulk * 1000
        database = (backend_cpu() - database_started) / args.in_process_bulk * 1000
        load = Path("/proc/loadavg").read_text().strip()
        print(
            f"in-process bulk POST ({args.in_process_bulk} × 1,000 new sessions): CPU per 1,000: "
            f"web {cpu:.0f} ms, its PostgreSQL backend {database:.0f} ms (wall {wall:.0f} ms) → "
            f"CPU-bound {1000 / (cpu + database) * 1000:,.0f} sessions/s; load average {load}"
        )
    delete_queued_tasks(DATABASE_URL)


def backend_cpu():
    """CPU seconds of this process's PostgreSQL backend so far (the server runs on this machine)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [pid] = cursor.fetchone()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def profiled(enabled):
    """cProfile on CPU time around the block, top functions printed after it (when enabled)."""
    if not enabled:
        yield
        return
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    yield
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--block", type=int, default=50, help="Requests per endpoint per round.")
    parser.add_argument(
        "--in-process", type=int, default=500, help="Single POSTs timed in-process (0: skip)."
    )
    parser.add_argument(
        "--in-process-bulk", type=int, default=0, help="Bulk POSTs of 1,000 new sessions timed in-process."
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the in-process POSTs, single and bulk (CPU time)."
    )
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()

    tutor_ids, sessions = read_ids(DATABASE_URL)
    if not tutor_ids:
        sys.exit("No scored tutors in DATABASE_URL's database: build the data set (see the docstring).")
    print(
        f"data set: {len(tutor_ids):,} scored tutors, {sessions:,} sessions "
        f"({DATABASE_URL.rsplit('/', 1)[1]})"
    )
    if not args.skip_http:
        vacuum_read_tables(DATABASE_URL)
        over_http(args, tutor_ids)
    if args.in_process or args.in_process_bulk:
        in_process(args, tutor_ids)


if __name__ == "__main__":
    main()
