# Drops the foreign key's own index on sessions.tutor_id: sessions_tutor_time_idx (tutor_id,
# scheduled_time) starts with the same column and serves every lookup by tutor, so the extra
# index only cost a write per inserted session. AlterField alone would drop and re-add the foreign
# key, re-checking every row under a lock that blocks writes; dropping just the index does not.

import django.db.models.deletion
from django.db import migrations, models

INDEX = "sessions_tutor_id_dd05e3d3"  # Django's name for it on every backend


class Migration(migrations.Migration):
    dependencies = [
        ("tutoring", "0004_session_first_session_flags"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="session",
                    name="tutor",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sessions",
                        to="tutoring.tutor",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX "{INDEX}" ON "sessions" ("tutor_id")',
                ),
            ],
        ),
    ]
