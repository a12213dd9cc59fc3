"""manage.py create_demo_user: the demo's staff login and mail recipient (idempotent; `setup_demo`)."""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from scoring.models import ScoringSettings

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "tutorscore-demo"  # documented in the README; override with DEMO_PASSWORD


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD") or DEMO_PASSWORD


class Command(BaseCommand):
    help = "Create or update the demo superuser 'admin' (password: $DEMO_PASSWORD or the documented default)."

    def handle(self, *args, **options):
        password = demo_password()
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "admin@example.com"}
        )
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(
            f"{'Created' if created else 'Updated'} the demo user: {DEMO_USERNAME} / {password}"
        )
        # So the demo shows reports, alert mails and the digest (on the console and in the log).
        scoring_settings = ScoringSettings.load()
        if not scoring_settings.recipients:
            scoring_settings.report_recipients = user.email
            scoring_settings.save(update_fields=["report_recipients", "updated_at"])
            self.stdout.write(f"Report recipients set to {user.email}.")
