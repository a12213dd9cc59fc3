from django.db import migrations, models
from django.db.models import F, Q


def keep_stale_tutors_stale(apps, schema_editor):
    """Staleness moves from timestamps to versions: a tutor whose sessions changed after its last
    score (the old rule) gets a newer version than its score, so the sweep still rescores it."""
    Tutor = apps.get_model("tutoring", "Tutor")
    Tutor.objects.filter(
        Q(score__isnull=False) & Q(sessions_changed_at__gt=F("score__last_calculated_at"))
    ).update(sessions_version=1)


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0001_initial"),
        ("tutoring", "0003_tutor_sessions_version"),
    ]

    operations = [
        migrations.AddField(
            model_name="tutorscore",
            name="sessions_version",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.RunPython(keep_stale_tutors_stale, migrations.RunPython.noop),
    ]
