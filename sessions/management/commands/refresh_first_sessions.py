"""Re-derive every session's first-session flags (after writes that bypassed the app)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from sessions.first_sessions import repair


class Command(BaseCommand):
    help = (
        "Re-derive the first-session flags of every (tutor, student) pair, or of the pairs with a "
        "session written since --since; tutors whose flags were wrong are marked for rescoring. "
        "Safe while the platform keeps posting sessions."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            help="Only pairs with a session created or changed at or after this ISO 8601 time "
            "(e.g. when a deploy's migrations ran).",
        )

    def handle(self, *args, since=None, **options):
        if since:
            moment = parse_datetime(since)
            if moment is None:
                raise CommandError(f"--since {since!r} is not an ISO 8601 datetime.")
            if timezone.is_naive(moment):
                raise CommandError("--since needs a timezone, e.g. 2026-01-15T14:00:00Z.")
            since = moment

        def progress(done, total, fixed):
            self.stdout.write(f"Tutors {done:,} / {total:,}: {fixed:,} sessions fixed so far")

        tutors, fixed = repair(since=since, progress=progress)
        self.stdout.write(
            self.style.SUCCESS(f"Checked the pairs of {tutors:,} tutors; fixed {fixed:,} sessions.")
        )
