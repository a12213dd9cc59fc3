"""Ingest API benchmark: single POST latency, bulk throughput, time to insight.

    python bench/ingest.py [--single 400] [--bulk-batches 10] [--insight-seconds 30] [--burst 2000]
    python bench/ingest.py --database tutorscore_bench_10m --tutors 500 --warmup-sessions 0 \
        --single 0 --bulk-batches 0      # time to insight on an existing data set, its busiest tutors

Starts its own stack on a scratch PostgreSQL database (dropped afterwards) on the server named by
BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432): gunicorn (2 gthread workers ×
4 threads, production settings) and ONE `qcluster` (ORM broker, as deployed by default). Then:

1. single `POST /api/sessions` latency p50/p95 at concurrency 1 and 8 (threads, one keep-alive
   http.client connection each), while the worker scores what arrives;
2. bulk ingest: `POST /api/sessions/bulk` with 1,000 new sessions per request, sessions/s; then
   the same batches again with every session changed (updates: one more path of the upsert);
3. time to insight, for each session the time from its 202 until the tutor's score covers it
   (calculated after the post, or up to date with the tutor's sessions): first for sessions
   arriving one at a time (20 sessions/s for ~30 s), then during a burst of 2,000 sessions
   posted at concurrency 8.

Floors (issue 4): single POST p95 < 50 ms, bulk ≥ 2,000 sessions/s, time to insight p95 < 5 s.
Aims (SPEC §12): single POST p95 < 8 ms / < 50 ms, bulk ≥ 5,000 sessions/s, time to insight p95
< 25 ms one at a time and < 2 s in the burst.
"""

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testsupport.livestack import LiveStack  # noqa: E402

SERVER = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


class Platform:
    """Completed sessions of a fixed pool of tutors, scheduled in the last 30 days."""

    def __init__(self, tutors, seed=42, tutor_ids=None):
        self.random = random.Random(seed)
        self.tutors = tutor_ids or [
            uuid.UUID(int=self.random.getrandbits(128), version=4) for _ in range(tutors)
        ]
        self.lock = threading.Lock()

    def session(self, tutor_id=None):
        with self.lock:
            tutor_id = tutor_id or self.random.choice(self.tutors)
            scheduled = datetime.now(UTC) - timedelta(minutes=self.random.randint(60, 30 * 24 * 60))
            rescheduled = self.random.random() < 0.2
            session_id = uuid.UUID(int=self.random.getrandbits(128), version=4)
        payload = {
            "session_id": str(session_id),
            "tutor_id": str(tutor_id),
            "student_id": f"student-{session_id.hex[:6]}",
            "scheduled_time": iso(scheduled),
            "status": "rescheduled" if rescheduled else "completed",
            "duration_minutes": 60,
        }
        if rescheduled:
            payload["reschedule_info"] = {
                "initiator": "tutor",
                "reason": "Scheduling conflict",
                "original_time": iso(scheduled),
                "new_time": iso(scheduled + timedelta(days=1)),
            }
        else:
            payload["completed_time"] = iso(scheduled + timedelta(hours=1))
        return payload


class Connection:
    def __init__(self, port, key):
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}

    def post(self, path, payload):
        """(status, seconds, body) of one request on the keep-alive connection."""
        body = json.dumps(payload)
        started = time.perf_counter()
        self.http.request("POST", path, body=body, headers=self.headers)
        response = self.http.getresponse()
        data = response.read()
        return response.status, time.perf_counter() - started, data


def percentile(values, percent):
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


FLOORS = {  # issue 4
    "single_p95_c1_ms": lambda ms: ms < 50,
    "single_p95_c8_ms": lambda ms: ms < 50,
    "bulk_sessions_per_s": lambda rate: rate >= 2000,
    "insight_p95_ms": lambda ms: ms < 5000,
}
AIMS = {  # SPEC §12
    "single_p95_c1_ms": lambda ms: ms < 8,
    "single_p95_c8_ms": lambda ms: ms < 50,
    "bulk_sessions_per_s": lambda rate: rate >= 5000,
    "insight_p95_ms": lambda ms: ms < 25,
    "burst_insight_p95_ms": lambda ms: ms < 2000,
}


