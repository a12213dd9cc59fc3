"""generate_data: deterministic for (seed, now), distributions within tolerance, manifest, arguments."""

import csv
import io
import random
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from faker import Faker

from sessions import generator
from sessions.models import ApiKey, Reschedule, Session, Tutor
from sessions.rescheduling import classify_reason
from tutorscore.testing import NOW

NOW_ISO = NOW.isoformat()


def run(*args, **options):
    out = io.StringIO()
    call_command("generate_data", *args, stdout=out, **options)
    return out.getvalue()


def rows_in_memory(tutors=100, sessions=3000, days=90, seed=42):
    """Draw the data without a database: (plans, session rows, reschedule rows, stats)."""
    options = generator.Options(tutors=tutors, sessions=sessions, days=days, seed=seed, now=NOW)
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    plans = generator.plan_tutors(rng, fake, options)
    stats = generator.Stats(tutors=len(plans))
    stats.profiles.update(plan.profile for plan in plans)
    stats.active = sum(plan.is_active for plan in plans)
    session_rows, reschedule_rows = [], []
    for chunk_sessions, chunk_reschedules in generator.generate_rows(plans, rng, options, stats):
        session_rows += chunk_sessions
        reschedule_rows += chunk_reschedules
    return plans, session_rows, reschedule_rows, stats


@pytest.fixture(scope="module")
def demo_set():
    return rows_in_memory()


def column(rows, columns, name):
    index = columns.index(name)
    return [row[index] for row in rows]


def test_columns_cover_every_concrete_field():
    # A new model field must be added to the generator's rows (or it would silently get no value).
    assert set(generator.SESSION_COLUMNS) == {f.attname for f in Session._meta.concrete_fields}
    assert set(generator.RESCHEDULE_COLUMNS) == {f.attname for f in Reschedule._meta.concrete_fields}


def test_every_reason_text_maps_to_its_category():
    for code, texts in generator.REASONS.items():
        for text in texts:
            assert classify_reason(text) == code, text


def test_tutor_profiles_and_activity_are_exact_quotas(demo_set):
    plans, *_ = demo_set
    assert Counter(plan.profile for plan in plans) == {"low": 60, "medium": 25, "high": 15}
    assert sum(plan.is_active for plan in plans) == 90
    assert len({plan.email for plan in plans}) == 100


def test_session_mix_within_tolerance(demo_set):
    plans, sessions, reschedules, _ = demo_set
    statuses = Counter(column(sessions, generator.SESSION_COLUMNS, "status"))
    assert sum(statuses.values()) == 3000
    past = 3000 - statuses["scheduled"]
    assert statuses["scheduled"] == 30  # 1% upcoming, documented
    assert statuses["completed"] / past == pytest.approx(0.70, abs=0.03)
    assert statuses["rescheduled"] / past == pytest.approx(0.25, abs=0.03)
    assert statuses["no_show"] / past == pytest.approx(0.05, abs=0.015)
    assert len(reschedules) == statuses["rescheduled"]


def test_reschedules_are_mostly_tutor_initiated_and_often_last_minute(demo_set):
    _, _, reschedules, _ = demo_set
    columns = generator.RESCHEDULE_COLUMNS
    initiators = Counter(column(reschedules, columns, "initiator"))
    assert initiators["tutor"] / len(reschedules) == pytest.approx(0.982, abs=0.015)
    hours = column(reschedules, columns, "hours_before_session")
    assert sum(h < 24 for h in hours) / len(reschedules) == pytest.approx(0.40, abs=0.06)
    assert any(h < 0 for h in hours)  # a few asked after the start
    for row in reschedules:
        original, new_time, cancelled = row[3], row[4], row[7]
        assert new_time is None or new_time > original
        assert row[columns.index("reason_code")] == classify_reason(row[columns.index("reason")])
        assert row[columns.index("hours_before_session")] == generator.hours_before_session(
            original, cancelled
        )


