"""manage.py generate_data: realistic synthetic tutors and sessions (SPEC §10), then all scores."""

import argparse

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sessions.generator import Options, generate, validation_report
from tutorscore.lib.dates import utc_time


def positive_int(value):
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {number}")
    return number


class Command(BaseCommand):
    help = "Generate realistic synthetic tutors, sessions and reschedules (same seed and --now: same data)."

    def add_arguments(self, parser):
        parser.add_argument("--tutors", type=positive_int, default=100)
        parser.add_argument("--sessions", type=positive_int, default=3000)
        parser.add_argument("--days", type=positive_int, default=90, help="Length of the history, in days.")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--now",
            type=utc_time,
            default=None,
            help="Time anchor (ISO 8601, UTC when no offset). Default: now, truncated to the hour.",
        )
        parser.add_argument("--clear", action="store_true", help="Delete existing data first.")
        parser.add_argument(
            "--manifest",
            type=argparse.FileType("w"),
            help="Write the truth over time: each tutor's segments of constant true rates (CSV).",
        )
        parser.add_argument("--no-scores", action="store_true", help="Skip computing the scores afterwards.")
        parser.add_argument(
            "--history-days",
            type=int,
            default=0,
            help="Also backfill this many days of daily score history (recompute_scores --history-days).",
        )

    def handle(self, *args, **options):
        now = options["now"] or timezone.now().replace(minute=0, second=0, microsecond=0)
        generator_options = Options(
            tutors=options["tutors"],
            sessions=options["sessions"],
            days=options["days"],
            seed=options["seed"],
            now=now,
        )
        self.stdout.write(
            f"Generating {generator_options.tutors:,} tutors and {generator_options.sessions:,} sessions "
            f"over {generator_options.days} days (seed {generator_options.seed}, now {now:%Y-%m-%dT%H:%M}Z)"
        )
        try:
            plans, stats = generate(
                generator_options,
                clear=options["clear"],
                manifest=options["manifest"],
                progress=self.stdout.write,
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        finally:
            if options["manifest"]:
                options["manifest"].close()

        self.stdout.write(
            f"Done in {stats.seconds:.1f} s ({stats.sessions / max(stats.seconds, 1e-9):,.0f} sessions/s): "
            f"{stats.tutors:,} tutors, {stats.sessions:,} sessions "
            f"({', '.join(f'{count:,} {status}' for status, count in sorted(stats.status.items()))}), "
            f"{stats.reschedules:,} reschedules, {stats.students:,} students."
        )
        truth, profiles = stats.truth, stats.profiles
        self.stdout.write(
            f"Truth at now: {profiles['low']:,} low, {profiles['medium']:,} medium, "
            f"{profiles['high']:,} high risk; "
            f"{truth['turn_bad']:,} tutors turn bad ({truth['recover']:,} recover), "
            f"{truth['improve']:,} improve, {truth['burst']:,} have a bad week."
        )
        self.write_report(validation_report(stats))
        if options["manifest"]:
            self.stdout.write(f"Manifest written to {options['manifest'].name}")
        if not options["no_scores"]:
            # With an explicit --now the scores are computed as of that moment, like the data.
            self.compute_scores(now=options["now"], history_days=options["history_days"])

    def write_report(self, report):
        self.stdout.write("Validation (actual vs target):")
        for name, actual, target, tolerance, ok, note in report:
            mark = "ok" if ok else "OFF"
            line = f"  [{mark:>3}] {name:<40}"
            if actual is not None:
                line += f" {actual:7.2%}"
            if target is not None:
                line += f"   target {target:.2%}" + (f" ± {tolerance:.2%}" if tolerance is not None else "")
            if note:
                line += f"   ({note})"
            self.stdout.write(line if ok else self.style.WARNING(line))

    def compute_scores(self, *, now=None, history_days=0):
        self.stdout.write("Computing scores...")
        started = timezone.now()
        extra = {"now": now.isoformat()} if now else {}
        if history_days:
            extra["history_days"] = history_days
        try:
            call_command("recompute_scores", stdout=self.stdout, stderr=self.stderr, **extra)
        except CommandError as error:
            if "Unknown command" not in str(error):
                raise
            self.stdout.write("Note: recompute_scores is not available yet; scores were not computed.")
            return
        self.stdout.write(f"Scores computed in {(timezone.now() - started).total_seconds():.1f} s.")
