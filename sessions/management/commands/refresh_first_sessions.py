"""Re-derive every session's first-session flags (after writes that bypassed the app)."""

from django.core.management.base import BaseCommand

from sessions.first_sessions import repair
from tutorscore.lib.dates import aware_datetime


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
        since = aware_datetime("--since", since)

        def progress(done, total, fixed):
            self.stdout.write(f"Tutors {done:,} / {total:,}: {fixed:,} sessions fixed so far")

        tutors, fixed = repair(since=since, progress=progress)
        self.stdout.write(
            self.style.SUCCESS(f"Checked the pairs of {tutors:,} tutors; fixed {fixed:,} sessions.")
        )
