"""django-q2 tasks: coalesced processing, stale sweep, retries, settings-triggered recompute."""

import ast
import importlib
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from scoring import engine, tasks
from scoring.models import Alert, ScoringSettings, TutorScore, TutorScoreHistory
from scoring.signals import sessions_scored
from sessions.models import Session, Tutor
from tutorscore.lib.locks import lock_key, one_at_a_time
from tutorscore.testing import NOW

TURN_STATEMENTS = 2 if connection.vendor == "postgresql" else 0  # one_at_a_time's lock and unlock


@pytest.fixture
def scored_signals():
    received = []

    def receiver(sender, sessions, scores, **kwargs):
        received.extend(
            (session.pk, session.tutor_id, scores[session.tutor_id].total_sessions_7d) for session in sessions
        )

    sessions_scored.connect(receiver)
    yield received
    sessions_scored.disconnect(receiver)


def test_process_sessions_rescores_each_stale_tutor_once_and_signals_each_session(
    make_tutor, make_session, scored_signals, django_assert_max_num_queries
):
    ada, bo, cy, dee = make_tutor("Ada"), make_tutor("Bo"), make_tutor("Cy"), make_tutor("Dee")
    ada_sessions = [make_session(ada, days_ago=1), make_session(ada, days_ago=2)]
    bo_session = make_session(bo, days_ago=1)
    cy_session = make_session(cy, days_ago=1)  # went stale just now, not in this batch: coalesced
    make_session(dee, days_ago=1)
    long_ago = timezone.now() - tasks.COALESCE_WINDOW - timedelta(seconds=1)
    Tutor.objects.filter(pk=dee.pk).update(sessions_changed_at=long_ago)  # the sweep's job

    with django_assert_max_num_queries(40):  # two scorings: its own tutors, then the coalesced rest
        rescored = tasks.process_sessions([str(s.pk) for s in [*ada_sessions, bo_session]])

    assert rescored == 3
    assert set(TutorScore.objects.values_list("tutor_id", flat=True)) == {ada.pk, bo.pk, cy.pk}
    # Cy's session too: its new score covers it for the first time (its own task may never come).
    assert sorted(scored_signals) == sorted(
        [
            (ada_sessions[0].pk, ada.pk, 2),
            (ada_sessions[1].pk, ada.pk, 2),
            (bo_session.pk, bo.pk, 1),
            (cy_session.pk, cy.pk, 1),
        ]
    )


def test_process_sessions_twice_is_harmless(make_tutor, make_session, scored_signals):
    tutor = make_tutor()
    session = make_session(tutor, days_ago=1)
    assert tasks.process_sessions([str(session.pk)]) == 1
    first = TutorScore.objects.get()

    assert tasks.process_sessions([str(session.pk)]) == 0  # not stale any more: nothing rescored
    assert TutorScore.objects.get().last_calculated_at == first.last_calculated_at
    assert len(scored_signals) == 2  # the mail side de-duplicates per session and recipient


def test_a_burst_is_scored_by_the_first_task_and_the_rest_find_nothing_stale(
    make_tutor, make_session, scored_signals, django_assert_num_queries
):
    tutors = [make_tutor(f"T{number}") for number in range(4)]
    sessions = [make_session(tutor, days_ago=1) for tutor in tutors]

    assert tasks.process_sessions([str(sessions[0].pk)]) == 4  # every recently stale tutor
    assert TutorScore.objects.count() == 4
    # The tasks behind it: sessions with their tutors and scores, then the recently stale (none);
    # on PostgreSQL also taking and releasing the turn.
    with django_assert_num_queries(2 + TURN_STATEMENTS):
        assert [tasks.process_sessions([str(session.pk)]) for session in sessions[1:2]] == [0]
    assert [tasks.process_sessions([str(session.pk)]) for session in sessions[2:]] == [0, 0]
    # The first task announced all four; each later one its own session again (harmless).
    assert sorted(scored_signals) == sorted(
        [(session.pk, session.tutor_id, 1) for session in sessions]
        + [(session.pk, session.tutor_id, 1) for session in sessions[1:]]
    )


def test_own_tutors_are_rescored_even_when_their_change_is_old(make_tutor, make_session):
    tutor = make_tutor()
    session = make_session(tutor, days_ago=1)
    Tutor.objects.filter(pk=tutor.pk).update(sessions_changed_at=timezone.now() - timedelta(days=1))

    assert tasks.process_sessions([str(session.pk)]) == 1
    assert TutorScore.objects.get().total_sessions_7d == 1


