"""manage.py setup_demo [--reset]: the demo's login, recipient and data, then its links (`make demo`)."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.urls import reverse

from sessions.models import Tutor

from .create_demo_user import DEMO_USERNAME, demo_password

DEMO_DATA = ["--tutors=100", "--sessions=3000", "--days=90", "--seed=42", "--history-days=30"]


class Command(BaseCommand):
    help = (
        "Create the demo login, load the demo data into an empty database (--reset: afresh), print the links."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete every tutor, session, alert and mail; load the demo data again.",
        )

    def handle(self, *args, **options):
        # The login first: it is the report recipient, so the alerts the new data opens are mailed.
        call_command("create_demo_user", stdout=self.stdout, stderr=self.stderr)
        if options["reset"] or not Tutor.objects.exists():
            extra = ["--clear"] if options["reset"] else []
            call_command("generate_data", *DEMO_DATA, *extra, stdout=self.stdout, stderr=self.stderr)
        else:
            self.stdout.write(
                f"Keeping the data already loaded ({Tutor.objects.count():,} tutors); "
                "`make demo-reset` loads the demo data afresh."
            )
        # Last, so the login is the last line before the processes' logs.
        self.stdout.write(
            self.style.SUCCESS(f"  Dashboard: {settings.SITE_URL}{reverse('scoring:overview')}")
        )
        self.stdout.write(self.style.SUCCESS(f"  Admin:     {settings.SITE_URL}{reverse('admin:index')}"))
        self.stdout.write(self.style.SUCCESS(f"  Log in as: {DEMO_USERNAME} / {demo_password()}"))
