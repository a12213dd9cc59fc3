"""Create or update every app's django-q2 schedules by name (idempotent; run on each release)."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django_q.models import Schedule

from reports import schedules as reports_schedules
from scoring import schedules as scoring_schedules

# Fields an entry may set; everything else in an entry is a mistake worth failing on.
SCHEDULE_FIELDS = {
    "func",
    "hook",
    "args",
    "kwargs",
    "schedule_type",
    "minutes",
    "repeats",
    "next_run",
    "cron",
    "cluster",
    "intended_date_kwarg",
}


def all_schedules() -> list[tuple[str, dict]]:
    """[(app_label, entry)]: every app that has schedules is listed here by hand."""
    return [
        *(("scoring", entry) for entry in scoring_schedules.schedules()),
        *(("reports", entry) for entry in reports_schedules.schedules()),
    ]


def upsert_schedules(entries: list[tuple[str, dict]]) -> tuple[int, int, int]:
    """Upsert schedules by name. Returns (created, updated, unchanged) counts.

    An entry without `next_run` keeps the stored next run (only a new schedule starts now)."""
    created = updated = unchanged = 0
    with transaction.atomic():
        for _, entry in entries:
            name = entry.pop("name")
            unknown = set(entry) - SCHEDULE_FIELDS
            if unknown:
                raise ValueError(f"schedule {name!r}: unknown fields {sorted(unknown)}")
            schedule = Schedule.objects.filter(name=name).order_by("pk").first()
            if schedule is None:
                Schedule.objects.create(name=name, **entry)
                created += 1
                continue
            changed = [field for field, value in entry.items() if getattr(schedule, field) != value]
            if changed:
                for field in changed:
                    setattr(schedule, field, entry[field])
                schedule.save(update_fields=changed)
                updated += 1
            else:
                unchanged += 1
            # Duplicates made by hand would run the job twice.
            Schedule.objects.filter(name=name).exclude(pk=schedule.pk).delete()
    return created, updated, unchanged


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules that apps declare in <app>/schedules.py."

    def handle(self, *args, **options):
        entries = all_schedules()
        for app_label, entry in entries:
            self.stdout.write(f"  {app_label}: {entry['name']} → {entry['func']}")
        created, updated, unchanged = upsert_schedules(entries)
        self.stdout.write(
            self.style.SUCCESS(f"Schedules: {created} created, {updated} updated, {unchanged} unchanged.")
        )
