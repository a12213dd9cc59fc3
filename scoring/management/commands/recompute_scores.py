"""Rescore every tutor now (or as of --now), print progress and a summary."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from django.utils import timezone

from scoring import engine, history
from scoring.models import Alert, ScoringSettings, TutorScore
from sessions.models import Tutor
from tutorscore.lib.dates import aware_datetime


class Command(BaseCommand):
    help = "Recompute every tutor's score set-based (the hourly job, on demand) and sync alerts."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="Score as of this ISO 8601 time with a timezone (default: now).")
        parser.add_argument(
            "--history-days",
            type=int,
            default=0,
            help="Also backfill this many days of daily score history (for demos and new deployments).",
        )

    def handle(self, *args, now=None, history_days=0, **options):
        now = aware_datetime("--now", now) or timezone.now()
        if history_days < 0:
            raise CommandError("--history-days cannot be negative.")

        settings = ScoringSettings.load()
        tutors = Tutor.objects.count()
        self.stdout.write(f"Scoring {tutors} tutors as of {now.isoformat()}…")
        started = time.perf_counter()
        scored = engine.recompute_all(now=now, settings=settings)
        elapsed = time.perf_counter() - started
        levels = dict(TutorScore.objects.values_list("risk_level").annotate(n=Count("id")).order_by())
        opened = Alert.objects.filter(opened_at=now).count()
        resolved = Alert.objects.filter(resolved_at=now, resolved_by__isnull=True).count()
        if scored < tutors:  # rows a concurrent per-ingest task scored from newer sessions
            self.stdout.write(f"Kept {tutors - scored} scores computed meanwhile from newer sessions.")
        self.stdout.write(
            f"Scored {scored} tutors in {elapsed:.2f} s: {levels.get('high', 0)} high, "
            f"{levels.get('medium', 0)} medium, {levels.get('low', 0)} low risk; "
            f"alerts opened {opened}, auto-resolved {resolved}."
        )
        if history_days:
            self.stdout.write(f"Backfilling {history_days} days of score history…")
            started = time.perf_counter()
            rows = history.backfill_history(days=history_days, now=now, settings=settings)
            rows += history.snapshot_scores(now=now)
            self.stdout.write(f"Wrote {rows} history rows in {time.perf_counter() - started:.2f} s.")
        self.stdout.write(self.style.SUCCESS("Done."))
