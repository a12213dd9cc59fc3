"""Operator commands: recompute_scores and setup_schedules."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_q.models import Schedule

from scoring import engine
from scoring.models import TutorScore, TutorScoreHistory
from tutorscore.testing import NOW


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_recompute_scores_prints_progress_and_summary(make_tutor, make_session):
    tutor = make_tutor()
    for _ in range(2):
        make_session(tutor, days_ago=1)
    for _ in range(4):
        make_session(tutor, days_ago=1, status="rescheduled")

    output = run("recompute_scores", "--now", NOW.isoformat())

    assert f"Scoring 1 tutors as of {NOW.isoformat()}…" in output
    assert "Scored 1 tutors in" in output
    assert "1 high, 0 medium, 0 low risk; alerts opened 1, auto-resolved 0." in output
    assert TutorScore.objects.get().reschedule_flag is True


def test_recompute_scores_says_which_newer_scores_it_kept(make_tutor, make_session, monkeypatch):
    busy, quiet = make_tutor("Busy"), make_tutor("Quiet")
    make_session(busy, days_ago=1)
    make_session(quiet, days_ago=1)
    compute_scores = engine.compute_scores

    def compute_then_ingest(**kwargs):
        scores = compute_scores(**kwargs)
        monkeypatch.undo()
        make_session(busy, days_ago=0.1)  # a per-ingest task scores it meanwhile
        engine.recompute_all(tutor_ids=[busy.pk], newer_only=True)
        return scores

    monkeypatch.setattr(engine, "compute_scores", compute_then_ingest)
    output = run("recompute_scores")

    assert "Kept 1 scores computed meanwhile from newer sessions." in output
    assert "Scored 1 tutors in" in output
    assert TutorScore.objects.get(tutor=busy).total_sessions_7d == 2


def test_recompute_scores_can_backfill_history(make_tutor, make_session):
    make_session(make_tutor(), days_ago=1)
    output = run("recompute_scores", "--now", NOW.isoformat(), "--history-days", "2")
    assert "Wrote 3 history rows" in output
    assert TutorScoreHistory.objects.count() == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--now", "yesterday"], "is not an ISO 8601 datetime"),
        (["--now", "2026-11-25T12:00:00"], "needs a timezone"),
        (["--history-days", "-1"], "cannot be negative"),
    ],
)
def test_recompute_scores_rejects_bad_arguments(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("recompute_scores", *args, stdout=StringIO())


def test_setup_schedules_is_idempotent(db):
    first = run("setup_schedules")
    names = set(Schedule.objects.values_list("name", flat=True))
    assert {"scoring.rescore_stale", "scoring.recompute_all", "scoring.snapshot_history"} <= names
    assert "created" in first

    Schedule.objects.create(name="scoring.rescore_stale", func="scoring.tasks.rescore_stale", minutes=1)
    Schedule.objects.filter(name="scoring.recompute_all").update(schedule_type=Schedule.DAILY)
    second = run("setup_schedules")
    assert "0 created" in second

    assert Schedule.objects.filter(name="scoring.rescore_stale").count() == 1
    sweep = Schedule.objects.get(name="scoring.rescore_stale")
    assert (sweep.func, sweep.schedule_type, sweep.minutes) == (
        "scoring.tasks.rescore_stale",
        Schedule.MINUTES,
        5,
    )
    assert Schedule.objects.get(name="scoring.recompute_all").schedule_type == Schedule.HOURLY
    assert Schedule.objects.get(name="scoring.snapshot_history").next_run.strftime("%H:%M") == "23:55"
    count = Schedule.objects.count()
    assert "0 created, 0 updated" in run("setup_schedules")
    assert Schedule.objects.count() == count
