"""generate_data: a known truth that spreads across the thresholds and changes over time, sessions
that follow it, the manifest, the SPEC §10 mix, determinism for (seed, now), arguments."""

import csv
import io
import math
import random
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F

from sessions import generator
from sessions.generator import calendar, manifest, plan, rows, store, students, truth
from sessions.generator import stats as stats_module
from sessions.generator.build import generate_rows
from sessions.models import ApiKey, Reschedule, Session, Tutor
from sessions.rescheduling import classify_reason, hours_before_session
from tutorscore.testing import NOW

NOW_ISO = NOW.isoformat()
DAY = timedelta(days=1)
SESSION = {name: index for index, name in enumerate(store.SESSION_COLUMNS)}
RESCHEDULE = {name: index for index, name in enumerate(store.RESCHEDULE_COLUMNS)}


def run(*args, **options):
    out = io.StringIO()
    call_command("generate_data", *args, stdout=out, **options)
    return out.getvalue()


def options(tutors=100, sessions=3000, days=90, seed=42):
    return generator.Options(tutors=tutors, sessions=sessions, days=days, seed=seed, now=NOW)


def rows_in_memory(tutors=100, sessions=3000, days=90, seed=42):
    """Draw the data without a database: (plans, session rows, reschedule rows, stats)."""
    chosen = options(tutors, sessions, days, seed)
    plans = generator.plan_tutors(chosen)
    stats = generator.Stats()
    stats.add_plans(plans)
    session_rows, reschedule_rows = [], []
    for chunk_sessions, chunk_reschedules in generate_rows(plans, chosen, stats):
        session_rows += chunk_sessions
        reschedule_rows += chunk_reschedules
    return plans, session_rows, reschedule_rows, stats


@pytest.fixture(scope="module")
def demo_set():
    return rows_in_memory()


@pytest.fixture(scope="module")
def medium_set():
    return rows_in_memory(tutors=200, sessions=40_000, seed=7)


@pytest.fixture(scope="module")
def big_plan():
    """2,000 tutors at the benchmark's volume (about 1.1 sessions per tutor and day), no sessions."""
    return generator.plan_tutors(options(tutors=2000, sessions=200_000, seed=1))


def correlation(xs, ys):
    return statistics.correlation(list(xs), list(ys))


# --- the rows fit the models --------------------------------------------------------------------


def test_columns_cover_every_concrete_field():
    # A new model field must be added to the generator's rows (or it would silently get no value).
    assert set(store.SESSION_COLUMNS) == {f.attname for f in Session._meta.concrete_fields}
    assert set(store.RESCHEDULE_COLUMNS) == {f.attname for f in Reschedule._meta.concrete_fields}


def test_every_reason_text_maps_to_its_category():
    assert tuple(rows.REASONS) == plan.REASON_CODES
    for code, texts in rows.REASONS.items():
        for text in texts:
            assert classify_reason(text) == code, text


# --- the truth ----------------------------------------------------------------------------------


def test_true_rates_spread_continuously_across_every_threshold(big_plan):
    baselines = [tutor.truth.baseline for tutor in big_plan]
    reschedule = sorted(rates.reschedule for rates in baselines)
    assert sum(0.10 <= rate <= 0.25 for rate in reschedule) / len(reschedule) > 0.35
    # No gap: both sides of each threshold are well populated, and nowhere near it is empty.
    for values, threshold in (
        (reschedule, 0.15),
        (sorted(rates.no_show for rates in baselines), 0.10),
        (sorted(rates.retention for rates in baselines), 0.60),
    ):
        near = [value for value in values if 0.5 * threshold <= value <= 1.5 * threshold]
        assert sum(value < threshold for value in near) > 40 and sum(value > threshold for value in near) > 40
        assert max(b - a for a, b in zip(near, near[1:], strict=False)) < 0.1 * threshold


