"""Time the full recompute against one raw SQL GROUP BY, and score_tutor over 200 tutors.

    python bench/recompute.py [--repeat 3] [--tutors 200]

Reads the shared PostgreSQL data set `tutorscore_bench` (10,000 tutors / 1,000,000 sessions, see
bench/README.md) on BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/tutorscore_bench).
Every timed recompute runs inside a transaction that is rolled back, so the shared data (scores,
alerts) is left exactly as it was. `now` is the time the data set was last scored, so the
computation sees the same windows as the stored scores.

Targets (issue 3): recompute_all < 30 s and ≤ 1.5× the raw SQL; score_tutor p95 < 20 ms.
It also times the same GROUP BY written into every score row (the floor of any recompute that
stores each tutor's score), recompute_all's phases and the CPU of this process during it (the
floor is PostgreSQL's CPU alone), so the ratio can be read against both.
Issue 17 re-scoped the 1.5× target against an honest floor: ONE statement,
`UPDATE tutor_scores … FROM (the engine's own grouped query)`, that computes every aggregate the
score reads and writes them into the score rows (those without a column of their own, the
weekday and reason-code counts behind the pattern reasons, into `reasons` as a JSON object, so
PostgreSQL cannot skip computing them).
The machine is shared: take the best of --repeat runs and read the figures as approximate.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta

from data_set import set_up_django

set_up_django()

from django.db import connection, transaction  # noqa: E402
from django.db.models import Max  # noqa: E402
from django.utils import timezone  # noqa: E402

from scoring import engine, facts, upsert  # noqa: E402
from scoring.alerts import read_flags, sync_alerts  # noqa: E402
from scoring.models import ScoringSettings, TutorScore  # noqa: E402
from sessions.models import Session, Tutor  # noqa: E402

TUTOR_RESCHEDULE = "s.status = 'rescheduled' AND r.initiator = 'tutor'"
RAW_SQL = f"""
SELECT s.tutor_id,
       COUNT(*) FILTER (WHERE s.scheduled_time > %(since_7)s),
       COUNT(*) FILTER (WHERE s.scheduled_time > %(since_7)s AND {TUTOR_RESCHEDULE}),
       COUNT(*) FILTER (WHERE s.scheduled_time > %(since_30)s),
       COUNT(*) FILTER (WHERE s.scheduled_time > %(since_30)s AND {TUTOR_RESCHEDULE}),
       COUNT(*),
       COUNT(*) FILTER (WHERE {TUTOR_RESCHEDULE})
FROM sessions s LEFT JOIN reschedules r ON r.session_id = s.id
WHERE s.status IN ('completed', 'rescheduled', 'no_show')
  AND s.scheduled_time > %(since_90)s AND s.scheduled_time <= %(now)s
GROUP BY s.tutor_id
"""


# The floor of any full recompute that stores every tutor's score: the same GROUP BY, then its
# counts written into the 10,000 score rows (only the counts and the calculation time). In two
# statements, as a recompute does it: PostgreSQL never runs the SELECT of an UPDATE … FROM in
# parallel, so one statement would time a serial GROUP BY (twice as slow here) instead.
COUNT_COLUMNS = "tutor_id, total_7, reschedules_7, total_30, reschedules_30, total_90, reschedules_90"
FLOOR_SQL = [
    f"CREATE TEMPORARY TABLE raw_counts ({COUNT_COLUMNS}) ON COMMIT DROP AS {RAW_SQL}",
    """
UPDATE tutor_scores t
SET total_sessions_7d = c.total_7, tutor_reschedules_7d = c.reschedules_7,
    total_sessions_30d = c.total_30, tutor_reschedules_30d = c.reschedules_30,
    total_sessions_90d = c.total_90, tutor_reschedules_90d = c.reschedules_90,
    last_calculated_at = %(now)s
