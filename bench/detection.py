"""Measure the flags against the generator's known truth (issue 13, SPEC §5 and §10).

    python bench/detection.py [--scale demo|10k|both] [--replay-days 30] [--step-hours 6]

For each scale it generates data with truth (`generate_data --manifest`) into a scratch
PostgreSQL database on BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432), then
replays the scoring every `--step-hours` over the last `--replay-days`: at each `now` every
tutor's window counts are taken from the sessions (prefix sums, the windows of SPEC §5) and judged
by the product's own rule (`scoring.engine.weigh_facts` and `is_active`, the code
`recompute_all` runs). At the last `now` the replayed flags are checked against a real
`engine.compute_scores` over the database. The rule of the first build ("any window above the
threshold with at least 5 sessions") is replayed beside it for comparison.

Printed per flag: the share flagged now and at least once per true-rate band, precision and
recall, alert episodes per 100 healthy tutors per month, and the delay from a change point until
the flag (days and sessions). Truth comes from the manifest's segments at each `now`.
"""

import argparse
import bisect
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tutorscore.settings")
os.environ.setdefault("DEBUG", "true")
SERVER = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
SCRATCH = "tutorscore_bench_detection"
os.environ["DATABASE_URL"] = f"{SERVER}/{SCRATCH}"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402

from scoring import engine  # noqa: E402
from scoring.facts import TutorFacts  # noqa: E402
from scoring.models import Alert, ScoringSettings  # noqa: E402
from scoring.rates import WINDOWS  # noqa: E402
from sessions.generator import Options, generate  # noqa: E402
from sessions.generator.manifest import by_tutor, read_manifest  # noqa: E402
from sessions.models import Tutor  # noqa: E402

DAY = 86_400.0
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # the data's fixed anchor: same seed, same data
SCALES = {"demo": (100, 3_000, 90), "10k": (10_000, 1_000_000, 90)}
KINDS = (Alert.Kind.RESCHEDULE_RATE, Alert.Kind.NO_SHOW_RATE, Alert.Kind.FIRST_SESSION)


@dataclass(frozen=True)
class Measure:
    """How one flag's truth reads, and the bands the issue's targets name (badness: higher is worse)."""

    label: str
    threshold: float  # badness at the threshold
    healthy_below: float  # "truly healthy": badness under this throughout
    clearly_bad: float  # "truly bad": badness at least this
    jump_to: float  # a change point to at least this badness
    bands: tuple

    def badness(self, segment):
        return {
            Alert.Kind.RESCHEDULE_RATE: segment.reschedule_rate,
            Alert.Kind.NO_SHOW_RATE: segment.no_show_rate,
            Alert.Kind.FIRST_SESSION: 1 - segment.retention_rate,
        }[self.kind]

    kind: str = ""


MEASURES = {
    Alert.Kind.RESCHEDULE_RATE: Measure(
        "reschedule rate (threshold 15%)",
        0.15,
        0.10,
        0.25,
        0.40,
        (0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 1.01),
        kind=Alert.Kind.RESCHEDULE_RATE,
    ),
    Alert.Kind.NO_SHOW_RATE: Measure(
        "no-show rate (threshold 10%)",
        0.10,
        0.05,
        0.20,
        0.20,
        (0, 0.02, 0.05, 0.10, 0.15, 0.20, 0.30, 1.01),
        kind=Alert.Kind.NO_SHOW_RATE,
    ),
    Alert.Kind.FIRST_SESSION: Measure(
        "first-session retention (threshold 60%; badness = students lost)",
        0.40,
        0.25,
        0.55,
        0.55,
        (0, 0.10, 0.25, 0.40, 0.55, 0.75, 1.01),
        kind=Alert.Kind.FIRST_SESSION,
    ),
}


def psql(sql):
    subprocess.run(["psql", f"{SERVER}/postgres", "-qc", sql], check=True, capture_output=True)


# --- the data, as prefix sums per tutor ---------------------------------------------------------


class TutorSessions:
    """One tutor's counted sessions as sorted times with running counts, for any window."""

    def __init__(self):
        self.times, self.reschedules, self.no_shows = [], [0], [0]
        self.first_times, self.retained = [], [0]

    def add(self, at, is_reschedule, is_no_show, is_first, retained):
        self.times.append(at)
        self.reschedules.append(self.reschedules[-1] + is_reschedule)
        self.no_shows.append(self.no_shows[-1] + is_no_show)
        if is_first:
            self.first_times.append(at)
            self.retained.append(self.retained[-1] + retained)

    def facts(self, now):
        """TutorFacts as the engine's grouped query reads them at `now` (windows of SPEC §5)."""
        facts = TutorFacts()
        end = bisect.bisect_right(self.times, now)
        for days in WINDOWS:
            start = bisect.bisect_right(self.times, now - days * DAY)
            facts.totals[days] = end - start
            facts.tutor_reschedules[days] = self.reschedules[end] - self.reschedules[start]
            if days == 30:
                facts.no_shows_30d = self.no_shows[end] - self.no_shows[start]
        # Completed first sessions of the 90-day window at least 14 days old.
        first_end = bisect.bisect_right(self.first_times, now - 14 * DAY)
        first_start = bisect.bisect_right(self.first_times, now - 90 * DAY)
        facts.first_sessions = first_end - first_start
        facts.retained_first_sessions = self.retained[first_end] - self.retained[first_start]
        return facts


