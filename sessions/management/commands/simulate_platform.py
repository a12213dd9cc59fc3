"""manage.py simulate_platform --url URL --api-key KEY --rate N --duration S [--seed 42]

Plays the platform over real HTTP (one keep-alive connection, standard library only): sessions
are scheduled a few seconds ahead, then completed, rescheduled or missed as time passes. Prints
throughput, latency and errors as it goes; stops after --duration seconds or on Ctrl-C.
"""

import http.client
import json
import statistics
import time
from collections import Counter, deque
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError

from sessions.simulator import PlatformSimulator

MAX_DURATION = 24 * 3600
MAX_RATE = 1000


class Command(BaseCommand):
    help = "Post simulated platform sessions to a running TutorScore API at a steady rate."

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True, help="Base URL of the API, e.g. http://127.0.0.1:8000")
        parser.add_argument("--api-key", required=True, help="An API key (manage.py create_api_key NAME).")
        parser.add_argument("--rate", type=float, default=5.0, help="Requests per second (default 5).")
        parser.add_argument("--duration", type=float, default=60.0, help="Seconds to run (default 60).")
        parser.add_argument(
            "--seed",
            type=int,
            default=42,
            help="Draws the tutors: the same seed plays the same tutors again, another seed others "
            "(sessions are new on every run).",
        )
        parser.add_argument("--tutors", type=int, default=50, help="Simulated tutors (default 50).")
        parser.add_argument("--lead", type=float, default=20.0, help="Seconds a session is booked ahead.")
        parser.add_argument("--report-every", type=float, default=5.0, help="Seconds between progress lines.")

    def handle(self, *args, **options):
        rate, duration = options["rate"], options["duration"]
        if not 0 < rate <= MAX_RATE:
            raise CommandError(f"--rate must be between 0 and {MAX_RATE} requests per second.")
        if not 0 < duration <= MAX_DURATION:
            raise CommandError(f"--duration must be between 0 and {MAX_DURATION} seconds.")
        if options["tutors"] < 1 or options["lead"] < 3:
            raise CommandError("--tutors must be at least 1 and --lead at least 3 seconds.")
        target = urlsplit(options["url"])
        if target.scheme not in ("http", "https") or not target.hostname:
            raise CommandError("--url must look like http://host:port")

        simulator = PlatformSimulator(
            seed=options["seed"], tutors=options["tutors"], lead_seconds=options["lead"]
        )
        client = ApiClient(target, options["api_key"])
        stats = Stats()
        self.stdout.write(
            f"Posting to {options['url']}/api/sessions at {rate:g}/s for {duration:g}s "
            f"({options['tutors']} tutors, seed {options['seed']}). Ctrl-C stops."
        )
        started = time.monotonic()
        next_report = started + options["report_every"]
        try:
            while (moment := time.monotonic()) < started + duration:
                if moment >= next_report:
                    self._report(stats, started, simulator)
                    next_report += options["report_every"]
                # Pace by schedule (request n goes at n / rate), so slow answers do not lower the rate.
                due_at = started + stats.sent / rate
                if moment < due_at:
                    time.sleep(min(due_at, next_report, started + duration) - moment)
                    continue
                payload = simulator.next_payload(now=datetime.now(UTC))
                stats.record(*client.post("/api/sessions", payload), status=payload["status"])
        except KeyboardInterrupt:
            self.stdout.write("Interrupted.")
        finally:
            client.close()
        self._report(stats, started, simulator, final=True)

    def _report(self, stats, started, simulator, final=False):
        elapsed = max(time.monotonic() - started, 1e-9)
        line = (
            f"{'done' if final else 'progress'} t={elapsed:.0f}s sent={stats.sent} "
            f"({stats.sent / elapsed:.1f}/s) accepted={stats.accepted} errors={stats.errors} "
            f"latency p50={stats.percentile(50):.1f}ms p95={stats.percentile(95):.1f}ms "
            f"pending={len(simulator.pending)}"
        )
        self.stdout.write(line)
        if final:
            self.stdout.write(
                f"by kind: {dict(stats.kinds)}; error statuses: {dict(stats.statuses) or 'none'}"
            )
            for sample in stats.error_samples:
                self.stdout.write(f"  error sample: {sample}")
        if final and stats.errors:
            self.stderr.write(f"{stats.errors} requests failed.")


class ApiClient:
    """One keep-alive HTTP connection, reopened after a network error."""

    def __init__(self, target, api_key):
        self.target, self.api_key = target, api_key
        self.connection = None

    def _connect(self):
        factory = http.client.HTTPSConnection if self.target.scheme == "https" else http.client.HTTPConnection
        return factory(self.target.hostname, self.target.port, timeout=10)

    def post(self, path, payload):
        """(HTTP status or 0 for a network error, latency in ms, short error text or None)."""
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"}
        base_path = self.target.path.rstrip("/")
        started = time.perf_counter()
        try:
            self.connection = self.connection or self._connect()
            self.connection.request("POST", base_path + path, body=body, headers=headers)
            response = self.connection.getresponse()
            text = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return 0, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"
        latency = (time.perf_counter() - started) * 1000
        return (
            response.status,
            latency,
            None if response.status == 202 else text[:300].decode(errors="replace"),
        )

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Stats:
    def __init__(self):
        self.sent = self.accepted = self.errors = 0
        self.latencies = deque(maxlen=100_000)  # bounded memory on long runs: recent requests
        self.kinds, self.statuses = Counter(), Counter()
        self.error_samples = []

    def record(self, http_status, latency_ms, error, *, status):
        self.sent += 1
        self.kinds[status] += 1
        self.latencies.append(latency_ms)
        if http_status == 202:
            self.accepted += 1
            return
        self.errors += 1
        self.statuses[http_status] += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"HTTP {http_status}: {error}")

    def percentile(self, percent):
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[percent - 1]