def test_coalescing_is_bounded(make_tutor, make_session, monkeypatch):
    monkeypatch.setattr(tasks, "COALESCE_LIMIT", 2)
    tutors = [make_tutor(f"T{number}") for number in range(5)]
    sessions = [make_session(tutor, days_ago=1) for tutor in tutors]
    for number, tutor in enumerate(tutors):  # T0 changed first
        changed_at = timezone.now() - timedelta(seconds=10 - number)
        Tutor.objects.filter(pk=tutor.pk).update(sessions_changed_at=changed_at)

    # Its own tutor plus the two oldest recent changes; the sweep scores the rest.
    assert tasks.process_sessions([str(sessions[-1].pk)]) == 3
    scored = set(TutorScore.objects.values_list("tutor_id", flat=True))
    assert scored == {tutors[0].pk, tutors[1].pk, tutors[4].pk}
    assert tasks.rescore_stale() == 2


def test_process_sessions_of_unknown_ids_does_nothing(db, scored_signals):
    assert tasks.process_sessions(["00000000-0000-0000-0000-000000000000"]) == 0
    assert scored_signals == []


def test_stale_sweep_rescores_changed_and_unscored_tutors_only(make_tutor, make_session):
    changed, unchanged, unscored = make_tutor("Changed"), make_tutor("Unchanged"), make_tutor("Unscored")
    for tutor in (changed, unchanged, unscored):
        make_session(tutor, days_ago=1)
    calculated_at = timezone.now() + timedelta(seconds=1)
    engine.recompute_all(now=calculated_at, tutor_ids=[changed.pk, unchanged.pk])
    Tutor.mark_changed([changed.pk], now=calculated_at + timedelta(seconds=1))

    assert set(tasks.stale_tutor_ids()) == {changed.pk, unscored.pk}
    assert tasks.rescore_stale() == 2
    assert TutorScore.objects.get(tutor=unchanged).last_calculated_at == calculated_at
    assert TutorScore.objects.count() == 3


def test_a_change_committed_while_scoring_leaves_the_tutor_stale(make_tutor, make_session, monkeypatch):
    tutor = make_tutor()
    make_session(tutor, days_ago=1)
    compute_scores = engine.compute_scores

    def compute_then_change(**kwargs):
        scores = compute_scores(**kwargs)
        # A session commits after the counts were read; its request started before the
        # computation did, so its change is stamped earlier than the score will be.
        make_session(tutor, days_ago=2, student_id="student-2")
        Tutor.mark_changed([tutor.pk], now=NOW - timedelta(seconds=1))
        return scores

    monkeypatch.setattr(engine, "compute_scores", compute_then_change)
    engine.recompute_all(now=NOW)
    monkeypatch.undo()

    assert TutorScore.objects.get().total_sessions_7d == 1  # that computation missed the session
    assert tasks.stale_tutor_ids() == [tutor.pk]
    assert tasks.rescore_stale() == 1
    assert TutorScore.objects.get().total_sessions_7d == 2
    assert tasks.stale_tutor_ids() == []


def test_the_full_recompute_keeps_a_newer_score_committed_while_it_ran(make_tutor, make_session, monkeypatch):
    tutor, other = make_tutor("Busy"), make_tutor("Quiet")
    for day in range(1, 6):
        make_session(tutor, days_ago=day, student_id=f"student-{day}")
        make_session(other, days_ago=day, student_id=f"student-{day}")
    engine.recompute_all(now=NOW)
    compute_scores = engine.compute_scores

    def compute_then_ingest(**kwargs):
        scores = compute_scores(**kwargs)
        monkeypatch.undo()  # the per-ingest task below computes as usual
        # A per-ingest task scores four tutor reschedules that committed after the hourly
        # recompute read its counts: the flag goes up and an alert opens.
        for hours in (6, 5, 4, 3):
            make_session(tutor, days_ago=hours / 24, status="rescheduled", initiator="tutor")
        engine.recompute_all(now=NOW, tutor_ids=[tutor.pk], newer_only=True)
        return scores

    monkeypatch.setattr(engine, "compute_scores", compute_then_ingest)
    assert engine.recompute_all(now=NOW) == 1  # only the quiet tutor's new score lands

    kept = TutorScore.objects.get(tutor=tutor)
    assert (kept.tutor_reschedules_7d, kept.reschedule_flag) == (4, True)
    alert = Alert.objects.get(tutor=tutor)
    assert alert.status == Alert.Status.OPEN  # not resolved by the older computation
    assert tasks.stale_tutor_ids() == []
    assert TutorScore.objects.get(tutor=other).last_calculated_at == NOW


