"""manage.py create_demo_user: the demo's staff login and mail recipient (idempotent; `make demo`)."""

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.urls import reverse

from scoring.models import ScoringSettings

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "tutorscore-demo"  # documented in the README; override with DEMO_PASSWORD


class Command(BaseCommand):
    help = "Create or update the demo superuser 'admin' (password: $DEMO_PASSWORD or the documented default)."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD") or DEMO_PASSWORD
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "admin@example.com"}
        )
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"{'Created' if created else 'Updated'} the demo user.")
        # So the demo shows reports, alert mails and the digest (on the console and in the log).
        scoring_settings = ScoringSettings.load()
        if not scoring_settings.recipients:
            scoring_settings.report_recipients = user.email
            scoring_settings.save(update_fields=["report_recipients", "updated_at"])
            self.stdout.write(f"Report recipients set to {user.email}.")
        self.stdout.write(
            self.style.SUCCESS(f"  Dashboard: {settings.SITE_URL}{reverse('scoring:overview')}")
        )
        self.stdout.write(self.style.SUCCESS(f"  Admin:     {settings.SITE_URL}{reverse('admin:index')}"))
        self.stdout.write(self.style.SUCCESS(f"  Log in as: {DEMO_USERNAME} / {password}"))
