from django.db import migrations, models

from tutorscore.lib.online_index import AddIndexOnline, RemoveIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("tutoring", "0008_session_rescheduled_index"),
    ]

    # Each new index is built before the one it replaces is dropped: no moment without either.
    operations = [
        AddIndexOnline(
            model_name="session",
            index=models.Index(
                fields=["tutor", "scheduled_time"],
                include=["status", "no_show_by", "student_rating", "is_first_session", "first_session_retained"],
                name="sessions_tutor_counts_idx",
            ),
        ),
        RemoveIndexOnline(model_name="session", name="sessions_tutor_time_idx"),
        AddIndexOnline(
            model_name="session",
            index=models.Index(
                condition=models.Q(("status", "rescheduled")),
                fields=["tutor", "scheduled_time"],
                include=["id"],
                name="sessions_reschedules_idx",
            ),
        ),
        RemoveIndexOnline(model_name="session", name="sessions_rescheduled_idx"),
        AddIndexOnline(
            model_name="reschedule",
            index=models.Index(
                fields=["session"],
                include=["initiator", "reason_code", "hours_before_session"],
                name="reschedules_counts_idx",
            ),
        ),
    ]