def load_sessions():
    """{tutor_id: TutorSessions} from one scan of the counted sessions."""
    tutors = {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT s.tutor_id, EXTRACT(EPOCH FROM s.scheduled_time),
                   s.status = 'rescheduled' AND r.initiator = 'tutor',
                   s.status = 'no_show' AND s.no_show_by = 'tutor',
                   s.is_first_session AND s.status = 'completed', s.first_session_retained
            FROM sessions s LEFT JOIN reschedules r ON r.session_id = s.id
            WHERE s.status IN ('completed', 'rescheduled', 'no_show')
            ORDER BY s.tutor_id, s.scheduled_time
            """
        )
        for tutor_id, at, reschedule, no_show, first, retained in cursor:
            tutors.setdefault(str(tutor_id), TutorSessions()).add(
                float(at), bool(reschedule), bool(no_show), bool(first), bool(retained)
            )
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM tutors")
        for (tutor_id,) in cursor:
            tutors.setdefault(str(tutor_id), TutorSessions())
    return tutors


# --- replaying the rule -------------------------------------------------------------------------


def old_rule(facts, settings):
    """The first build's flags: any window above the threshold with at least the minimum."""
    minimum = settings.minimum_sessions

    def above(events, total, threshold):
        return total >= minimum and 100 * events > float(threshold) * total

    return {
        Alert.Kind.RESCHEDULE_RATE: any(
            above(facts.tutor_reschedules[d], facts.totals[d], settings.reschedule_rate_threshold)
            for d in WINDOWS
        ),
        Alert.Kind.NO_SHOW_RATE: above(facts.no_shows_30d, facts.totals[30], settings.no_show_rate_threshold),
        Alert.Kind.FIRST_SESSION: above(
            facts.first_sessions - facts.retained_first_sessions,
            facts.first_sessions,
            100 - settings.first_session_retention_threshold,
        ),
    }


def new_rule(facts, settings, was_flagged):
    """The product's flags (scoring.engine): evidence per window, a raised flag held while the
    evidence still favours the bad rate, nothing for inactive tutors."""
    if not engine.is_active(facts):
        return dict.fromkeys(KINDS, False)
    verdicts = engine.weigh_facts(facts, settings=settings, was_flagged=was_flagged)
    return {kind: verdict.flagged for kind, verdict in verdicts.items()}


def replay(tutors, nows, settings):
    """{rule: {tutor_id: [flags at each now]}} for both rules, each `now` after the one before
    (the product's rule reads the flags the previous scoring stored)."""
    flags = {"new": {}, "old": {}}
    for tutor_id, data in tutors.items():
        new, old = [], []
        previous = dict.fromkeys(KINDS, False)
        for now in nows:
            facts = data.facts(now)
            previous = new_rule(facts, settings, previous)
            new.append(previous)
            old.append(old_rule(facts, settings))
        flags["new"][tutor_id], flags["old"][tutor_id] = new, old
    return flags


# --- truth and figures --------------------------------------------------------------------------


def badness_over(segments, measure, start, end):
    """(min, max) badness of the segments overlapping [start, end] (epoch seconds)."""
    values = [
        measure.badness(segment)
        for segment in segments
        if segment.valid_from.timestamp() <= end and segment.valid_to.timestamp() > start
    ]
    return (min(values), max(values)) if values else (None, None)


def truth_at(segments, moment):
    for segment in segments:
        if segment.valid_from.timestamp() <= moment < segment.valid_to.timestamp():
            return segment
    return segments[-1] if segments and moment >= segments[-1].valid_to.timestamp() else None


def percent(part, whole):
    return "—" if not whole else f"{100 * part / whole:.1f}%"


def quantile(values, share, censored=0):
    """The `share` quantile of `values` and `censored` more that are larger than any of them
    (inf when it falls among those)."""
    ordered = sorted(values) + [math.inf] * censored
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else math.inf


def days_text(value):
    return "later than the replay shows" if value == math.inf else f"{value:.1f} d"


def figures(kind, flags, truth, nows, history_start):
    """The figures of one flag kind under one rule (a dict of printable values)."""
    measure = MEASURES[kind]
    start, end = nows[0], nows[-1]
    pairs_flagged = pairs_flagged_true = 0
    pairs_true = pairs_true_flagged = 0
    precision_recent = 0
    bad_now = bad_now_flagged = 0
    healthy = healthy_flagged_once = episodes = 0
    bands = {index: [0, 0, 0, 0] for index in range(len(measure.bands) - 1)}  # now: n, flagged; once
    delays_days, delays_sessions, missed = [], [], 0
    for tutor_id, segments in truth.items():
        series = [step[kind] for step in flags[tutor_id]]
        low, high = badness_over(segments, measure, history_start, end)
        if high is not None and high < measure.healthy_below:
            healthy += 1
            healthy_flagged_once += any(series)
            episodes += sum(1 for i, flag in enumerate(series) if flag and (i == 0 or not series[i - 1]))
        # "At least once" by steady band over the replay and the 30 days before it.
        steady_low, steady_high = badness_over(segments, measure, start - 30 * DAY, end)
        for index in bands:
            if (
                steady_low is not None
                and measure.bands[index] <= steady_low
                and steady_high < (measure.bands[index + 1])
            ):
                bands[index][2] += 1
                bands[index][3] += any(series)
        for i, now in enumerate(nows):
            segment = truth_at(segments, now)
            if segment is None or segment.sessions_per_day == 0:
                continue
            value = measure.badness(segment)
            for index in bands:
                if measure.bands[index] <= value < measure.bands[index + 1]:
                    bands[index][0] += 1
                    bands[index][1] += series[i]
            recent_low, recent_high = badness_over(segments, measure, now - 30 * DAY, now)
            if series[i]:
                pairs_flagged += 1
                pairs_flagged_true += value > measure.threshold
                precision_recent += recent_high > measure.threshold
            if recent_low > measure.threshold:  # beyond the threshold for the last 30 days
                pairs_true += 1
                pairs_true_flagged += series[i]
            if recent_low >= measure.clearly_bad and segment.sessions_per_day >= 0.5:
                bad_now += 1
                bad_now_flagged += series[i]
        # Change points inside the replay: from under the threshold to at least jump_to.
        for before, after in zip(segments, segments[1:], strict=False):
            jump = after.valid_from.timestamp()
            if not (start < jump <= end - 7 * DAY) or after.sessions_per_day < 1:
                continue
            if measure.badness(before) >= measure.threshold or measure.badness(after) < measure.jump_to:
                continue
            first = bisect.bisect_left(nows, jump)
            if first and series[first - 1]:
                continue  # already flagged before the jump
            hit = next((nows[j] for j in range(first, len(nows)) if series[j]), None)
            if hit is None:
                missed += 1
                continue
            delays_days.append((hit - jump) / DAY)
            delays_sessions.append((hit - jump) / DAY * after.sessions_per_day)
    return {
        "bands": bands,
        "measure": measure,
        "flagged_now_bad": (bad_now_flagged, bad_now),
        "healthy_once": (healthy_flagged_once, healthy),
        "episodes": 100 * episodes / healthy * (30 * DAY / max(end - start, DAY)) if healthy else None,
        "precision": (pairs_flagged_true, pairs_flagged),
        "precision_recent": (precision_recent, pairs_flagged),
        "recall": (pairs_true_flagged, pairs_true),
        "delay": (delays_days, delays_sessions, missed),
    }


def print_kind(kind, new, old):
    measure = MEASURES[kind]
    print(f"\n  {measure.label}")
    print(
        "    true badness band      tutor-moments   flagged now (new / old)   "
        "steady tutors   flagged at least once"
    )
    for index, (count, flagged, steady, once) in new["bands"].items():
        old_band = old["bands"][index]
        low, high = measure.bands[index], min(measure.bands[index + 1], 1)
        print(
            f"    {100 * low:5.0f}% – {100 * high:4.0f}%      {count:>12,}   "
            f"{percent(flagged, count):>7} / {percent(old_band[1], count):>7}     {steady:>13,}   "
            f"{percent(once, steady):>7} / {percent(old_band[3], steady):>7}"
        )
    rows = [
        (
            f"flagged now: truly ≥ {100 * measure.clearly_bad:.0f}% for 30 days, ≥ 0.5 sessions/day",
            "flagged_now_bad",
        ),
        (f"truly < {100 * measure.healthy_below:.0f}% throughout, flagged at least once", "healthy_once"),
        ("precision: flagged while truly beyond the threshold now", "precision"),
        ("precision: … or at some time in the last 30 days", "precision_recent"),
        ("recall: flagged while truly beyond it for the last 30 days", "recall"),
    ]
    for label, key in rows:
        print(f"    {label:<70} {percent(*new[key]):>7}   (old rule {percent(*old[key])})")
    for name, result in (("new", new), ("old", old)):
        value = result["episodes"]
        text = "—" if value is None else f"{value:.1f}"
        print(f"    alert episodes per 100 healthy tutors per 30 days ({name} rule){'':<19} {text:>7}")
    days, sessions, missed = new["delay"]
    jumps = len(days) + missed
    if jumps:  # a jump not flagged by the end of the replay counts as later than any that was
        median, p90 = quantile(days, 0.5, missed), quantile(days, 0.9, missed)
        print(
            f"    delay after a jump to ≥ {100 * measure.jump_to:.0f}% (≥ 1 session/day, {jumps} jumps, "
            f"{missed} not flagged by the end): median {days_text(median)}"
            f" ({quantile(sessions, 0.5, missed):.0f} sessions), p90 {days_text(p90)}"
        )
    else:
        print("    delay after a jump: no jump at this scale")


def run(scale, *, replay_days, step_hours, seed, keep=False, reuse=False):
    tutors_count, sessions_count, days = SCALES[scale]
    history_days = days + replay_days  # full 90-day windows from the first replayed `now`
    sessions_count = sessions_count * history_days // days
    print(
        f"\n=== {scale}: {tutors_count:,} tutors, {sessions_count:,} sessions "
        f"over {history_days} days, seed {seed}"
    )
    manifest_path = Path(tempfile.gettempdir()) / f"{SCRATCH}-{scale}-{seed}.csv"
    if not (reuse and manifest_path.exists()):
        connections.close_all()
        psql(f"DROP DATABASE IF EXISTS {SCRATCH}")
        psql(f"CREATE DATABASE {SCRATCH}")
        call_command("migrate", "--noinput", verbosity=0)
        started = time.perf_counter()
        with open(manifest_path, "w", newline="") as manifest:
            options = Options(
                tutors=tutors_count, sessions=sessions_count, days=history_days, seed=seed, now=NOW
            )
            generate(options, manifest=manifest, progress=lambda line: None)
        print(f"  generated in {time.perf_counter() - started:.1f} s")
    truth = by_tutor(read_manifest(manifest_path))
    try:
        started = time.perf_counter()
        tutors = load_sessions()
        settings = ScoringSettings.load()
        end = NOW.timestamp()
        steps = int(replay_days * 24 / step_hours)
        nows = [end - (steps - i) * step_hours * 3600 for i in range(steps + 1)]
        flags = replay(tutors, nows, settings)
        print(
            f"  replayed {len(nows)} scorings of {len(tutors):,} tutors "
            f"in {time.perf_counter() - started:.1f} s"
        )

        # The engine itself, over the database, at the last `now`, with the flags the replay's
        # previous scoring held (the engine reads them from the stored scores).
        previous = {uuid.UUID(tutor_id): series[-2] for tutor_id, series in flags["new"].items()}
        computed = list(engine.compute_scores(now=NOW, settings=settings, previous_flags=previous))
        marked_inactive = set(Tutor.objects.filter(is_active=False).values_list("pk", flat=True))
        active = [score for score in computed if score.tutor_id not in marked_inactive]
        agree = sum(
            1
            for score in active
            if flags["new"][str(score.tutor_id)][-1]
            == {
                Alert.Kind.RESCHEDULE_RATE: score.reschedule_flag,
                Alert.Kind.NO_SHOW_RATE: score.no_show_flag,
                Alert.Kind.FIRST_SESSION: score.first_session_flag,
            }
        )
        print(
            f"  engine.compute_scores agrees with the replay at the last now: {agree:,} of "
            f"{len(active):,} tutors (the {len(computed) - len(active):,} the platform marked inactive "
            "are replayed as active)"
        )
        history_start = end - history_days * DAY
        for kind in KINDS:
            print_kind(
                kind,
                figures(kind, flags["new"], truth, nows, history_start),
                figures(kind, flags["old"], truth, nows, history_start),
            )
    finally:
        if not keep:
            connections.close_all()
            psql(f"DROP DATABASE IF EXISTS {SCRATCH}")
            manifest_path.unlink(missing_ok=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["demo", "10k", "both"], default="both")
    parser.add_argument("--replay-days", type=int, default=30)
    parser.add_argument("--step-hours", type=int, default=6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database and manifest.")
    parser.add_argument(
        "--reuse", action="store_true", help="Reuse a kept scratch database (implies --keep)."
    )
    args = parser.parse_args()
    for scale in ("demo", "10k") if args.scale == "both" else (args.scale,):
        run(
            scale,
            replay_days=args.replay_days,
            step_hours=args.step_hours,
            seed=args.seed,
            keep=args.keep or args.reuse,
            reuse=args.reuse,
        )


if __name__ == "__main__":
    main()