FROM raw_counts c
WHERE t.tutor_id = c.tutor_id
""",
]

# Aggregates of facts.window_counts_sql that have a score column; the others go to `reasons`.
SCORE_COLUMNS = {
    **{f"total_{days}": f"total_sessions_{days}d" for days in (7, 30, 90)},
    **{f"tutor_reschedules_{days}": f"tutor_reschedules_{days}d" for days in (7, 30, 90)},
    "no_shows_30d": "no_shows_30d",
    "rated": "rated_sessions_90d",
    "first_sessions": "first_sessions_90d",
    "retained_first_sessions": "retained_first_sessions_90d",
}


def one_statement_floor(now):
    """Every aggregate the score reads, computed by the engine's own grouped query and written into
    the score rows, in one `UPDATE … FROM`; returns the number of rows written."""
    sql, params = facts.window_counts_sql(now, None)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({sql}) c LIMIT 0", params)
        aliases = [column[0] for column in cursor.description if column[0] != "tutor_id"]
        others = [alias for alias in aliases if alias not in SCORE_COLUMNS]
        # A tutor without reschedules has NULL reschedule counts (a LEFT JOIN in the statement).
        assignments = [
            f"{SCORE_COLUMNS[alias]} = coalesce(c.{alias}, 0)" for alias in aliases if alias in SCORE_COLUMNS
        ]
        assignments.append(
            "average_rating_90d = round(c.rating_sum::numeric / nullif(c.rated, 0), 2)"
            if "rating_sum" in others
            else "average_rating_90d = NULL"
        )
        packed = ", ".join(f"'{alias}', coalesce(c.{alias}, 0)" for alias in others)
        assignments.append(f"reasons = jsonb_build_object({packed})")
        cursor.execute(
            f"UPDATE tutor_scores t SET {', '.join(assignments)}, last_calculated_at = %s "
            f"FROM ({sql}) c WHERE t.tutor_id = c.tutor_id",
            [now, *params],
        )
        return cursor.rowcount


class Rollback(Exception):
    pass


def timed_in_rollback(function):
    """Run function() in a transaction that is rolled back; return (seconds, result)."""
    result = None
    started = time.perf_counter()
    try:
        with transaction.atomic():
            result = function()
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    return elapsed, result


def vacuum(*tables):
    """This machine's PostgreSQL runs without autovacuum, and every rolled-back write leaves the
    rows it wrote dead: measure what a vacuumed database does."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def raw_sql(now, *statements):
    """Run the statements (default: the raw GROUP BY); the last one's rows, or its row count."""
    params = {f"since_{days}": now - timedelta(days=days) for days in (7, 30, 90)} | {"now": now}
    with connection.cursor() as cursor:
        for sql in statements or [RAW_SQL]:
            cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def recompute_in_phases(now, settings):
    """recompute_all's steps one by one (same code, same transaction, the collector paused as
    recompute_all pauses it): seconds per phase. recompute_all itself overlaps the last two (the
    server upserts one chunk of scores while Python builds the next), so its total is less than
    their sum."""
    phases = {}
    with engine.cyclic_gc_paused():
        started = time.perf_counter()
        tutor_facts = facts.read_facts(now=now)
        phases["read the facts"] = time.perf_counter() - started
        started = time.perf_counter()
        scores = [
            engine.build_score(tutor_id, row, settings=settings, now=now)
            for tutor_id, row in tutor_facts.items()
        ]
        phases["build scores and reasons"] = time.perf_counter() - started
        started = time.perf_counter()
        previous_flags = read_flags()
        scores = upsert.save_scores(scores)
        sync_alerts(scores, now=now, previous_flags=previous_flags)
        phases["save scores, sync alerts"] = time.perf_counter() - started
    return phases


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each full measurement (best is kept).")
    parser.add_argument("--tutors", type=int, default=200, help="Tutors timed with score_tutor.")
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        sys.exit("bench/recompute.py measures PostgreSQL; set BENCH_DATABASE_URL.")
    tutors = Tutor.objects.count()
    sessions = Session.objects.count()
    if sessions < 1000:
        sys.exit(
            "tutorscore_bench holds no data; generate it once (bench/README.md):\n"
            "  generate_data --tutors 10000 --sessions 1000000 --days 90 --seed 42"
        )
    vacuum("sessions", "reschedules", "tutors", "tutor_scores", "alerts")
    now = TutorScore.objects.aggregate(latest=Max("last_calculated_at"))["latest"] or timezone.now()
    settings = ScoringSettings.load()
    print(
        f"{connection.settings_dict['NAME']}: {tutors:,} tutors, {sessions:,} sessions; "
        f"now = {now.isoformat()}"
    )

    raw_times, write_times, recompute_times, phase_runs, floor_times = [], [], [], [], []
    recompute_cpu = []
    for run in range(1, args.repeat + 1):
        raw_seconds, rows = timed_in_rollback(lambda: raw_sql(now))
        vacuum("tutor_scores")
        write_seconds, written = timed_in_rollback(lambda: raw_sql(now, *FLOOR_SQL))
        vacuum("tutor_scores")
        floor_seconds, floor_rows = timed_in_rollback(lambda: one_statement_floor(now))
        floor_times.append(floor_seconds)
        vacuum("tutor_scores", "alerts")
        cpu_started = time.process_time()
        recompute_seconds, scored = timed_in_rollback(
            lambda: engine.recompute_all(now=now, settings=settings)
        )
        recompute_cpu.append(time.process_time() - cpu_started)
        vacuum("tutor_scores", "alerts")
        phase_runs.append(timed_in_rollback(lambda: recompute_in_phases(now, settings))[1])
        raw_times.append(raw_seconds)
        write_times.append(write_seconds)
        recompute_times.append(recompute_seconds)
        print(
            f"  run {run}: raw SQL GROUP BY {raw_seconds:.3f} s ({len(rows):,} rows), "
            f"written to the score rows {write_seconds:.3f} s ({written:,} rows), "
            f"one-statement floor {floor_seconds:.3f} s ({floor_rows:,} rows), "
            f"recompute_all {recompute_seconds:.3f} s ({scored:,} tutors)"
        )
    best_raw, best_write, best_recompute = min(raw_times), min(write_times), min(recompute_times)
    print(f"raw SQL GROUP BY (7/30/90 counts)           best {best_raw:.3f} s")
    print(
        f"  + its counts written to every score row   best {best_write:.3f} s   "
        f"({best_write / best_raw:.2f}× the GROUP BY: the floor of a recompute that stores every score)"
    )
    print(f"recompute_all (everything, saved)           best {best_recompute:.3f} s   (target < 30 s)")
    print(f"ratio recompute_all / raw SQL               {best_recompute / best_raw:.2f}×")
    best_floor = min(floor_times)
    print(
        f"one UPDATE … FROM (every aggregate the score reads, written to the score rows)   "
        f"best {best_floor:.3f} s"
    )
    print(
        f"ratio recompute_all / that floor            {best_recompute / best_floor:.2f}×   "
        f"(target ≤ 1.5×, issue 17)"
    )
    # The two are timed seconds apart in each run, so a run's own ratio moves less with the load of
    # this shared machine than the ratio of two bests taken from different runs.
    run_ratios = [recompute / floor for recompute, floor in zip(recompute_times, floor_times, strict=True)]
    print(
        "  each run's own ratio                      "
        f"{', '.join(f'{ratio:.2f}×' for ratio in run_ratios)} (median {statistics.median(run_ratios):.2f}×)"
    )
    # The floor is PostgreSQL's CPU alone; the recompute adds this process's (reading the rows,
    # building the scores, writing the COPY): what a busy neighbour competes with.
    print(
        f"  Python CPU of recompute_all              best {min(recompute_cpu):.3f} s, "
        f"median {statistics.median(recompute_cpu):.3f} s (the rest is PostgreSQL's)"
    )
    budget = 1.5 * best_raw
    print(
        f"  at 1.5× a recompute has {budget:.3f} s; after the floor, {budget - best_write:.3f} s are left "
        "for every other aggregate, the scores, their reasons, the full rows and the alerts"
    )
    for phase in phase_runs[0]:
        print(f"  {phase + ':':<36} best {min(run[phase] for run in phase_runs):.3f} s")

    ids = list(Tutor.objects.values_list("id", flat=True))
    sample = random.Random(42).sample(ids, min(args.tutors, len(ids)))
    durations = []
    for tutor in Tutor.objects.filter(pk__in=sample):
        seconds, _ = timed_in_rollback(
            lambda tutor=tutor: engine.score_tutor(tutor, now=now, settings=settings)
        )
        durations.append(seconds * 1000)
    print(
        f"score_tutor over {len(durations)} tutors: p50 {statistics.median(durations):.1f} ms, "
        f"p95 {percentile(durations, 0.95):.1f} ms, max {max(durations):.1f} ms   (target p95 < 20 ms)"
    )
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores, shared)")


if __name__ == "__main__":
    main()
