from django.db import migrations, models

from sessions import triggers
from tutorscore.lib.online_index import AddIndexOnline, RemoveIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("tutoring", "0009_covering_count_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="session",
            name="reschedule_initiator",
            field=models.CharField(editable=False, max_length=7, null=True),
        ),
        migrations.AddField(
            model_name="session",
            name="reschedule_reason_code",
            field=models.CharField(editable=False, max_length=20, null=True),
        ),
        migrations.AddField(
            model_name="session",
            name="reschedule_hours_before",
            field=models.DecimalField(decimal_places=2, editable=False, max_digits=9, null=True),
        ),
        # The triggers first, then the copies of what is stored: a write in between is copied too.
        migrations.RunPython(triggers.install, triggers.uninstall, elidable=False),
        AddIndexOnline(
            model_name="session",
            index=models.Index(
                condition=models.Q(("status", "rescheduled")),
                fields=["tutor", "scheduled_time"],
                include=["reschedule_initiator", "reschedule_reason_code", "reschedule_hours_before"],
                name="sessions_reschedule_counts_idx",
            ),
        ),
        RemoveIndexOnline(model_name="session", name="sessions_reschedules_idx"),
        RemoveIndexOnline(model_name="reschedule", name="reschedules_counts_idx"),
    ]