def run_concurrently(function, threads):
    """Run `function` in that many threads at once; return the seconds until all are done. A
    thread's failure is raised here once all are done (a thread alone would end in silence)."""
    failures = []

    def run():
        try:
            function()
        except BaseException as failure:  # noqa: BLE001 - SystemExit included: re-raised below
            failures.append(failure)

    started = time.perf_counter()
    running = [threading.Thread(target=run) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - started


def single_latency(stack, key, platform, *, requests, concurrency):
    latencies, errors = [], []
    per_thread = requests // concurrency

    def run():
        connection = Connection(stack.port, key)
        for _ in range(per_thread):
            status, seconds, body = connection.post("/api/sessions", platform.session())
            (latencies if status == 202 else errors).append(
                seconds if status == 202 else (status, body[:200])
            )

    elapsed = run_concurrently(run, concurrency)
    ms = [value * 1000 for value in latencies]
    print(
        f"single POST  concurrency {concurrency}: {len(ms)} requests, {len(ms) / elapsed:.0f} req/s, "
        f"p50 {percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms, max {max(ms):.1f} ms, "
        f"errors {len(errors)} {errors[:2]}"
    )
    return percentile(ms, 95)


def bulk_throughput(stack, key, batches, *, label):
    """POST each batch to /api/sessions/bulk; sessions/s over the requests' time."""
    connection = Connection(stack.port, key)
    timings = []
    web_before, database_before = stack.cpu_seconds("web"), stack.database_cpu_seconds()
    for sessions in batches:
        status, seconds, body = connection.post("/api/sessions/bulk", {"sessions": sessions})
        if status != 202:
            raise SystemExit(f"bulk failed: {status} {body[:300]}")
        timings.append(seconds)
    total = sum(len(sessions) for sessions in batches)
    web_cpu = (stack.cpu_seconds("web") - web_before) / total * 1000
    database_cpu = (stack.database_cpu_seconds() - database_before) / total * 1000
    rate = total / sum(timings)
    # On a loaded machine the wall-clock rate measures the neighbours; the CPU spent per session
    # (web, then database, one after the other for one client) bounds what an idle machine gives.
    # The database figure includes the worker's backends scoring meanwhile: a conservative bound.
    print(
        f"{label}: {len(batches)} × {len(batches[0])} sessions, {rate:,.0f} sessions/s "
        f"(per request p50 {percentile([t * 1000 for t in timings], 50):.0f} ms); CPU per 1,000: "
        f"web {web_cpu * 1000:.0f} ms, database {database_cpu * 1000:.0f} ms → CPU-bound "
        f"{1000 / (web_cpu + database_cpu):,.0f} sessions/s"
    )
    return rate


# Tutors this run made stale and the worker has not scored yet (staleness left over from before
# the run, e.g. by bench/api.py without a worker, is the 5-minute sweep's, not this run's).
STALE_TUTORS = """SELECT count(*) FROM tutors LEFT JOIN tutor_scores ON tutor_scores.tutor_id = tutors.id
    WHERE tutors.sessions_changed_at >= %s
      AND (tutor_scores.id IS NULL OR tutors.sessions_version > tutor_scores.sessions_version)"""
RUN_STARTED = datetime.now(UTC)


def drain(stack, timeout=180):
    """Wait (bounded) until the worker has taken every queued task and scored every tutor, so
    phases do not overlap (the queue alone empties while its last task still runs)."""
    import psycopg

    started = time.monotonic()
    with psycopg.connect(stack.database_url, autocommit=True) as db:
        while time.monotonic() - started < timeout:
            status, body = stack.request("GET", "/healthz")
            if status == 200 and body["checks"]["task_queue"]["queued_tasks"] == 0:
                if db.execute(STALE_TUTORS, (RUN_STARTED,)).fetchone()[0] == 0:
                    return time.monotonic() - started
            time.sleep(0.5)
    raise SystemExit(f"worker did not drain its queue within {timeout}s")


def analyze(stack):
    """VACUUM ANALYZE, as autovacuum would after a load (this machine's PostgreSQL runs without
    it): without statistics a freshly loaded table gets plans for an empty one."""
    import psycopg

    with psycopg.connect(stack.database_url, autocommit=True) as db:
        db.execute("VACUUM ANALYZE")


# A score covers a session accepted before this read when it was calculated after the post, or
# when it is fresh: its sessions_version has caught up with the tutor's, which the session's own
# write raised before its 202. (A score calculated a moment before the post can still have read
# it: its counts come after its timestamp. Waiting for a later one would wait forever, since
# nothing makes that tutor stale again.)
FRESHNESS = """SELECT tutor_scores.tutor_id, tutor_scores.last_calculated_at,
    tutor_scores.sessions_version >= tutors.sessions_version
    FROM tutor_scores JOIN tutors ON tutors.id = tutor_scores.tutor_id
    WHERE tutor_scores.tutor_id = ANY(%s)"""


class InsightWatch:
    """Times each accepted session from its 202 until its tutor's score covers it.

    A poller reads the pending tutors' scores every 2 ms (a bias of 1 ms on average, against an
    aim of 25 ms); a score calculated at or after the moment the session was posted, or one up to
    date with the tutor's sessions (FRESHNESS), covers it.
    """

    def __init__(self, database_url, interval=0.002):
        self.database_url, self.interval = database_url, interval
        self.pending = {}  # session_id → (tutor_id, posted_at (UTC), accepted_at (monotonic))
        self.insights, self.lock, self.done = [], threading.Lock(), threading.Event()
        self.poller = threading.Thread(target=self._poll)
        self.poller.start()

    def accepted(self, payload, posted_at):
        with self.lock:
            self.pending[payload["session_id"]] = (
                uuid.UUID(payload["tutor_id"]),
                posted_at,
                time.monotonic(),
            )

    def finish(self, timeout=60):
        """Wait (bounded) for the last sessions; return (milliseconds per scored session, unscored)."""
        self.deadline = time.monotonic() + timeout
        self.done.set()
        self.poller.join()
        return [value * 1000 for value in self.insights], len(self.pending)

    def _poll(self):
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as db:
            while not (self.done.is_set() and (not self.pending or time.monotonic() > self.deadline)):
                with self.lock:
                    waiting = dict(self.pending)
                if waiting:
                    tutor_ids = list({tutor_id for tutor_id, _, _ in waiting.values()})
                    scores = {
                        tutor_id: (last, fresh)
                        for tutor_id, last, fresh in db.execute(FRESHNESS, (tutor_ids,)).fetchall()
                    }
                    seen = time.monotonic()
                    with self.lock:
                        for session_id, (tutor_id, posted_at, accepted_at) in waiting.items():
                            last, fresh = scores.get(tutor_id, (None, False))
                            if fresh or (last is not None and last >= posted_at):
                                self.insights.append(seen - accepted_at)
                                del self.pending[session_id]
                time.sleep(self.interval)


def post_watched(connection, watch, payload):
    posted_at = datetime.now(UTC)
    status, _, body = connection.post("/api/sessions", payload)
    if status != 202:
        raise SystemExit(f"POST failed: {status} {body[:300]}")
    watch.accepted(payload, posted_at)


def report_insight(label, watch, total):
    ms, unscored = watch.finish()
    # A platform's later update of a session it posted earlier is watched as that one session.
    print(
        f"time to insight {label}: {len(ms)}/{len(ms) + unscored} sessions scored in {total} posts "
        f"({unscored} not within 60 s), "
        f"p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms, max {max(ms):.0f} ms"
    )
    return percentile(ms, 95) if not unscored else float("inf")


def time_to_insight(stack, key, platform, *, rate, seconds):
    """Post `rate` sessions/s on one connection: the latency of sessions arriving one at a time."""
    watch = InsightWatch(stack.database_url)
    connection = Connection(stack.port, key)
    started = time.monotonic()
    total = int(rate * seconds)
    for number in range(total):
        delay = started + number / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        post_watched(connection, watch, platform.session())
    return report_insight(f"at {rate:g} sessions/s for {seconds:g} s", watch, total)


def burst_insight(stack, key, platform, *, sessions, concurrency):
    """Post `sessions` as fast as `concurrency` connections can: insight while the backlog drains."""
    watch = InsightWatch(stack.database_url)

    def run():
        connection = Connection(stack.port, key)
        for _ in range(sessions // concurrency):
            post_watched(connection, watch, platform.session())

    elapsed = run_concurrently(run, concurrency)
    posted = sessions // concurrency * concurrency
    label = f"in a burst of {posted} at concurrency {concurrency} (posted in {elapsed:.1f} s)"
    return report_insight(label, watch, posted)


def existing_tutors(database, count):
    """`count` tutor ids of an existing database (None without one): the most active first."""
    if not database:
        return None
    import psycopg

    url = f"{SERVER}/{database}".replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT tutor_id FROM sessions GROUP BY tutor_id ORDER BY count(*) DESC LIMIT %s", [count]
        ).fetchall()
    return [row[0] for row in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tutors", type=int, default=500)
    parser.add_argument("--warmup-sessions", type=int, default=20_000, help="Loaded in bulk before timing.")
    parser.add_argument("--single", type=int, default=400, help="Requests per concurrency level.")
    parser.add_argument("--bulk-batches", type=int, default=10)
    parser.add_argument("--insight-rate", type=float, default=20)
    parser.add_argument("--insight-seconds", type=float, default=30)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--q-workers", type=int, default=2, help="Worker processes of the one qcluster.")
    parser.add_argument("--worker-nice", type=int, default=0, help="Run the qcluster at this nice level.")
    parser.add_argument("--burst", type=int, default=2000, help="Sessions posted at concurrency 8.")
    parser.add_argument("--skip-insight", action="store_true")
    parser.add_argument(
        "--database",
        help="Serve this existing database instead of a scratch one (kept; it gains the posted "
        "sessions) and post for `--tutors` of its tutors, with all their history: time to insight "
        "at its size. Use with --warmup-sessions 0 --single 0 --bulk-batches 0.",
    )
    args = parser.parse_args()

    platform = Platform(args.tutors, tutor_ids=existing_tutors(args.database, args.tutors))
    with LiveStack(
        database_url=f"{SERVER}/{args.database or 'postgres'}",
        scratch=not args.database,
        name="bench_ingest",
        web_workers=args.web_workers,
        web_threads=args.web_threads,
        q_workers=args.q_workers,
        worker_nice=args.worker_nice,
    ) as stack:
        key = stack.create_api_key(f"bench-{uuid.uuid4().hex[:8]}")  # unique: --database reuses one
        print(
            f"stack: {stack.url} on database {stack.name}; gunicorn {args.web_workers} workers × "
            f"{args.web_threads} threads, one qcluster with {args.q_workers} workers; {args.tutors} tutors"
        )
        # Warm-up: tutors with history, so scoring does real work; then let the worker catch up.
        connection = Connection(stack.port, key)
        for start in range(0, args.warmup_sessions, 1000):
            sessions = [platform.session() for _ in range(min(1000, args.warmup_sessions - start))]
            connection.post("/api/sessions/bulk", {"sessions": sessions})
        drain(stack)
        analyze(stack)

        figures = {}
        if args.single:
            figures["single_p95_c1_ms"] = single_latency(
                stack, key, platform, requests=args.single, concurrency=1
            )
            drain(stack)
            figures["single_p95_c8_ms"] = single_latency(
                stack, key, platform, requests=args.single, concurrency=8
            )
            print(f"  (the worker needed {drain(stack):.1f} s more to score that burst)")
        if args.bulk_batches:
            batches = [[platform.session() for _ in range(1000)] for _ in range(args.bulk_batches)]
            figures["bulk_sessions_per_s"] = bulk_throughput(stack, key, batches, label="bulk ingest")
            print(f"  (the worker needed {drain(stack):.1f} s more to score those batches)")
            corrected = [[{**session, "duration_minutes": 45} for session in batch] for batch in batches]
            figures["bulk_updates_per_s"] = bulk_throughput(
                stack, key, corrected, label="bulk update (the same sessions, corrected)"
            )
            drain(stack)
        if not args.skip_insight:
            figures["insight_p95_ms"] = time_to_insight(
                stack, key, platform, rate=args.insight_rate, seconds=args.insight_seconds
            )
            drain(stack)
            figures["burst_insight_p95_ms"] = burst_insight(
                stack, key, platform, sessions=args.burst, concurrency=8
            )

    for label, targets in (("floors", FLOORS), ("aims", AIMS)):
        verdicts = [
            f"{figure} {'met' if met(figures[figure]) else 'MISSED'}"
            for figure, met in targets.items()
            if figure in figures
        ]
        print(f"{label}: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