def test_rates_are_mostly_independent_so_many_tutors_have_one_problem(big_plan):
    baselines = [tutor.truth.baseline for tutor in big_plan]
    problems = [truth.problems(rates) for rates in baselines]
    only = Counter(found[0] for found in problems if len(found) == 1)
    assert min(only["reschedule"], only["no_show"], only["retention"]) >= 30
    assert sum(len(found) == 1 for found in problems) > 3 * sum(len(found) > 1 for found in problems)
    # Correlated through the shared latent, but weakly.
    assert 0.05 < correlation((r.reschedule for r in baselines), (r.no_show for r in baselines)) < 0.4
    assert -0.4 < correlation((r.reschedule for r in baselines), (r.retention for r in baselines)) < -0.05


def test_volume_is_not_tied_to_risk_and_spreads_from_a_fifth_to_three_sessions_a_day(big_plan):
    active = [tutor for tutor in big_plan if tutor.is_active]
    per_day = sorted(tutor.sessions_per_day for tutor in active)
    assert per_day[len(per_day) // 20] < 0.4 and per_day[-len(per_day) // 20] > 2.5
    for measure in (lambda t: t.truth.baseline.reschedule, lambda t: truth.severity(t.truth.baseline)):
        assert abs(correlation((t.sessions_per_day for t in active), map(measure, active))) < 0.08


def test_profiles_are_labels_of_the_truth_at_now(big_plan):
    shares = Counter(tutor.profile for tutor in big_plan)
    assert shares["low"] / 2000 == pytest.approx(0.60, abs=0.035)
    assert shares["medium"] / 2000 == pytest.approx(0.25, abs=0.03)
    assert shares["high"] / 2000 == pytest.approx(0.15, abs=0.025)
    for tutor in big_plan:
        assert tutor.profile == truth.profile_of(tutor.truth.periods[-1].rates)
    assert truth.profile_of(truth.Rates(0.12, 0.05, 0.80)) == "low"
    assert truth.profile_of(truth.Rates(0.13, 0.05, 0.80)) == "medium"
    assert truth.profile_of(truth.Rates(0.05, 0.05, 0.39)) == "high"


def test_some_tutors_turn_bad_recover_improve_or_have_a_bad_week(big_plan):
    changes = [change for tutor in big_plan for change in tutor.truth.changes]
    kinds = Counter(change.kind for change in changes)
    assert kinds["turn_bad"] / 2000 == pytest.approx(0.12, abs=0.025)
    assert kinds["burst"] / 2000 == pytest.approx(0.15, abs=0.025)
    assert kinds["improve"] > 40
    turned = [change for change in changes if change.kind == "turn_bad"]
    assert Counter(change.measure for change in turned).keys() == {"reschedule", "no_show", "retention"}
    recovered = [change for change in turned if change.end < NOW.timestamp()]
    assert 0.2 < len(recovered) / len(turned) < 0.45
    bad_values = {"reschedule": (0.35, 0.60), "no_show": (0.20, 0.35), "retention": (0.25, 0.45)}
    for change in turned:
        low, high = bad_values[change.measure]
        assert low <= change.value <= high
    for change in changes:
        if change.kind == "burst":
            assert change.end - change.start == 7 * 86_400


def test_periods_tile_the_history_and_follow_the_changes():
    tutors = generator.plan_tutors(options(tutors=300, sessions=30_000, seed=3))
    start, end = (NOW - 90 * DAY).timestamp(), NOW.timestamp()
    for tutor in tutors:
        periods = tutor.truth.periods
        assert periods[0].start == start and periods[-1].end == end
        assert all(a.end == b.start for a, b in zip(periods, periods[1:], strict=False))
        assert all(period.active == (period.start < tutor.truth.active_until) for period in periods)
        for period in periods:
            assert truth.rates_at(tutor.truth, (period.start + period.end) / 2) == period.rates
    changed = [tutor for tutor in tutors if tutor.truth.changes]
    assert changed and all(len(tutor.truth.periods) > 1 for tutor in changed)


# --- the sessions follow the truth -------------------------------------------------------------


def one_tutor_rows(baseline, changes=(), sessions=4000, seed=5):
    """The sessions of one busy active tutor whose truth is given."""
    chosen = options(tutors=1, sessions=sessions, seed=seed)
    (tutor,) = generator.plan_tutors(chosen)
    start, end = (NOW - 90 * DAY).timestamp(), NOW.timestamp()
    drawn = truth.TutorTruth(baseline, 1.0, start, end, end, list(changes))
    drawn.periods = truth.periods(drawn)
    tutor = replace(tutor, truth=drawn, is_active=True, bad_weekday=None, past_sessions=sessions - 40)
    stats = generator.Stats()
    session_rows = [row for chunk, _ in generate_rows([tutor], chosen, stats) for row in chunk]
    return [row for row in session_rows if row[SESSION["status"]] != "scheduled"]


def tutor_reschedule_share(session_rows):
    return sum(row[SESSION["status"]] == "rescheduled" for row in session_rows) / len(session_rows)


def test_sessions_follow_a_jump_in_the_reschedule_rate():
    jump = (NOW - 30 * DAY).timestamp()
    change = truth.Change("turn_bad", "reschedule", 0.50, jump, math.inf)
    session_rows = one_tutor_rows(truth.Rates(0.05, 0.02, 0.85), [change])
    before = [row for row in session_rows if row[SESSION["scheduled_time"]].timestamp() < jump]
    after = [row for row in session_rows if row[SESSION["scheduled_time"]].timestamp() >= jump]
    assert len(before) > 1000 and len(after) > 1000
    # 98.2% of reschedules are the tutor's: the share of reschedules is the rate / 0.982.
    assert tutor_reschedule_share(before) == pytest.approx(0.05 / 0.982, abs=0.02)
    assert tutor_reschedule_share(after) == pytest.approx(0.50 / 0.982, abs=0.05)


def test_a_bad_week_shows_in_its_seven_days_only():
    burst_start = (NOW - 40 * DAY).timestamp()
    change = truth.Change("burst", "no_show", 0.40, burst_start, burst_start + 7 * 86_400)
    session_rows = one_tutor_rows(truth.Rates(0.05, 0.02, 0.85), [change])

    def no_show_share(inside):
        chosen = [
            row
            for row in session_rows
            if (burst_start <= row[SESSION["scheduled_time"]].timestamp() < burst_start + 7 * 86_400)
            == inside
        ]
        return sum(row[SESSION["no_show_by"]] == "tutor" for row in chosen) / len(chosen)

    assert no_show_share(True) == pytest.approx(0.40, abs=0.1)
    assert no_show_share(False) == pytest.approx(0.02, abs=0.01)


def test_measured_rates_estimate_the_truth_without_bias(medium_set):
    """Pooled over a medium data set, what the product would measure (tutor reschedules and
    no-shows per session that happened; retention of completed first sessions at least 14 days
    old, from the flags) agrees with the truth at each session's time within 3 standard errors."""
    plans, session_rows, _, _ = medium_set
    index = manifest.by_tutor(manifest.segments_of(plans))
    reschedules = dict(zip((r[RESCHEDULE["session_id"]] for r in medium_set[2]), medium_set[2], strict=True))
    counted = [row for row in session_rows if row[SESSION["status"]] != "scheduled"]
    expected = Counter()
    measured = Counter()
    for row in counted:
        segment = manifest.true_rates_at(index, row[SESSION["tutor_id"]], row[SESSION["scheduled_time"]])
        expected["reschedule"] += segment.reschedule_rate
        expected["no_show"] += segment.no_show_rate
        reschedule = reschedules.get(row[SESSION["id"]])
        measured["reschedule"] += reschedule is not None and reschedule[RESCHEDULE["initiator"]] == "tutor"
        measured["no_show"] += row[SESSION["no_show_by"]] == "tutor"
        if row[SESSION["is_first_session"]] and row[SESSION["status"]] == "completed":
            if row[SESSION["scheduled_time"]] <= NOW - 14 * DAY:
                measured["firsts"] += 1
                measured["retained"] += row[SESSION["first_session_retained"]]
                expected["retained"] += segment.retention_rate
    for name, whole in (
        ("reschedule", len(counted)),
        ("no_show", len(counted)),
        ("retained", measured["firsts"]),
    ):
        rate = expected[name] / whole
        assert measured[name] / whole == pytest.approx(rate, abs=3 * math.sqrt(rate * (1 - rate) / whole)), (
            name
        )


def test_a_last_chance_follow_up_counts_for_nothing_in_the_truth_check(big_plan):
    # It is completed whatever its draw (to keep retention exact), so the validation report must
    # not expect reschedules or no-shows of it: at 10 million sessions that expectation put the
    # drawn reschedule rate 6 standard errors below "the truth" (12.19% against 12.25 ± 0.03%).
    maker = rows.RowMaker(random.Random(3), NOW.timestamp())
    tables = rows.TutorTables(max(big_plan, key=lambda plan: plan.truth.baseline.reschedule))
    moment = NOW.timestamp() - 10 * 86400
    drafts = [maker.session(tables, "s", moment, completed=True) for _ in range(200)]
    assert {draft[0][5] for draft in drafts} == {"completed"}
    assert maker.forced > 0  # some of those draws would have fallen through
    assert {(draft[2], draft[3]) for draft in drafts} == {(0.0, 0.0)}
    assert maker.session(tables, "s", moment)[2] > 0  # an ordinary session keeps its probability


def test_each_tutors_measured_rate_agrees_with_its_truth(medium_set):
    """Per tutor, the count of tutor reschedules over the history is within 3 standard errors of
    what its truth at each session's time expects, for all but a few tutors (3 errors: 0.3%)."""
    plans, session_rows, reschedule_rows, _ = medium_set
    index = manifest.by_tutor(manifest.segments_of(plans))
    by_tutor_initiated = {
        row[RESCHEDULE["session_id"]]: row[RESCHEDULE["initiator"]] == "tutor" for row in reschedule_rows
    }
    observed, expected, variance = Counter(), Counter(), Counter()
    for row in session_rows:
        if row[SESSION["status"]] == "scheduled":
            continue
        tutor = row[SESSION["tutor_id"]]
        rate = manifest.true_rates_at(index, tutor, row[SESSION["scheduled_time"]]).reschedule_rate
        observed[tutor] += by_tutor_initiated.get(row[SESSION["id"]], False)
        expected[tutor] += rate
        variance[tutor] += rate * (1 - rate)
    far = [
        tutor
        for tutor in expected
        if abs(observed[tutor] - expected[tutor]) > 3 * math.sqrt(variance[tutor]) + 1
    ]
    assert len(expected) == 200 and len(far) <= 4


def test_a_student_not_retained_after_a_completed_first_session_never_comes_back(medium_set):
    _, session_rows, _, _ = medium_set
    by_pair = {}
    for row in session_rows:
        if row[SESSION["status"]] != "scheduled":
            by_pair.setdefault((row[SESSION["tutor_id"]], row[SESSION["student_id"]]), []).append(row)
    counted = 0
    for pair_rows in by_pair.values():
        first = min(pair_rows, key=lambda row: row[SESSION["scheduled_time"]])
        assert first[SESSION["is_first_session"]]
        old_enough = first[SESSION["scheduled_time"]] <= NOW - 14 * DAY
        if (
            old_enough
            and first[SESSION["status"]] == "completed"
            and not first[SESSION["first_session_retained"]]
        ):
            assert len(pair_rows) == 1
            counted += 1
    assert counted > 100


# --- the SPEC §10 mix --------------------------------------------------------------------------


def test_validation_report_is_all_within_tolerance(demo_set, medium_set):
    for *_, stats in (demo_set, medium_set):
        report = generator.validation_report(stats)
        assert [check.name for check in report if not check.ok] == []
        assert len(report) >= 20
    spec_notes = {check.name: check.note for check in report if check.note}
    assert spec_notes == {"sessions: completed": "SPEC 70%", "sessions: rescheduled": "SPEC 25%"}


def test_session_mix_and_exact_counts(demo_set):
    plans, sessions, reschedules, _ = demo_set
    statuses = Counter(row[SESSION["status"]] for row in sessions)
    assert sum(statuses.values()) == 3000
    past = 3000 - statuses["scheduled"]
    assert statuses["scheduled"] == pytest.approx(30, abs=3)  # 1% upcoming, documented
    assert statuses["completed"] / past == pytest.approx(0.827, abs=0.045)
    assert statuses["rescheduled"] / past == pytest.approx(0.123, abs=0.04)
    assert statuses["no_show"] / past == pytest.approx(0.05, abs=0.02)
    assert len(reschedules) == statuses["rescheduled"]
    assert Counter(plan.is_active for plan in plans) == {True: 90, False: 10}
    assert len({plan.email for plan in plans}) == 100


@pytest.mark.parametrize(("tutors", "sessions"), [(1, 1), (3, 60), (4, 40), (12, 400), (20, 5000)])
def test_exactly_the_sessions_asked_for(tutors, sessions):
    _, session_rows, _, stats = rows_in_memory(tutors=tutors, sessions=sessions, days=30, seed=tutors)
    assert len(session_rows) == stats.sessions == sessions


def test_reschedules_are_mostly_tutor_initiated_and_often_last_minute(demo_set):
    _, _, reschedules, _ = demo_set
    initiators = Counter(row[RESCHEDULE["initiator"]] for row in reschedules)
    assert initiators["tutor"] / len(reschedules) == pytest.approx(0.982, abs=0.02)
    hours = [row[RESCHEDULE["hours_before_session"]] for row in reschedules]
    assert sum(h < 24 for h in hours) / len(reschedules) == pytest.approx(0.40, abs=0.1)
    assert any(h < 0 for h in hours)  # a few asked after the start
    for row in reschedules:
        original, new_time, cancelled = row[3], row[4], row[7]
        assert new_time is None or new_time > original
        assert row[RESCHEDULE["reason_code"]] == classify_reason(row[RESCHEDULE["reason"]])
        assert row[RESCHEDULE["hours_before_session"]] == hours_before_session(original, cancelled)


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


WEIGHTS = calendar.WEEKDAY_WEIGHTS
MONDAY = 4 * 86_400  # 1970-01-05, a Monday, at midnight UTC
PEAK_SHARE = sum(w for h, w in calendar.HOUR_WEIGHTS.items() if h in calendar.PEAK_HOURS) / sum(
    calendar.HOUR_WEIGHTS.values()
)


def test_the_calendar_shares_of_whole_weeks_are_the_weights():
    weekday, peak = calendar.window_shares(MONDAY, MONDAY + 3 * 7 * 86_400)
    assert weekday == pytest.approx(sum(WEIGHTS[:5]) / sum(WEIGHTS))
    assert peak == pytest.approx(PEAK_SHARE)
    assert calendar.window_shares(MONDAY + 5 * 86_400, MONDAY + 7 * 86_400)[0] == 0  # a weekend


def test_the_calendar_shares_follow_the_days_a_history_holds():
    # 90 days from a Monday: 12 weeks and Monday to Saturday once more, so one Sunday fewer.
    weekday, _ = calendar.window_shares(MONDAY, MONDAY + 90 * 86_400)
    assert weekday == pytest.approx(13 * sum(WEIGHTS[:5]) / (13 * sum(WEIGHTS) - WEIGHTS[6]))
    # Which days come once more than the whole weeks moves the share: Monday to Friday the most.
    extra = {days: calendar.window_shares(MONDAY, MONDAY + (84 + days) * 86_400)[0] for days in range(7)}
    assert max(extra, key=extra.__getitem__) == 5 and min(extra, key=extra.__getitem__) == 0
    # A cut first or last day counts only its slots inside the window: from 19:00, only the peak's
    # last hour and the two after it; up to 16:00 (included), none of the evening's.
    _, evening = calendar.window_shares(MONDAY + 19 * 3600 - 1, MONDAY + 86_400 - 1)
    assert evening == pytest.approx(8 / (8 + 4 + 2))
    _, morning = calendar.window_shares(MONDAY, MONDAY + 16 * 3600)
    assert 0 < morning < PEAK_SHARE


def test_the_calendar_checks_expect_what_each_history_holds(medium_set):
    plans, _, _, stats = medium_set
    checks = {check.name: check for check in generator.validation_report(stats)}
    for name, position in (("sessions: on weekdays", 0), ("sessions: 15:00-20:00 start", 1)):
        past = [counts[stats_module.PAST] for counts in stats.per_tutor]
        shares = [calendar.window_shares(*students.history_window(plan.truth))[position] for plan in plans]
        expected = sum(count * share for count, share in zip(past, shares, strict=True)) / sum(past)
        assert checks[name].target == pytest.approx(expected)
        assert checks[name].ok


def test_times_follow_the_week_and_the_evening_peak(medium_set):
    _, sessions, _, _ = medium_set
    times = [row[SESSION["scheduled_time"]] for row in sessions if row[SESSION["status"]] != "scheduled"]
    assert all(NOW - 90 * DAY < moment <= NOW - timedelta(hours=2) for moment in times)
    weekday_share = sum(moment.weekday() < 5 for moment in times) / len(times)
    history = ((NOW - 90 * DAY).timestamp(), (NOW - timedelta(hours=2)).timestamp())
    assert weekday_share == pytest.approx(calendar.window_shares(*history)[0], abs=0.02)
    assert weekday_share > 5 / 7  # busier than an even spread
    assert sum(15 <= moment.hour < 20 for moment in times) / len(times) > 0.6
    upcoming = [row[SESSION["scheduled_time"]] for row in sessions if row[SESSION["status"]] == "scheduled"]
    assert upcoming and all(NOW < moment <= NOW + 7 * DAY for moment in upcoming)


def test_completed_sessions_durations_ratings_and_no_shows(demo_set):
    _, sessions, _, _ = demo_set
    completed = [
        dict(zip(store.SESSION_COLUMNS, row, strict=True)) for row in sessions if row[5] == "completed"
    ]
    assert {row["duration_minutes"] for row in completed} <= {30, 45, 60, 90, 120}
    for row in completed:
        assert row["completed_time"] == row["scheduled_time"] + timedelta(minutes=row["duration_minutes"])
        assert row["completed_time"] <= NOW
    rated = sum(row["student_rating"] is not None for row in completed) / len(completed)
    assert rated == pytest.approx(0.6, abs=0.04)
    no_show_by = Counter(row[8] for row in sessions if row[5] == "no_show")
    assert no_show_by["tutor"] > 3 * no_show_by["student"] > 0
    others = [row for row in sessions if row[5] != "completed"]
    assert all(row[4] is None and row[7] is None for row in others)


def test_repeat_students(demo_set):
    _, sessions, _, _ = demo_set
    per_pair = Counter((row[1], row[2]) for row in sessions)
    assert sum(count > 1 for count in per_pair.values()) / len(per_pair) > 0.4


def test_the_bad_weekday_keeps_the_mean_rate():
    shares = [weight / sum(calendar.WEEKDAY_WEIGHTS) for weight in calendar.WEEKDAY_WEIGHTS]
    for bad_weekday in range(7):
        for rate in (0.02, 0.2, 0.6):
            factors = calendar.weekday_factors(bad_weekday, rate, cap=0.9)
            assert sum(s * f for s, f in zip(shares, factors, strict=True)) == pytest.approx(1)
            assert max(factors) * rate <= 0.9 and min(factors) >= 0


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_and_now_same_rows_other_seed_other_rows():
    first = rows_in_memory(tutors=10, sessions=300, seed=7)
    again = rows_in_memory(tutors=10, sessions=300, seed=7)
    other = rows_in_memory(tutors=10, sessions=300, seed=8)
    assert first[1] == again[1] and first[2] == again[2]
    assert manifest.segments_of(first[0]) == manifest.segments_of(again[0])
    assert first[1] != other[1]


def stored_data():
    # updated_at is wall-clock time where bulk_create writes the rows (auto_now).
    columns = [column for column in store.SESSION_COLUMNS if column != "updated_at"]
    sessions = list(Session.objects.order_by("pk").values_list(*columns))
    reschedules = list(Reschedule.objects.order_by("pk").values_list(*store.RESCHEDULE_COLUMNS))
    tutors = list(Tutor.objects.order_by("pk").values_list("pk", "name", "email", "is_active", "created_at"))
    return tutors, sessions, reschedules


@pytest.mark.django_db
def test_the_command_stores_the_same_data_for_the_same_seed_and_now():
    output = run("--tutors=12", "--sessions=400", "--days=60", "--seed=3", f"--now={NOW_ISO}", "--no-scores")
    assert "Validation (actual vs target)" in output and "Done in" in output and "Truth at now:" in output
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


# --- the manifest --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_manifest_tiles_each_tutors_history_and_reads_back(tmp_path):
    path = tmp_path / "manifest.csv"
    run("--tutors=20", "--sessions=600", "--seed=11", f"--now={NOW_ISO}", "--no-scores", f"--manifest={path}")
    with path.open() as file:
        header = next(csv.reader(file))
    assert header == list(manifest.COLUMNS)
    assert "valid_from" in header and f"{NOW:%Y-%m-%dT%H:%M:%S}Z," in path.read_text()  # ISO, UTC
    segments = generator.read_manifest(path)
    assert segments == manifest.segments_of(generator.plan_tutors(options(tutors=20, sessions=600, seed=11)))
    index = generator.by_tutor(segments)
    assert set(index) == {str(pk) for pk in Tutor.objects.values_list("pk", flat=True)}
    assert sorted({segment.external_id for segment in segments}) == [f"T{i:05d}" for i in range(1, 21)]
    for tutor_segments in index.values():
        assert tutor_segments[0].valid_from == NOW - 90 * DAY and tutor_segments[-1].valid_to == NOW
        assert all(
            a.valid_to == b.valid_from for a, b in zip(tutor_segments, tutor_segments[1:], strict=False)
        )
        for segment in tutor_segments:
            rates = (segment.reschedule_rate, segment.no_show_rate, segment.retention_rate)
            assert all(0 <= rate <= 1 for rate in rates) and segment.profile in truth.PROFILES
    tutor_id, tutor_segments = next(iter(index.items()))
    assert generator.true_rates_at(segments, tutor_id, NOW - 90 * DAY) == tutor_segments[0]
    assert generator.true_rates_at(index, tutor_id, NOW) == tutor_segments[-1]
    assert generator.true_rates_at(index, tutor_id, NOW + DAY) is None
    assert generator.true_rates_at(index, "no such tutor", NOW) is None


def test_manifest_file_round_trips_exactly():
    plans = generator.plan_tutors(options(tutors=50, sessions=5000, seed=2))
    file = io.StringIO()
    generator.write_manifest(plans, file)
    file.seek(0)
    assert generator.read_manifest(file) == manifest.segments_of(plans)
    segments = manifest.segments_of(plans)
    inactive = [s for s in segments if s.sessions_per_day == 0]
    assert inactive and all(s.valid_to == NOW for s in inactive)  # a tutor who stopped stays stopped


# --- the command ---------------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="indexes are rebuilt on PostgreSQL only")
@pytest.mark.django_db
def test_the_sessions_indexes_dropped_for_the_load_come_back_as_they_were():
    def indexes():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sessions' ORDER BY 1"
            )
            return cursor.fetchall()

    before = indexes()
    run("--tutors=5", "--sessions=100", "--seed=2", f"--now={NOW_ISO}", "--no-scores")
    assert indexes() == before and len(before) == 7
    run("--tutors=5", "--sessions=100", "--seed=3", f"--now={NOW_ISO}", "--no-scores")  # not empty: kept
    assert indexes() == before and Session.objects.count() == 200


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
def test_generated_sessions_carry_their_reschedules_copies(demo_set):
    _, session_rows, reschedule_rows, _ = demo_set
    copies = {row[SESSION["id"]]: row[SESSION["reschedule_initiator"] :] for row in session_rows}
    for reschedule in reschedule_rows:
        fields = (
            reschedule[RESCHEDULE[name]] for name in ("initiator", "reason_code", "hours_before_session")
        )
        assert copies.pop(reschedule[RESCHEDULE["session_id"]]) == tuple(fields)
    assert set(copies.values()) == {(None, None, None)}  # every other session: none
    # Stored, they are what the triggers would have written (they find nothing to change).
    run("--tutors=5", "--sessions=200", "--seed=3", f"--now={NOW_ISO}", "--no-scores")
    rescheduled = Session.objects.filter(reschedule__isnull=False)
    assert rescheduled.exists()
    assert not rescheduled.exclude(
        reschedule_initiator=F("reschedule__initiator"),
        reschedule_reason_code=F("reschedule__reason_code"),
        reschedule_hours_before=F("reschedule__hours_before_session"),
    ).exists()
    assert not Session.objects.filter(reschedule__isnull=True, reschedule_initiator__isnull=False).exists()


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
