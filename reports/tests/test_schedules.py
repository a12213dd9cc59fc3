import io
from datetime import UTC, datetime, time

from reports import digest
from reports.schedules import schedules


def test_the_digest_runs_daily_at_the_configured_time(scoring_settings):
    scoring_settings.digest_time = time(9, 15)
    scoring_settings.save()

    [flush, digest_schedule] = schedules(now=datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    assert digest_schedule == {
        "name": digest.DIGEST_SCHEDULE_NAME,
        "func": "reports.tasks.send_daily_digest",
        "schedule_type": "D",
        "repeats": -1,
        "next_run": datetime(2026, 11, 26, 9, 15, tzinfo=UTC),
        "cluster": "mail",
    }
    # Read when setup_schedules calls it, so it sees the current digest time.
    assert [entry["name"] for entry in schedules()] == ["reports.outbox", digest.DIGEST_SCHEDULE_NAME]
    assert schedules()[1]["next_run"].time() == time(9, 15)


def test_the_outbox_runs_every_minute_on_the_mail_queue(scoring_settings):
    [flush, _] = schedules()
    assert flush == {
        "name": "reports.outbox",
        "func": "reports.tasks.flush_outbox",
        "schedule_type": "I",
        "minutes": 1,
        "repeats": -1,
        "cluster": "mail",
    }


def test_setup_schedules_creates_the_digest_schedule_once(scoring_settings):
    from django.core.management import call_command
    from django_q.models import Schedule

    call_command("setup_schedules", stdout=io.StringIO())
    call_command("setup_schedules", stdout=io.StringIO())

    digest_schedule = Schedule.objects.get(name=digest.DIGEST_SCHEDULE_NAME)
    assert (digest_schedule.func, digest_schedule.schedule_type) == ("reports.tasks.send_daily_digest", "D")
    assert digest_schedule.next_run.astimezone(UTC).time() == time(8, 0)
