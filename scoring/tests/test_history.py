"""Daily score history: one row per tutor and day, idempotent, and a backfill for new deployments."""

from datetime import timedelta
from decimal import Decimal

from scoring import engine, history
from scoring.models import TutorScoreHistory
from tutorscore.testing import NOW


def test_snapshot_is_idempotent_per_day(make_tutor, make_session):
    ada, bo = make_tutor("Ada"), make_tutor("Bo")
    make_session(ada, days_ago=1, status="rescheduled")
    engine.recompute_all(now=NOW)

    assert history.snapshot_scores(now=NOW) == 2
    make_session(ada, days_ago=1)
    engine.recompute_all(now=NOW + timedelta(hours=1))
    assert history.snapshot_scores(now=NOW + timedelta(hours=1)) == 2  # same day: overwritten

    assert TutorScoreHistory.objects.count() == 2
    row = TutorScoreHistory.objects.get(tutor=ada)
    assert (row.date, row.total_sessions_7d, row.reschedule_rate_7d) == (
        NOW.date(),
        2,
        Decimal("50.00"),
    )
    assert TutorScoreHistory.objects.get(tutor=bo).reschedule_rate_7d is None

    history.snapshot_scores(now=NOW + timedelta(days=1))  # the next day: new rows
    assert TutorScoreHistory.objects.count() == 4


def test_backfill_scores_each_past_day(make_tutor, make_session):
    tutor = make_tutor()
    make_session(tutor, days_ago=2, status="rescheduled")
    make_session(tutor, days_ago=0.5)

    assert history.backfill_history(days=3, now=NOW) == 3
    rows = {row.date: row for row in TutorScoreHistory.objects.all()}
    three_ago, two_ago, one_ago = ((NOW - timedelta(days=n)).date() for n in (3, 2, 1))
    assert sorted(rows) == [three_ago, two_ago, one_ago]
    assert rows[three_ago].total_sessions_7d == 0
    assert rows[two_ago].reschedule_rate_7d == Decimal("100.00")  # 1 of 1, as of that day's 12:00
    assert rows[one_ago].reschedule_rate_7d == Decimal("100.00")  # the other is still ahead
    assert history.backfill_history(days=3, now=NOW) == 3
    assert TutorScoreHistory.objects.count() == 3