def test_reasons_repeat_per_tutor(demo_set):
    _, sessions, reschedules, _ = demo_set
    tutor_of = {row[0]: row[1] for row in sessions}
    by_tutor = {}
    for row in reschedules:
        by_tutor.setdefault(tutor_of[row[1]], Counter())[row[6]] += 1
    busy = [codes for codes in by_tutor.values() if sum(codes.values()) >= 10]
    assert busy
    # With a habit, the most common reason covers far more than the 1/7 of a uniform draw.
    top_shares = sorted(codes.most_common(1)[0][1] / sum(codes.values()) for codes in busy)
    assert top_shares[len(top_shares) // 2] >= 0.4


def test_times_follow_the_week_and_the_evening_peak(demo_set):
    _, sessions, _, _ = demo_set
    past = [row for row in sessions if row[5] != "scheduled"]
    times = [row[3] for row in past]
    assert all(NOW - timedelta(days=90) < moment <= NOW for moment in times)
    weekday_share = sum(moment.weekday() < 5 for moment in times) / len(times)
    assert weekday_share == pytest.approx(generator._expected_weekday_share(), abs=0.05)
    assert weekday_share > 5 / 7  # busier than an even spread
    assert sum(15 <= moment.hour < 20 for moment in times) / len(times) > 0.6
    upcoming = [row[3] for row in sessions if row[5] == "scheduled"]
    assert all(NOW < moment <= NOW + timedelta(days=7) for moment in upcoming)


def test_completed_sessions_durations_ratings_and_no_shows(demo_set):
    _, sessions, _, _ = demo_set
    columns = generator.SESSION_COLUMNS
    completed = [dict(zip(columns, row, strict=True)) for row in sessions if row[5] == "completed"]
    assert {row["duration_minutes"] for row in completed} <= {30, 45, 60, 90, 120}
    for row in completed:
        assert row["completed_time"] == row["scheduled_time"] + timedelta(minutes=row["duration_minutes"])
        assert row["completed_time"] <= NOW
    assert sum(row["student_rating"] is not None for row in completed) / len(completed) == pytest.approx(
        0.6, abs=0.03
    )
    no_show_by = Counter(row[8] for row in sessions if row[5] == "no_show")
    assert no_show_by["tutor"] > 3 * no_show_by["student"] > 0
    others = [row for row in sessions if row[5] != "completed"]
    assert all(row[4] is None and row[7] is None for row in others)


def test_repeat_students_and_worse_retention_for_high_risk_tutors(demo_set):
    _, sessions, _, stats = demo_set
    per_pair = Counter((row[1], row[2]) for row in sessions)
    assert sum(count > 1 for count in per_pair.values()) / len(per_pair) > 0.4
    retention = {p: stats.retained[p] / stats.first_sessions[p] for p in generator.PROFILES}
    assert retention["high"] + 0.2 < retention["medium"] < retention["low"]


def test_validation_report_is_all_within_tolerance(demo_set):
    *_, stats = demo_set
    report = generator.validation_report(stats)
    assert [row[0] for row in report if not row[4]] == []
    assert len(report) >= 15


def test_drawn_rates_are_calibrated_to_the_overall_mix(demo_set):
    plans, *_ = demo_set
    total = sum(plan.past_sessions for plan in plans)
    expected_tutor_reschedules = sum(plan.past_sessions * plan.reschedule_rate for plan in plans)
    assert expected_tutor_reschedules / total == pytest.approx(0.25 * 0.982, abs=0.001)
    high = [plan.reschedule_rate for plan in plans if plan.profile == "high"]
    low = [plan.reschedule_rate for plan in plans if plan.profile == "low"]
    assert min(high) > 0.15 > max(low)


def test_same_seed_and_now_same_rows_other_seed_other_rows():
    first = rows_in_memory(tutors=10, sessions=300, seed=7)
    again = rows_in_memory(tutors=10, sessions=300, seed=7)
    other = rows_in_memory(tutors=10, sessions=300, seed=8)
    assert first[1] == again[1] and first[2] == again[2]
    assert [p.name for p in first[0]] == [p.name for p in again[0]]
    assert first[1] != other[1]


def stored_data():
    # updated_at is wall-clock time where bulk_create writes the rows (auto_now).
    columns = [column for column in generator.SESSION_COLUMNS if column != "updated_at"]
    sessions = list(Session.objects.order_by("pk").values_list(*columns))
    reschedules = list(Reschedule.objects.order_by("pk").values_list(*generator.RESCHEDULE_COLUMNS))
    tutors = list(Tutor.objects.order_by("pk").values_list("pk", "name", "email", "is_active", "created_at"))
    return tutors, sessions, reschedules


@pytest.mark.django_db
def test_the_command_stores_the_same_data_for_the_same_seed_and_now():
    output = run("--tutors=12", "--sessions=400", "--days=60", "--seed=3", f"--now={NOW_ISO}", "--no-scores")
    assert "Validation (actual vs target)" in output and "Done in" in output
    first = stored_data()
    assert (len(first[0]), len(first[1])) == (12, 400)
    assert len(first[2]) == Session.objects.filter(status="rescheduled").count() > 0
    run(
        "--tutors=12", "--sessions=400", "--days=60", "--seed=3", f"--now={NOW_ISO}", "--no-scores", "--clear"
    )
    assert stored_data() == first
    run(
        "--tutors=12", "--sessions=400", "--days=60", "--seed=4", f"--now={NOW_ISO}", "--no-scores", "--clear"
    )
    assert stored_data()[1] != first[1]


@pytest.mark.django_db
def test_generated_tutors_are_marked_for_scoring_and_scored():
    output = run("--tutors=10", "--sessions=200", "--seed=5", f"--now={NOW_ISO}")
    assert not Tutor.objects.filter(sessions_changed_at__isnull=True).exists()
    # recompute_scores really runs (no "not available" note) and scores every tutor.
    assert "not available" not in output
    from scoring.models import TutorScore

    assert TutorScore.objects.count() == 10
    assert TutorScore.objects.filter(last_calculated_at=NOW).count() == 10


@pytest.mark.django_db
def test_running_twice_without_clear_is_refused():
    run("--tutors=3", "--sessions=30", "--seed=9", f"--now={NOW_ISO}", "--no-scores")
    with pytest.raises(CommandError, match="already loaded"):
        run("--tutors=3", "--sessions=30", "--seed=9", f"--now={NOW_ISO}", "--no-scores")
    assert Tutor.objects.count() == 3  # nothing half-stored


@pytest.mark.django_db
def test_clear_removes_tutor_data_and_everything_hanging_off_it(make_tutor, make_session):
    from reports.models import EmailReport
    from scoring.models import Alert, AlertEvent, ScoringSettings

    old = make_tutor("Old Tutor", "old@example.com")
    session = make_session(old, status="rescheduled")
    alert = Alert.objects.create(tutor=old, kind="reschedule_rate", message="m")
    AlertEvent.objects.create(alert=alert, action="opened")
    EmailReport.objects.create(kind="alert", event_key="x", recipient_email="a@example.com", session=session)
    ApiKey.create_key("platform")
    ScoringSettings.load()

    run("--tutors=4", "--sessions=40", "--seed=1", f"--now={NOW_ISO}", "--no-scores", "--clear")

    assert not Tutor.objects.filter(pk=old.pk).exists()
    assert Tutor.objects.count() == 4 and Session.objects.count() == 40
    assert not Alert.objects.exists() and not AlertEvent.objects.exists() and not EmailReport.objects.exists()
    assert ApiKey.objects.count() == 1 and ScoringSettings.objects.count() == 1  # configuration stays


@pytest.mark.django_db
def test_manifest_lists_every_tutor_with_its_drawn_profile(tmp_path):
    path = tmp_path / "manifest.csv"
    run("--tutors=20", "--sessions=300", "--seed=11", f"--now={NOW_ISO}", "--no-scores", f"--manifest={path}")
    with path.open() as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == [
        "tutor_id",
        "external_id",
        "profile",
        "drawn_reschedule_rate",
        "drawn_no_show_rate",
    ]
    assert {row["tutor_id"] for row in rows} == {str(pk) for pk in Tutor.objects.values_list("pk", flat=True)}
    assert [row["external_id"] for row in rows] == [f"T{i:05d}" for i in range(1, 21)]
    assert Counter(row["profile"] for row in rows) == {"low": 12, "medium": 5, "high": 3}
    for row in rows:
        assert 0 <= float(row["drawn_reschedule_rate"]) <= 0.8
        assert 0 <= float(row["drawn_no_show_rate"]) <= 0.15
    high = min(float(r["drawn_reschedule_rate"]) for r in rows if r["profile"] == "high")
    assert high > max(float(r["drawn_reschedule_rate"]) for r in rows if r["profile"] != "high")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tutors=0"], "--tutors: must be a positive number, got 0"),
        (["--sessions=-5"], "--sessions: must be a positive number, got -5"),
        (["--days=abc"], "--days: 'abc' is not a whole number"),
        (["--now=yesterday"], "--now: 'yesterday' is not an ISO 8601 time"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(db, args, message):
    with pytest.raises(CommandError, match=message.replace("-", r"\-").replace("+", r"\+")):
        run(*args)
    assert not Tutor.objects.exists()


def test_bad_arguments_exit_non_zero_from_the_command_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "generate_data", "--tutors", "0"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/bin:/bin",
            "DEBUG": "true",
            "DATABASE_URL": "sqlite:////nonexistent/never-opened.db",
        },
    )
    assert result.returncode != 0
    assert "must be a positive number" in result.stderr


def test_now_without_offset_is_utc():
    from sessions.management.commands.generate_data import iso_time

    assert iso_time("2026-11-25T12:00") == datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert iso_time("2026-11-25T13:00+01:00") == datetime(2026, 11, 25, 12, tzinfo=UTC)
