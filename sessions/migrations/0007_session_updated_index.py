from django.db import migrations, models

from tutorscore.lib.online_index import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("tutoring", "0006_session_platform_updated_at"),
    ]

    operations = [
        AddIndexOnline(
            model_name="session",
            index=models.Index(fields=["updated_at"], name="sessions_updated_idx"),
        ),
    ]
