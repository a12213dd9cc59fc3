"""Soak: sustained single-session POSTs; is the queue bounded, are reports on time, is memory flat?

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<your db> \\
        python bench/soak.py [--seconds 600] [--rate 50] [--tutors 100] [--redis-url redis://127.0.0.1:6379/5]

Runs the production processes on DATABASE_URL itself (migrated, never dropped): gunicorn
(2 gthread workers × 4 threads), the scoring qcluster and the mail qcluster (worker-mail), with
two report recipients and the per-session report mode `all` (every session is mailed: the
worst case for the mail side; mail is built, then dropped by Django's dummy backend). It posts
`--rate` completed sessions per second, one per request, at concurrency 4, for `--seconds`
(default 10 minutes), sampling every second: queued tasks (both queues, from /healthz) and the
RSS of the web and worker process trees. Then it waits (bounded) until every tutor is scored
and every mail sent, and prints:

- requests accepted (202) / answered otherwise;
- queue depth peak (scoring + mail tasks waiting);
- per-session report delay p50 / p95 / max: EmailReport.sent_at − the session's ingest time;
- reports missing and duplicated (expected: sessions × 2 recipients, each exactly once);
- RSS of web and workers at the start, peak and end (flat memory: end ≈ start).

Aims (SPEC §12): queue < 500, report delay p95 < 60 s, memory flat. Run one benchmark at a
time; keep it short on a shared machine (`--seconds 60`).
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testsupport.livestack import LiveStack  # noqa: E402

RECIPIENTS = "lead@example.com, ops@example.com"
SETUP = (
    "from scoring.models import ScoringSettings; s = ScoringSettings.load(); "
    f"s.report_recipients = {RECIPIENTS!r}; s.session_report_mode = 'all'; s.save()"
)
CONCURRENCY = 4
DRAIN_SECONDS = 180


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def percentile(values, share):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(share / 100 * (len(values) - 1))))]


def tree_rss_mb(pid):
    """Resident memory of a process and all its descendants, in MB.

    By tree, not process group: the worker runs its cluster in a session of its own."""
    result = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,rss="], capture_output=True, text=True)
    children, rss = {}, {}
    for line in result.stdout.splitlines():
        child, parent, resident = (int(field) for field in line.split())
        children.setdefault(parent, []).append(child)
        rss[child] = resident
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        total += rss.get(current, 0)
        pending.extend(children.get(current, []))
    return total / 1024


class Poster:
    def __init__(self, stack, key, *, tutors, rate, seconds, seed=42):
        self.stack, self.key = stack, key
        self.random = random.Random(seed)
        self.tutors = [uuid.UUID(int=self.random.getrandbits(128), version=4) for _ in range(tutors)]
        self.rate, self.seconds = rate, seconds
        self.lock = threading.Lock()
        self.statuses = {}
        self.session_ids = []

    def payload(self):
        with self.lock:
            tutor_id = self.random.choice(self.tutors)
            scheduled = datetime.now(UTC) - timedelta(minutes=self.random.randint(60, 7 * 24 * 60))
        session_id = uuid.uuid4()
        return session_id, {
            "session_id": str(session_id),
            "tutor_id": str(tutor_id),
            "student_id": f"student-{self.random.randint(1, 500)}",
            "scheduled_time": iso(scheduled),
            "completed_time": iso(scheduled + timedelta(minutes=60)),
            "status": "completed",
            "duration_minutes": 60,
        }

    def run(self):
        started = time.monotonic()
        interval = CONCURRENCY / self.rate

        def worker(offset):
            next_at = started + offset * interval / CONCURRENCY
            while next_at < started + self.seconds:
                time.sleep(max(0.0, next_at - time.monotonic()))
                session_id, payload = self.payload()
                try:
                    status, _ = self.stack.request("POST", "/api/sessions", payload, key=self.key, timeout=30)
                except OSError as error:
                    status = type(error).__name__
                with self.lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if status == 202:
                        self.session_ids.append(session_id)
                next_at += interval

        threads = [threading.Thread(target=worker, args=(offset,)) for offset in range(CONCURRENCY)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


class Sampler(threading.Thread):
    def __init__(self, stack):
        super().__init__(daemon=True)
        self.stack = stack
        self.stopping = threading.Event()
        self.samples = []  # (queued tasks, web MB, workers MB)

    def run(self):
        processes = {process.name: process for process in self.stack.processes}
        while not self.stopping.is_set():
            try:
                _, health = self.stack.request("GET", "/healthz", timeout=10)
                queue = health["checks"]["task_queue"]
                queued = queue["queued_tasks"] + queue["queued_mail_tasks"]
            except (OSError, KeyError, TypeError):
                queued = None
            web = tree_rss_mb(processes["web"].pid)
            workers = tree_rss_mb(processes["worker"].pid) + tree_rss_mb(processes["worker-mail"].pid)
            self.samples.append((queued, web, workers))
            self.stopping.wait(1.0)


def report_figures(database_url, session_ids):
    """(delays in seconds, missing, duplicated) of the per-session reports of these sessions."""
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as connection:
        rows = connection.execute(
            "SELECT r.session_id, r.recipient_email, r.status, "
            "EXTRACT(EPOCH FROM (r.sent_at - s.created_at)) "
            "FROM email_reports r JOIN sessions s ON s.id = r.session_id "
            "WHERE r.kind = 'session_report' AND r.session_id = ANY(%s)",
            [list(session_ids)],
        ).fetchall()
    per_pair = {}
    delays = []
    for session_id, recipient, status, delay in rows:
        per_pair[(session_id, recipient)] = per_pair.get((session_id, recipient), 0) + 1
        if status == "sent" and delay is not None:
            delays.append(float(delay))
    expected = len(session_ids) * len(RECIPIENTS.split(","))
    sent = sum(1 for *_, status, delay in rows if status == "sent")
    duplicated = sum(count - 1 for count in per_pair.values() if count > 1)
    return delays, expected - sent, duplicated


def outstanding(database_url):
    """Tutors not yet rescored plus mails not yet sent: 0 once the pipeline has caught up."""
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as connection:
        return connection.execute(
            "SELECT (SELECT count(*) FROM tutors t LEFT JOIN tutor_scores s ON s.tutor_id = t.id "
            "        WHERE s.tutor_id IS NULL OR t.sessions_version > s.sessions_version) "
            "     + (SELECT count(*) FROM email_reports WHERE status IN ('pending', 'sending'))"
        ).fetchone()[0]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--rate", type=float, default=50.0, help="sessions posted per second")
    parser.add_argument("--tutors", type=int, default=100)
    parser.add_argument("--redis-url", default=None, help="Redis broker (default: the ORM broker)")
    options = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("set DATABASE_URL to your own PostgreSQL database")

    setup = [("setup_schedules",), ("shell", "-c", SETUP)]
    with LiveStack(
        database_url=database_url,
        scratch=False,
        redis_url=options.redis_url,
        setup=setup,
        # Mail is rendered, built and handed to a backend that drops it: the locmem backend would
        # keep every message in the worker's memory, which is not the memory this measures.
        email_backend="django.core.mail.backends.dummy.EmailBackend",
    ) as stack:
        key = stack.create_api_key(f"soak-{uuid.uuid4().hex[:8]}")
        broker = "redis" if options.redis_url else "orm"
        print(
            f"soak: {options.rate:g} sessions/s for {options.seconds} s, "
            f"{options.tutors} tutors, {broker} broker"
        )
        sampler = Sampler(stack)
        sampler.start()
        poster = Poster(stack, key, tutors=options.tutors, rate=options.rate, seconds=options.seconds)
        poster.run()
        posted_at = time.monotonic()
        while (left := outstanding(database_url)) and time.monotonic() - posted_at < DRAIN_SECONDS:
            time.sleep(1)
        drained = time.monotonic() - posted_at
        time.sleep(2)
        sampler.stopping.set()
        sampler.join()
        delays, missing, duplicated = report_figures(database_url, poster.session_ids)

    queued = [sample[0] for sample in sampler.samples if sample[0] is not None]
    web = [sample[1] for sample in sampler.samples]
    workers = [sample[2] for sample in sampler.samples]
    accepted = poster.statuses.get(202, 0)
    others = {status: count for status, count in poster.statuses.items() if status != 202}
    print(f"requests: {accepted} accepted (202), otherwise {others or 'none'}")
    print(f"queue depth: peak {max(queued, default=0)}, median {statistics.median(queued) if queued else 0}")
    if left:
        print(f"scoring and outbox NOT caught up {drained:.0f} s after posting stopped: {left} outstanding")
    else:
        print(f"scoring and outbox caught up {drained:.0f} s after posting stopped")
    print(
        f"per-session report delay: p50 {percentile(delays, 50):.1f} s, p95 {percentile(delays, 95):.1f} s, "
        f"max {max(delays, default=float('nan')):.1f} s ({len(delays)} reports)"
    )
    print(f"reports missing: {missing}, duplicated: {duplicated}")
    print(f"RSS web: start {web[0]:.0f} MB, peak {max(web):.0f} MB, end {web[-1]:.0f} MB")
    print(
        f"RSS workers (scoring + mail): start {workers[0]:.0f} MB, peak {max(workers):.0f} MB, "
        f"end {workers[-1]:.0f} MB"
    )


if __name__ == "__main__":
    main()