def test_migrating_to_versions_keeps_stale_tutors_stale(make_tutor, make_session):
    migration = importlib.import_module("scoring.migrations.0002_score_sessions_version")
    changed, unchanged = make_tutor("Changed"), make_tutor("Unchanged")
    for tutor in (changed, unchanged):
        make_session(tutor, days_ago=1)
    engine.recompute_all(now=timezone.now())
    Tutor.objects.update(sessions_version=0)  # as the schema migration leaves every row
    TutorScore.objects.update(sessions_version=0)
    Tutor.objects.filter(pk=changed.pk).update(sessions_changed_at=timezone.now() + timedelta(seconds=1))

    migration.keep_stale_tutors_stale(apps, schema_editor=None)

    assert tasks.stale_tutor_ids() == [changed.pk]


def test_failed_processing_schedules_a_retry_with_backoff(make_tutor, make_session, monkeypatch):
    session = make_session(make_tutor(), days_ago=1)
    real_recompute = engine.recompute_all

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(engine, "recompute_all", broken)
    before = timezone.now()
    with pytest.raises(RuntimeError):
        tasks.process_sessions([str(session.pk)])

    retry = Schedule.objects.get()
    assert retry.func == "scoring.tasks.process_sessions"
    assert retry.schedule_type == Schedule.ONCE
    assert retry.repeats == -1  # deleted by django-q2 once it has run
    assert before + timedelta(seconds=30) <= retry.next_run <= timezone.now() + timedelta(seconds=30)
    args, kwargs = ast.literal_eval(retry.args), ast.literal_eval(retry.kwargs)
    assert args == ([str(session.pk)],)
    assert kwargs == {"attempt": 2}

    # The second attempt fails too: the next delay doubles.
    with pytest.raises(RuntimeError):
        tasks.process_sessions(*args, **kwargs)
    third = Schedule.objects.exclude(pk=retry.pk).get()
    assert ast.literal_eval(third.kwargs) == {"attempt": 3}
    assert third.next_run - retry.next_run >= timedelta(seconds=29)

    # What the scheduler does with the stored strings works once the database is back.
    monkeypatch.setattr(engine, "recompute_all", real_recompute)
    async_task(third.func, *ast.literal_eval(third.args), **ast.literal_eval(third.kwargs))
    assert TutorScore.objects.filter(tutor_id=session.tutor_id).exists()


def test_retries_are_bounded(db):
    delays = [tasks.retry_delay(attempt, base=tasks.RETRY_BASE_DELAY) for attempt in (1, 2, 3, 4)]
    assert [delay.total_seconds() for delay in delays] == [30, 60, 120, 240]
    assert tasks.schedule_retry("scoring.tasks.rescore_stale", [], attempt=tasks.MAX_ATTEMPTS) is None
    assert not Schedule.objects.exists()


def test_sweep_and_hourly_tasks_schedule_retries_too(make_tutor, make_session, monkeypatch):
    make_session(make_tutor(), days_ago=1)  # a stale tutor: the sweep has work

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "recompute_all", broken)
    for task in (tasks.rescore_stale, tasks.recompute_all_task, tasks.snapshot_history):
        with pytest.raises(RuntimeError):
            task()
    assert sorted(Schedule.objects.values_list("func", flat=True)) == [
        "scoring.tasks.recompute_all_task",
        "scoring.tasks.rescore_stale",
        "scoring.tasks.snapshot_history",
    ]


def test_saving_settings_recomputes_after_commit(
    make_tutor, make_session, django_capture_on_commit_callbacks
):
    tutor = make_tutor()
    for _ in range(6):
        make_session(tutor, days_ago=1)
    for _ in range(4):
        make_session(tutor, days_ago=1, status="rescheduled")
    engine.recompute_all()
    assert TutorScore.objects.get().reschedule_flag is True

    settings = ScoringSettings.load()
    settings.reschedule_rate_threshold = Decimal("35")  # 4 of 10 now favours the good rate
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        settings.save()
        assert TutorScore.objects.get().reschedule_flag is True  # nothing before commit
    assert len(callbacks) >= 1
    score = TutorScore.objects.get()
    assert score.reschedule_flag is False
    assert score.reschedule_rate_threshold == Decimal("35.00")


