from datetime import timedelta

from tutorscore.lib.retry import MAX_ATTEMPTS, retry_delay


def test_the_delay_grows_from_the_base_by_the_factor():
    minutes = [retry_delay(attempt, base=timedelta(seconds=30)) for attempt in range(1, MAX_ATTEMPTS)]
    assert [delay.total_seconds() for delay in minutes] == [30, 60, 120, 240]
    mail = [retry_delay(attempt, base=timedelta(minutes=1), factor=4) for attempt in range(1, MAX_ATTEMPTS)]
    assert mail == [timedelta(minutes=m) for m in (1, 4, 16, 64)]
