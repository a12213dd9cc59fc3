from django.db import migrations, models

from tutorscore.lib.online_index import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("tutoring", "0007_session_updated_index"),
    ]

    operations = [
        AddIndexOnline(
            model_name="session",
            index=models.Index(
                condition=models.Q(("status", "rescheduled")),
                fields=["tutor", "scheduled_time"],
                name="sessions_rescheduled_idx",
            ),
        ),
    ]