def test_snapshot_task_recomputes_then_snapshots(make_tutor, make_session):
    make_session(make_tutor(), days_ago=1)
    assert tasks.snapshot_history() == 1
    assert TutorScoreHistory.objects.get().total_sessions_7d == 1
    assert Session.objects.count() == 1


def test_a_failed_enqueue_after_a_settings_change_never_fails_the_save(
    db, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("django_q.tasks.async_task", broken)
    settings = ScoringSettings.load()
    settings.minimum_sessions = 7
    with django_capture_on_commit_callbacks(execute=True):
        settings.save()
    assert ScoringSettings.load().minimum_sessions == 7
    assert "could not enqueue scoring.tasks.recompute_all_task" in caplog.text


def test_stale_sweep_after_a_bulk_load_recomputes_everyone(make_tutor, make_session, monkeypatch):
    scored_before, unscored = make_tutor("Scored"), make_tutor("Unscored")
    make_session(scored_before, days_ago=1)
    engine.recompute_all(now=timezone.now() + timedelta(seconds=1), tutor_ids=[scored_before.pk])
    monkeypatch.setattr(tasks, "STALE_FULL_RECOMPUTE", 0)  # one stale tutor is "most of them"
    assert tasks.stale_tutor_ids() == [unscored.pk]
    assert tasks.rescore_stale() == 2


def test_the_stale_sweep_announces_every_newly_covered_session_in_bounded_chunks(
    make_tutor, make_session, monkeypatch
):
    """A lost processing task: the sweep announces what it never did, a few sessions a signal."""
    monkeypatch.setattr(tasks, "ANNOUNCE_CHUNK", 2)
    tutor = make_tutor()
    sessions = [make_session(tutor, days_ago=days) for days in (1, 2, 3, 4, 5)]
    signals = []

    def receiver(sender, sessions, scores, **kwargs):
        signals.append(sorted(session.pk for session in sessions))

    sessions_scored.connect(receiver)
    try:
        assert tasks.rescore_stale() == 1
        assert tasks.rescore_stale() == 0  # nothing stale, nothing announced again
    finally:
        sessions_scored.disconnect(receiver)
    assert [len(chunk) for chunk in signals] == [2, 2, 1]
    assert sorted(pk for chunk in signals for pk in chunk) == sorted(session.pk for session in sessions)


def test_a_session_changed_long_before_the_previous_score_is_not_announced_again(
    make_tutor, make_session, scored_signals
):
    tutor = make_tutor()
    old = make_session(tutor, days_ago=3)
    tasks.rescore_stale()
    Session.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    TutorScore.objects.update(last_calculated_at=timezone.now() - timedelta(minutes=30))
    new = make_session(tutor, days_ago=1)
    scored_signals.clear()

    tasks.rescore_stale()
    assert [session_id for session_id, _, _ in scored_signals] == [new.pk]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite runs one writer at a time anyway")
@pytest.mark.django_db(transaction=True)
def test_a_task_scores_its_own_tutors_at_once_and_waits_its_turn_for_the_coalesced_rest(
    make_tutor, make_session
):
    """Two workers must not score the same recently stale tutors at once: the second scores its
    own session's tutor, then waits for the first before it looks for the rest."""
    ada, bo = make_tutor("Ada"), make_tutor("Bo")
    session = make_session(ada, days_ago=1)
    make_session(bo, days_ago=1)  # stale too, not this task's: the coalesced part
    holding, release = threading.Event(), threading.Event()

    def first_worker():
        with one_at_a_time(tasks.PROCESS_TASK):
            holding.set()
            release.wait(10)
        connection.close()

    rescored = []

    def second_worker():
        rescored.append(tasks.process_sessions([str(session.pk)]))
        connection.close()

    first, second = threading.Thread(target=first_worker), threading.Thread(target=second_worker)
    first.start()
    assert holding.wait(10)
    second.start()
    second.join(1)
    assert second.is_alive()  # waiting its turn, with its own tutor already scored
    assert set(TutorScore.objects.values_list("tutor_id", flat=True)) == {ada.pk}

    release.set()
    first.join(10)
    second.join(10)
    assert rescored == [2] and set(TutorScore.objects.values_list("tutor_id", flat=True)) == {ada.pk, bo.pk}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's")
@pytest.mark.django_db
def test_the_turn_is_released_when_the_block_fails():
    with pytest.raises(RuntimeError), one_at_a_time("some task"):
        raise RuntimeError("the task failed")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key("some task")])
        assert cursor.fetchone() == (True,)  # nobody holds it any more
        cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_key("some task")])
