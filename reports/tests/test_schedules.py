from datetime import UTC, datetime, time

from reports import mail
from reports.schedules import SCHEDULES, schedules


def test_the_digest_runs_daily_at_the_configured_time(scoring_settings):
    scoring_settings.digest_time = time(9, 15)
    scoring_settings.save()

    [digest] = schedules(now=datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    assert digest == {
        "name": mail.DIGEST_SCHEDULE_NAME,
        "func": "reports.tasks.send_daily_digest",
        "schedule_type": "D",
        "repeats": -1,
        "next_run": datetime(2026, 11, 26, 9, 15, tzinfo=UTC),
    }
    # SCHEDULES reads the settings when iterated, so setup_schedules sees the current time.
    assert [entry["name"] for entry in SCHEDULES] == [mail.DIGEST_SCHEDULE_NAME]
    assert list(SCHEDULES)[0]["next_run"].time() == time(9, 15)
