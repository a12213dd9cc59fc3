"""Time the engine's facts read for given tutors (the per-ingest scoring, a burst's rescoring), with
PostgreSQL's default plan and with the plan `scoring/facts.py` asks for (facts.plan_for_given_tutors).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/tutorscore_bench_10m python bench/facts.py

Reads the data set on BENCH_DATABASE_URL (default: tutorscore_bench, see bench/README.md) and
writes nothing. Each figure is the best of --repeat reads inside a transaction (as a scoring
runs them); both plans must return the same facts, or the script fails.
"""

import argparse
import os
import random
import time
from datetime import timedelta

from data_set import set_up_django

set_up_django()

from django.db import transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from scoring import facts  # noqa: E402
from sessions.models import Session  # noqa: E402


def best_read(tutor_ids, *, now, repeat, engine_plan):
    """(best milliseconds, facts) of read_facts for these tutors, each read in its own transaction;
    engine_plan=False: with the server's settings."""
    asked_for = facts.plan_for_given_tutors
    if not engine_plan:
        facts.plan_for_given_tutors = lambda tutor_ids: None
    try:
        timings = []
        for _ in range(repeat):
            with transaction.atomic():
                started = time.perf_counter()
                read = facts.read_facts(now=now, tutor_ids=tutor_ids)
                timings.append((time.perf_counter() - started) * 1000)
        return min(timings), read
    finally:
        facts.plan_for_given_tutors = asked_for


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    now = timezone.now()
    by_activity = list(
        Session.objects.filter(scheduled_time__gt=now - timedelta(days=90))
        .values("tutor_id")
        .annotate(sessions=Count("id"))
        .order_by("-sessions")
        .values_list("tutor_id", "sessions")
    )
    sessions = dict(by_activity)
    ids = [tutor_id for tutor_id, _ in by_activity]
    pick = random.Random(42)
    sets = {
        "the busiest tutor": ids[:1],
        "the 5 busiest": ids[:5],
        "20 at random": pick.sample(ids, 20),
        "64 at random": pick.sample(ids, 64),
        "the 64 busiest": ids[:64],
        "250 at random": pick.sample(ids, 250),
        "the 250 busiest": ids[:250],
    }
    print(f"{len(ids):,} tutors with sessions in 90 days; the busiest has {by_activity[0][1]:,}")
    print(f"{'tutors':<20}{'sessions':>10}{'default plan':>15}{'engine plan':>15}")
    for label, tutor_ids in sets.items():
        default_ms, default_facts = best_read(tutor_ids, now=now, repeat=args.repeat, engine_plan=False)
        engine_ms, engine_facts = best_read(tutor_ids, now=now, repeat=args.repeat, engine_plan=True)
        if default_facts != engine_facts:
            raise SystemExit(f"{label}: the two plans read different facts")
        rows = sum(sessions[tutor_id] for tutor_id in tutor_ids)
        print(f"{label:<20}{rows:>10,}{default_ms:>12.1f} ms{engine_ms:>12.1f} ms")
    print("load average:", " ".join(f"{value:.2f}" for value in os.getloadavg()), "(2 cores, shared)")


if __name__ == "__main__":
    main()
