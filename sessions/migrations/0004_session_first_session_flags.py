from django.db import migrations, models


def set_first_session_flags(apps, schema_editor):
    from sessions.first_sessions import backfill

    backfill(apps.get_model("tutoring", "Session"))


class Migration(migrations.Migration):
    dependencies = [
        ("tutoring", "0003_tutor_sessions_version"),
    ]

    operations = [
        migrations.AddField(
            model_name="session",
            name="is_first_session",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddField(
            model_name="session",
            name="first_session_retained",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(set_first_session_flags, migrations.RunPython.noop),
    ]
