"""The engine's numbers, pinned with a fixed `now`: windows, flags, risk, reasons, both paths."""

import gc
import random
import uuid
import weakref
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from scoring import engine, rates, reasons, upsert
from scoring.facts import (
    CompiledQueryMismatch,
    TutorFacts,
    read_facts,
    reschedule_counts_query,
    run_compiled,
    session_counts_query,
    tutors_sql,
    window_counts_sql,
)
from scoring.models import Alert, ScoringSettings, TutorScore
from sessions.models import Reschedule, Session, Tutor
from tutorscore.testing import NOW

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
COMPARED_FIELDS = [f for f in upsert.SCORE_FIELDS if f != "updated_at"] + ["tutor_id"]


def score(tutor, **kwargs):
    return engine.score_tutor(tutor, now=NOW, **kwargs)


def sessions(make_session, tutor, count, *, status="completed", days_ago=1, **fields):
    return [make_session(tutor, days_ago=days_ago, status=status, **fields) for _ in range(count)]


# --- windows ------------------------------------------------------------------------------------


def test_window_boundaries_are_exact(make_tutor, make_session):
    tutor = make_tutor()
    for at in [
        NOW,  # exactly now: inside every window
        NOW - 7 * DAY + SECOND,  # just inside 7 days
        NOW - 7 * DAY,  # exactly 7 days ago: outside 7, inside 30
        NOW - 30 * DAY,  # outside 30, inside 90
        NOW - 90 * DAY + SECOND,  # just inside 90
    ]:
        make_session(tutor, at=at, status="rescheduled")
    make_session(tutor, at=NOW - 90 * DAY, status="rescheduled")  # exactly 90 days: outside
    make_session(tutor, at=NOW + SECOND, status="rescheduled")  # after now: nowhere
    make_session(tutor, at=NOW + DAY, status="scheduled")  # future: nowhere
    make_session(tutor, at=NOW - DAY, status="scheduled")  # never updated: nowhere

    result = score(tutor)

    assert (result.total_sessions_7d, result.total_sessions_30d, result.total_sessions_90d) == (2, 3, 5)
    assert (result.tutor_reschedules_7d, result.tutor_reschedules_30d, result.tutor_reschedules_90d) == (
        2,
        3,
        5,
    )
    assert result.reschedule_rate_7d == Decimal("100.00")
    assert result.last_calculated_at == NOW


def test_only_tutor_initiated_reschedules_and_tutor_no_shows_count(make_tutor, make_session):
    tutor = make_tutor()
    sessions(make_session, tutor, 5)
    make_session(tutor, days_ago=2, status="rescheduled", initiator="tutor")
    make_session(tutor, days_ago=2, status="rescheduled", initiator="student")
    make_session(tutor, days_ago=3, status="no_show")  # no_show_by defaults to the tutor
    make_session(tutor, days_ago=3, status="no_show", no_show_by="student")

    result = score(tutor)

    assert result.total_sessions_7d == 9
    assert result.tutor_reschedules_7d == 1
    assert result.reschedule_rate_7d == Decimal("11.11")
    assert result.no_shows_30d == 1
    assert result.no_show_rate_30d == Decimal("11.11")
    # 11.11% is above 10%, but one no-show in 9 is no evidence: watched, not flagged.
    assert (result.no_show_flag, result.is_watching, result.risk_level) == (False, True, "medium")


def test_tutor_without_sessions_is_inactive_with_nulls_and_no_flags(make_tutor):
    result = score(make_tutor())

    assert result.total_sessions_90d == 0
    assert result.reschedule_rate_7d is None
    assert result.reschedule_rate_30d is None
    assert result.reschedule_rate_90d is None
    assert result.no_show_rate_30d is None
    assert result.first_session_retention_90d is None
    assert result.average_rating_90d is None
    assert not (
        result.reschedule_flag or result.no_show_flag or result.first_session_flag or result.is_high_risk
    )
    assert result.risk_score == Decimal("0")
    assert result.risk_level == "inactive"
    assert result.evidence == {}
    assert result.reasons == ["Inactive: no sessions in the last 90 days."]
    assert result.recommendations == []


def test_inactive_tutors_are_never_flagged_whatever_their_rates(make_tutor, make_session):
    gone = make_tutor("Gone Quiet")
    sessions(make_session, gone, 10, status="rescheduled", days_ago=40)  # 100%, but 40 days ago
    marked = make_tutor("Marked Inactive", is_active=False)
    sessions(make_session, marked, 10, status="rescheduled")

    for tutor, reason in [
        (gone, "Inactive: no session in the last 30 days."),
        (marked, "Inactive: marked inactive on the platform."),
    ]:
        result = score(tutor)
        assert result.reschedule_rate_90d == Decimal("100.00")
        assert (result.is_high_risk, result.is_watching, result.risk_score) == (False, False, Decimal("0"))
        assert result.risk_level == "inactive"
        assert result.reasons == [reason]


def test_one_reschedule_in_two_sessions_is_under_the_minimum(make_tutor, make_session):
    tutor = make_tutor()
    make_session(tutor, status="completed")
    make_session(tutor, status="rescheduled")

    result = score(tutor)

    assert result.reschedule_rate_7d == Decimal("50.00")
    assert result.reschedule_flag is False
    assert (result.is_watching, result.risk_level) == (True, "medium")
    assert result.reasons[0] == (
        "Watching: rescheduled 1 of 2 sessions in the last 30 days (50%, threshold 15%); "
        "too few sessions to flag (minimum 5)."
    )


@pytest.mark.parametrize(
    ("completed", "rescheduled", "flagged"),
    [
        # docs/scoring.md's table at the default 40 : 1: flags at 4 of 5, 4 of 10, 6 of 20, 8 of 30.
        (2, 3, False),  # 60% of 5: not enough evidence
        (1, 4, True),
        (1, 3, False),  # 75% of 4: strong evidence, but under the minimum of 5 sessions
        (7, 3, False),  # 30% of 10
        (6, 4, True),
        (15, 5, False),  # 25% of 20
        (14, 6, True),
        (23, 7, False),  # 23.33% of 30
        (22, 8, True),
        (77, 13, False),  # 14.44% of 90: under the threshold, whatever the volume
    ],
)
def test_reschedule_flag_weighs_the_evidence(make_tutor, make_session, completed, rescheduled, flagged):
    tutor = make_tutor()
    sessions(make_session, tutor, completed)
    sessions(make_session, tutor, rescheduled, status="rescheduled")

    result = score(tutor)

    assert result.reschedule_flag is flagged
    assert result.is_high_risk is flagged
    assert (result.risk_level == "high") is flagged
    assert result.is_watching is (not flagged and rescheduled * 100 > 15 * (completed + rescheduled))
    assert result.evidence["reschedule_rate"]["state"] == (
        "flagged" if flagged else "watching" if result.is_watching else "clear"
    )
    assert (result.risk_score >= 50) is flagged


def test_threshold_equality_reads_as_amber_but_is_not_watched(make_tutor, make_session):
    tutor = make_tutor()
    sessions(make_session, tutor, 17)
    sessions(make_session, tutor, 3, status="rescheduled")

    result = score(tutor)

    assert result.reschedule_rate_30d == Decimal("15.00")
    # 15% is not above 15%: nothing watched; 3 of 20 is evidence of a good rate, strength 0.
    assert (result.is_watching, result.risk_score, result.risk_level) == (False, Decimal("0"), "low")
    assert result.reasons[0] == "Rescheduled 3 of 20 sessions in the last 7 days (15%, threshold 15%)."


def test_risk_score_formula_and_reasons(make_tutor, make_session):
    tutor = make_tutor()
    sessions(make_session, tutor, 6)
    for days_ago, hours_before, reason in [  # NOW is a Wednesday
        (5, 2, "Scheduling conflict with another class"),  # Friday
        (12, 5, "double booked"),  # Friday
        (19, 30, "schedule conflict again"),  # Friday
        (3, 12, "I was sick"),  # Sunday
    ]:
        make_session(tutor, days_ago=days_ago, status="rescheduled", hours_before=hours_before, reason=reason)

    result = score(tutor)

    # 30 days: 4 of 10 → ln(evidence) = 4 ln(0.30/0.075) + 6 ln(0.70/0.925) = 3.873 ≥ ln 40 = 3.689:
    # strength 50 × 3.873 / 3.689 = 52.49. No-shows 0 of 10 and no first session → strength 0.
    assert result.reschedule_rate_30d == Decimal("40.00")
    assert result.first_sessions_90d == 0
    assert result.risk_score == Decimal("59")  # 52.49 + ¼ × (0.5 × 52.49 + 0.3 × 0 + 0.2 × 0) / 1.0
    assert result.risk_level == "high"
    assert result.evidence["reschedule_rate"] == {
        "state": "flagged",
        "window_days": 30,
        "events": 4,
        "total": 10,
        "evidence_ratio": 48.08,
        "strength": 52.5,
        "held": False,
    }
    assert result.reasons == [
        "Rescheduled 4 of 10 sessions in the last 30 days (40%, threshold 15%); "
        "4 of 10 is enough evidence to flag.",
        "Rescheduled 2 of 8 sessions in the last 7 days (25%, threshold 15%).",
        "3 of 4 reschedules were last-minute (<24 h).",
        "Most reschedules fall on Fridays (3 of 4).",
        "Most common reason: scheduling conflict (3×).",
    ]
    assert result.recommendations == [
        "Coach the tutor on giving at least 24 hours' notice when rescheduling.",
        "Schedule a calendar-planning check-in.",
        "Review the tutor's availability on Fridays.",
    ]


def test_first_sessions_and_retention(make_tutor, make_session):
    tutor, other_tutor = make_tutor(), make_tutor("Bo Other")

    def at(days_ago, student, status="completed", tutor=tutor, **fields):
        make_session(tutor, at=NOW - timedelta(days=days_ago), student_id=student, status=status, **fields)

    at(20, "a", student_rating=5)
    at(10, "a", student_rating=3)  # a: back within 14 days → retained
    at(30, "b")
    at(15, "b")  # b: back after 15 days → not retained
    at(10, "c")  # c: first session only 10 days old → not counted yet
    at(40, "d", status="rescheduled")
    at(38, "d")  # d: the first session was rescheduled → not a completed first session
    at(50, "e", status="scheduled")
    at(45, "e")
    at(44, "e")  # e: a stale `scheduled` row does not count; first = 45 days ago, retained
    at(100, "f")
    at(50, "f")  # f: first session outside the window
    at(60, "g")
    at(46, "g")  # g: exactly 14 days later → retained
    at(70, "h")
    at(65, "h", status="no_show")  # h: the next one was a no-show → not retained
    at(14, "i")
    at(13, "i")  # i: exactly 14 days old → counted, retained
    at(25, "j", tutor=other_tutor)
    at(24, "j")  # j: with this tutor the first session is 24 days ago, and never followed

    result = score(tutor)

    assert result.first_sessions_90d == 7  # a b e g h i j
    assert result.retained_first_sessions_90d == 4  # a e g i
    assert result.first_session_retention_90d == Decimal("57.14")
    # 57.14% < 60%, but 3 of 7 not coming back is no evidence (6 of 7 would be): watched.
    assert (result.first_session_flag, result.is_watching) == (False, True)
    assert result.average_rating_90d == Decimal("4.00")
    assert result.rated_sessions_90d == 2
    assert result.reasons[0] == (
        "Watching: 4 of 7 new students came back within 14 days of their first session "
        "(57.14%, threshold 60%); 5 of 7 not coming back would be enough evidence to flag."
    )


def test_settings_drive_thresholds_weights_and_are_stored(make_tutor, make_session):
    tutor = make_tutor()
    sessions(make_session, tutor, 7)
    sessions(make_session, tutor, 3, status="rescheduled")
    assert score(tutor).reschedule_flag is False  # 3 of 10 at 40 : 1

    settings = ScoringSettings.load()
    settings.flag_evidence_ratio = Decimal("9")
    settings.save()
    result = score(tutor)
    assert result.reschedule_flag is True  # 3 of 10 is 9.09 : 1
    assert result.flag_evidence_ratio == Decimal("9.00")

    settings.reschedule_rate_threshold = Decimal("28.00")
    settings.minimum_sessions = 3
    settings.save()
    result = score(tutor)
    assert result.reschedule_flag is False  # at 28%, 3 of 10 favours the good rate: no longer held
    assert result.reschedule_rate_threshold == Decimal("28.00")
    assert result.minimum_sessions == 3
    assert (result.is_watching, result.risk_level) == (True, "medium")  # 30% > 28%

    settings.minimum_sessions = 11
    settings.flag_evidence_ratio = Decimal("2")
    assert score(tutor, settings=settings).reschedule_flag is False  # 10 sessions: under the minimum


@pytest.mark.parametrize(
    ("counts", "top"),
    [
        ({}, None),
        ({5: 1}, None),  # one reschedule is no pattern
        ({5: 2}, 5),
        ({5: 3, 1: 2}, 5),
        ({5: 2, 1: 2}, None),  # a tie names no day
        ({5: 3, 1: 3, 2: 1}, None),
    ],
)
def test_a_pattern_is_named_only_when_one_key_leads(counts, top):
    assert reasons._top(counts, minimum=2) == top


def facts_of(reschedules=(0, 0), no_shows=0, first_sessions=(0, 0)):
    """TutorFacts with `reschedules` = (events, sessions) in every window."""
    facts = TutorFacts()
    events, total = reschedules
    facts.totals = dict.fromkeys(rates.WINDOWS, total)
    facts.tutor_reschedules = dict.fromkeys(rates.WINDOWS, events)
    facts.no_shows_30d = no_shows
    facts.first_sessions, facts.retained_first_sessions = first_sessions
    return facts


def risk_of(**counts):
    return engine.build_score(None, facts_of(**counts), settings=ScoringSettings(), now=NOW).risk_score


def test_risk_score_never_ranks_more_sessions_at_a_higher_rate_lower():
    grid = [(events, total) for total in range(1, 61) for events in range(total + 1)]
    risk = {counts: risk_of(reschedules=counts) for counts in grid}
    for (events, total), value in risk.items():
        for more_events, more_total in grid:
            if more_total >= total and more_events * total >= events * more_total:
                assert risk[(more_events, more_total)] >= value, ((events, total), (more_events, more_total))


def test_risk_score_is_monotonic_in_each_rate_and_missing_data_never_raises_it():
    previous = Decimal(-1)
    for reschedules in range(0, 21):
        current = risk_of(reschedules=(reschedules, 20), no_shows=1)
        assert current >= previous
        previous = current
    assert previous == Decimal("100")  # 20 of 20: far beyond 20 : 1 squared

    previous = Decimal(-1)
    for retained in range(10, -1, -1):
        current = risk_of(reschedules=(0, 10), first_sessions=(10, retained))
        assert current >= previous
        previous = current
    assert previous == Decimal("100")  # 0 of 10 came back

    # A component without data counts as no evidence, never as a reason to rank higher.
    assert risk_of(reschedules=(6, 18)) == risk_of(reschedules=(6, 18), first_sessions=(10, 10))
    assert risk_of(reschedules=(6, 18), first_sessions=(10, 5)) > risk_of(reschedules=(6, 18))


def test_a_flagged_tutor_always_outranks_an_unflagged_one():
    flagged = risk_of(reschedules=(0, 20), no_shows=5)  # only the no-show flag, the lightest weight
    unflagged = risk_of(reschedules=(5, 20), no_shows=3, first_sessions=(10, 5))  # three watches
    assert flagged >= 50 > unflagged


def test_rate_colour():
    assert rates.rate_colour(Decimal("15.01"), Decimal("15")) == "red"
    assert rates.rate_colour(Decimal("15.00"), Decimal("15")) == "amber"
    assert rates.rate_colour(Decimal("10.00"), Decimal("15")) == "amber"
    assert rates.rate_colour(Decimal("9.99"), Decimal("15")) == "green"
    assert rates.rate_colour(None, Decimal("15")) == ""
    assert rates.rate_colour(Decimal("59.99"), Decimal("60"), lower_is_worse=True) == "red"
    assert rates.rate_colour(Decimal("65.00"), Decimal("60"), lower_is_worse=True) == "amber"
    assert rates.rate_colour(Decimal("65.01"), Decimal("60"), lower_is_worse=True) == "green"


# --- two paths, one result, and an independent SQL count -----------------------------------------


def make_random_data(seed, tutors=12):
    rng = random.Random(seed)
    tutor_rows = [Tutor.objects.create(name=f"Tutor {seed}-{index}") for index in range(tutors)]
    tutor_rows.append(Tutor.objects.create(name=f"Idle {seed}"))
    statuses = ["completed"] * 6 + ["rescheduled"] * 3 + ["no_show", "scheduled"]
    for tutor in tutor_rows[:-1]:
        for _ in range(rng.randint(0, 40)):
            status = rng.choice(statuses)
            # Whole minutes, so no two sessions of a pair share a time by accident.
            at = NOW - timedelta(minutes=rng.randint(-3 * 1440, 120 * 1440))
            session = Session.objects.create(
                tutor=tutor,
                student_id=f"s{rng.randint(1, 6)}",
                scheduled_time=at,
                status=status,
                completed_time=at + timedelta(hours=1) if status == "completed" else None,
                no_show_by=rng.choice(["tutor", "student"]) if status == "no_show" else None,
                student_rating=rng.choice([None, 2, 4, 5]) if status == "completed" else None,
            )
            if status == "rescheduled":
                Reschedule.objects.create(
                    session=session,
                    initiator="tutor" if rng.random() < 0.85 else "student",
                    original_time=at,
                    new_time=at + 2 * DAY,
                    cancelled_at=at - timedelta(hours=rng.randint(1, 72)),
                    reason=rng.choice(["sick", "meeting conflict", "wifi down", "family wedding", ""]),
                )
    return tutor_rows


def stored_scores():
    return {row["tutor_id"]: row for row in TutorScore.objects.values(*COMPARED_FIELDS)}


@pytest.mark.parametrize("seed", [1, 2])
def test_score_tutor_and_recompute_all_store_identical_rows(db, seed, monkeypatch):
    tutors = make_random_data(seed)
    with monkeypatch.context() as patch:
        patch.setattr(upsert, "BULK_THRESHOLD", 1)  # the large-scale write path (COPY on PostgreSQL)
        patch.setattr(upsert, "COPY_CHUNK", 3)  # in several chunks, each written while the next is built
        assert engine.recompute_all(now=NOW) == len(tutors)
    all_at_once = stored_scores()

    TutorScore.objects.all().delete()
    for tutor in tutors:
        engine.score_tutor(tutor, now=NOW)

    assert stored_scores() == all_at_once
    assert len(all_at_once) == len(tutors)


def _sql_time(value):
    return connection.ops.adapt_datetimefield_value(value)


def independent_sql_counts():
    """The SPEC §5 counts in hand-written SQL, apart from the engine's ORM code."""
    counted = "s.status IN ('completed', 'rescheduled', 'no_show')"
    tutor_reschedule = "s.status = 'rescheduled' AND r.initiator = 'tutor'"
    columns, params = [], []
    for days in (7, 30, 90):
        columns += [
            "SUM(CASE WHEN s.scheduled_time > %s THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN s.scheduled_time > %s AND {tutor_reschedule} THEN 1 ELSE 0 END)",
        ]
        params += [_sql_time(NOW - days * DAY)] * 2
    columns.append(
        "SUM(CASE WHEN s.scheduled_time > %s AND s.status = 'no_show' AND s.no_show_by = 'tutor' "
        "THEN 1 ELSE 0 END)"
    )
    params.append(_sql_time(NOW - 30 * DAY))
    counts = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.tutor_id, {', '.join(columns)} FROM sessions s "
            "LEFT JOIN reschedules r ON r.session_id = s.id "
            f"WHERE {counted} AND s.scheduled_time > %s AND s.scheduled_time <= %s GROUP BY s.tutor_id",
            [*params, _sql_time(NOW - 90 * DAY), _sql_time(NOW)],
        )
        for tutor_id, *values in cursor.fetchall():
            counts[str(tutor_id).replace("-", "")] = [int(v) for v in values] + [0, 0]

        plus_14_days = (
            "f.first_time + INTERVAL '14 days'"
            if connection.vendor == "postgresql"
            else ("datetime(f.first_time, '+14 days')")
        )
        cursor.execute(
            "WITH firsts AS (SELECT tutor_id, student_id, MIN(scheduled_time) AS first_time FROM sessions s "
            f"WHERE {counted} GROUP BY tutor_id, student_id) "
            "SELECT f.tutor_id, COUNT(*), SUM(CASE WHEN EXISTS (SELECT 1 FROM sessions n WHERE "
            "n.tutor_id = f.tutor_id AND n.student_id = f.student_id AND n.status = 'completed' "
            f"AND n.scheduled_time > f.first_time AND n.scheduled_time <= {plus_14_days}) THEN 1 ELSE 0 END) "
            "FROM firsts f JOIN sessions s ON s.tutor_id = f.tutor_id AND s.student_id = f.student_id "
            "AND s.scheduled_time = f.first_time AND s.status = 'completed' "
            "WHERE f.first_time > %s AND f.first_time <= %s GROUP BY f.tutor_id",
            [_sql_time(NOW - 90 * DAY), _sql_time(NOW - 14 * DAY)],
        )
        for tutor_id, first, retained in cursor.fetchall():
            key = str(tutor_id).replace("-", "")
            counts.setdefault(key, [0] * 9)[7:] = [int(first), int(retained)]
    return counts


@pytest.mark.parametrize("seed", [3, 4])
def test_scores_match_an_independent_sql_count(db, seed):
    tutors = make_random_data(seed, tutors=15)
    engine.recompute_all(now=NOW)
    expected = independent_sql_counts()

    for row in TutorScore.objects.values():
        got = [
            row["total_sessions_7d"],
            row["tutor_reschedules_7d"],
            row["total_sessions_30d"],
            row["tutor_reschedules_30d"],
            row["total_sessions_90d"],
            row["tutor_reschedules_90d"],
            row["no_shows_30d"],
            row["first_sessions_90d"],
            row["retained_first_sessions_90d"],
        ]
        assert got == expected.get(row["tutor_id"].hex, [0] * 9), row["tutor_id"]
        for days in (7, 30, 90):
            total, reschedules = row[f"total_sessions_{days}d"], row[f"tutor_reschedules_{days}d"]
            expected_rate = (
                None
                if not total
                else Decimal(round(100 * reschedules / total + 1e-9, 2)).quantize(Decimal("0.01"))
            )
            assert row[f"reschedule_rate_{days}d"] == expected_rate
    assert TutorScore.objects.count() == len(tutors)
    assert sum(expected_row[4] for expected_row in expected.values()) > 100  # the data is not trivial


@pytest.mark.parametrize("seed", [3, 4])
def test_reschedule_patterns_match_a_count_in_python(db, seed):
    tutors = make_random_data(seed, tutors=15)
    expected = {tutor.pk: TutorFacts() for tutor in tutors}
    for session in Session.objects.filter(
        status="rescheduled",
        reschedule_initiator="tutor",
        scheduled_time__gt=NOW - timedelta(days=90),
        scheduled_time__lte=NOW,
    ):
        tutor = expected[session.tutor_id]
        weekday = session.scheduled_time.isoweekday()  # UTC, the current time zone
        tutor.weekdays[weekday] = tutor.weekdays.get(weekday, 0) + 1
        code = session.reschedule_reason_code
        tutor.reason_codes[code] = tutor.reason_codes.get(code, 0) + 1
        tutor.last_minute_reschedules += session.reschedule_hours_before < 24

    facts = read_facts(now=NOW)

    def patterns(of):
        return {
            tutor_id: (f.weekdays, f.reason_codes, f.last_minute_reschedules) for tutor_id, f in of.items()
        }

    assert patterns(facts) == patterns(expected)
    assert sum(sum(f.weekdays.values()) for f in expected.values()) > 20  # the data is not trivial


def test_recompute_all_runs_a_fixed_number_of_queries(db, django_assert_max_num_queries):
    def run(tutor_count, seed):
        make_random_data(seed, tutors=tutor_count)
        with CaptureQueriesContext(connection) as queries:
            engine.recompute_all(now=NOW)
        assert Alert.objects.exists()  # both runs take the same branches: alerts open
        return len(queries)

    ScoringSettings.load()
    # Loose flags, so that both runs open alerts (update(): no recompute signal).
    ScoringSettings.objects.update(flag_evidence_ratio=2, minimum_sessions=1)
    small = run(3, seed=5)
    Alert.objects.all().delete()
    TutorScore.objects.all().delete()
    large = run(20, seed=6)
    assert small == large
    # settings, tutors, grouped counts, previous flags, upsert, unresolved alerts, 4 alert writes
    # at most, and 4 savepoint statements.
    with django_assert_max_num_queries(17):
        engine.recompute_all(now=NOW)


def test_recompute_all_with_tutor_ids_scores_only_those(make_tutor, make_session):
    first, second = make_tutor(), make_tutor("Bo")
    make_session(first)
    assert engine.recompute_all(now=NOW, tutor_ids=[first.pk]) == 1
    assert engine.recompute_all(now=NOW, tutor_ids=[]) == 0
    assert list(TutorScore.objects.values_list("tutor_id", flat=True)) == [first.pk]
    assert second.pk not in set(TutorScore.objects.values_list("tutor_id", flat=True))


@pytest.mark.parametrize("query", ["tutors", "window_counts"])
@pytest.mark.parametrize("tutor_count", [None, 1, 3])
def test_compiled_queries_send_exactly_what_the_orm_would(db, query, tutor_count):
    build = {
        "tutors": tutors_sql,
        "window_counts": window_counts_sql,
    }[query]
    sent = []

    def capture(execute, sql, params, many, context):
        sent.append((sql, list(params)))
        return execute(sql, params, many, context)

    for now in (NOW, NOW + timedelta(days=3, seconds=7)):  # the second call reuses the compiled SQL
        ids = None if tutor_count is None else [Tutor.objects.create(name="T").pk for _ in range(tutor_count)]
        with connection.execute_wrapper(capture):
            run_compiled(query, build, now=now, tutor_ids=ids)
        sql, params = build(now, ids)
        assert sent[-1] == (sql, list(params))


def _since_three_days(now, tutor_ids):  # a window none of the engine's: no known placeholder
    return (
        Session.objects.filter(scheduled_time__gt=now - timedelta(days=3))
        .values("id")
        .query.sql_with_params()
    )


def _on_the_day(now, tutor_ids):  # `now` passed as a date, not as a window's datetime
    return Session.objects.filter(scheduled_time__date=now.date()).values("id").query.sql_with_params()


def _in_the_sql(now, tutor_ids):  # `now` written into the SQL text
    return (
        Session.objects.extra(where=[f"scheduled_time > '{now.isoformat()}'"])
        .values("id")
        .query.sql_with_params()
    )


def _named_by_id(now, tutor_ids):  # tutor ids passed in a form the cache does not know
    return (
        Tutor.objects.filter(name__in=[str(tutor_id) for tutor_id in tutor_ids])
        .values("id")
        .query.sql_with_params()
    )


@pytest.mark.parametrize(
    ("build", "tutor_ids"),
    [(_since_three_days, None), (_on_the_day, None), (_in_the_sql, None), (_named_by_id, [uuid.uuid4()])],
)
def test_the_compiled_query_cache_refuses_a_placeholder_it_cannot_find(
    db, build, tutor_ids, django_assert_num_queries
):
    # Run from the cache, these would send the sentinel's 2001 date (or ids) instead of the real
    # ones: a Django upgrade that changed how a window is passed must fail loudly, not move it.
    with django_assert_num_queries(0), pytest.raises(CompiledQueryMismatch):
        run_compiled(build.__name__, build, now=NOW, tutor_ids=tutor_ids)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner settings are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_given_tutors_are_planned_for_memory_within_their_scoring_only(make_tutor, make_session, monkeypatch):
    tutors = [make_tutor(f"T{index}") for index in range(3)]
    for tutor in tutors:
        make_session(tutor, days_ago=1)
    ids = [tutor.pk for tutor in tutors]
    sent = []

    def capture(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    def plan_of(**scoring):
        sent.clear()
        engine.recompute_all(now=NOW, **scoring)
        asked = " ".join(sql for sql in sent if "set_config" in sql)
        return "random_page_cost" in asked, "max_parallel_workers_per_gather" in asked

    def settings():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('max_parallel_workers_per_gather'), current_setting('jit')"
            )
            return cursor.fetchone()

    before = settings()
    with connection.execute_wrapper(capture):
        few = plan_of(tutor_ids=ids)  # in memory, in one process
        monkeypatch.setattr("scoring.facts.FEW_TUTORS", 2)  # three are more than a few now
        more = plan_of(tutor_ids=ids)
        everyone = plan_of()  # the server's plan
    assert few == (True, True)
    assert more == (True, False)
    assert everyone == (False, False)
    assert settings() == before  # the web's and the other tasks' queries keep the server's plan
    assert TutorScore.objects.filter(total_sessions_7d=1).count() == 3


def _scans(plan: dict) -> list[tuple[str, str | None]]:
    """(node type, index name) of every scan in an EXPLAIN (FORMAT JSON) plan."""
    scans = [(plan["Node Type"], plan.get("Index Name"))] if "Scan" in plan["Node Type"] else []
    return scans + [scan for child in plan.get("Plans", []) for scan in _scans(child)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="covering indexes are PostgreSQL's")
@pytest.mark.django_db(transaction=True)  # VACUUM runs outside a transaction
@pytest.mark.parametrize(
    "counts_query, index",
    [
        (session_counts_query, "sessions_tutor_counts_idx"),
        (reschedule_counts_query, "sessions_reschedule_counts_idx"),  # no lookup of any reschedule
    ],
)
def test_a_tutors_counts_are_read_from_an_index_alone(make_tutor, make_session, counts_query, index):
    # Every counted session of the window is read for a score: a column the counts need that
    # the index does not hold would make each of them a visit to a table.
    tutor = make_tutor()
    make_session(tutor, days_ago=1, status="completed", student_rating=4)
    make_session(tutor, days_ago=2, status="no_show", no_show_by="tutor")
    make_session(tutor, days_ago=3, status="rescheduled", initiator="tutor", reason="sick", hours_before=2)
    sql, params = counts_query(NOW, [tutor.pk]).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE sessions")  # as autovacuum keeps the visibility map
        with transaction.atomic():
            cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0][0]["Plan"]

    assert _scans(plan) == [("Index Only Scan", index)]


def test_newer_only_keeps_a_score_calculated_later(make_tutor, make_session):
    tutor = make_tutor()
    make_session(tutor, days_ago=1)
    engine.recompute_all(now=NOW + DAY, tutor_ids=[tutor.pk])
    make_session(tutor, days_ago=1)

    # An older computation committing last (a concurrent worker) changes nothing...
    assert engine.recompute_all(now=NOW, tutor_ids=[tutor.pk], newer_only=True) == 0
    kept = TutorScore.objects.get()
    assert (kept.last_calculated_at, kept.total_sessions_7d) == (NOW + DAY, 1)
    # ...an equally recent or newer one lands, and so does an explicit recompute without the guard.
    assert engine.recompute_all(now=NOW + DAY, tutor_ids=[tutor.pk], newer_only=True) == 1
    assert TutorScore.objects.get().total_sessions_7d == 2
    assert engine.recompute_all(now=NOW, tutor_ids=[tutor.pk]) == 1
    assert TutorScore.objects.get().last_calculated_at == NOW


def test_the_chunked_write_keeps_newer_scores_in_any_chunk_and_saves_the_rest(
    make_tutor, make_session, monkeypatch
):
    tutors = [make_tutor(f"Tutor {index}") for index in range(7)]
    for tutor in tutors:
        make_session(tutor, days_ago=1)
    newer = sorted(tutors, key=lambda tutor: tutor.pk)[3]  # in the second chunk of three
    engine.recompute_all(now=NOW + DAY, tutor_ids=[newer.pk])
    monkeypatch.setattr(upsert, "BULK_THRESHOLD", 1)
    monkeypatch.setattr(upsert, "COPY_CHUNK", 3)

    assert engine.recompute_all(now=NOW, newer_only=True) == 6

    calculated = dict(TutorScore.objects.values_list("tutor_id", "last_calculated_at"))
    assert calculated == {tutor.pk: NOW + DAY if tutor == newer else NOW for tutor in tutors}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path is PostgreSQL's")
def test_the_copy_refuses_scores_of_different_settings_and_writes_none(make_tutor, make_session, monkeypatch):
    # The settings and times are bound once per chunk, so one save must not mix two recomputes.
    tutors = [make_tutor(f"Tutor {index}") for index in range(3)]
    for tutor in tutors:
        make_session(tutor, days_ago=1)
    settings = ScoringSettings.load()
    monkeypatch.setattr(upsert, "BULK_THRESHOLD", 1)
    scores = list(engine.compute_scores(now=NOW, settings=settings))
    scores[-1].minimum_sessions = settings.minimum_sessions + 1

    with pytest.raises(ValueError, match="share their settings"), transaction.atomic():
        upsert.save_scores(scores)

    assert not TutorScore.objects.exists()


@pytest.mark.parametrize("bulk", [False, True], ids=["insert", "copy"])
def test_a_first_score_gets_an_id_and_a_rescored_tutor_keeps_it(make_tutor, make_session, monkeypatch, bulk):
    tutors = [make_tutor(f"Tutor {index}") for index in range(4)]
    for tutor in tutors:
        make_session(tutor, days_ago=1)
    if bulk:
        monkeypatch.setattr(upsert, "BULK_THRESHOLD", 1)
        monkeypatch.setattr(upsert, "COPY_CHUNK", 3)
    engine.recompute_all(now=NOW, tutor_ids=[tutor.pk for tutor in tutors[:2]])
    first_ids = dict(TutorScore.objects.values_list("tutor_id", "id"))

    assert engine.recompute_all(now=NOW + DAY) == 4

    ids = dict(TutorScore.objects.values_list("tutor_id", "id"))
    assert all(ids[tutor_id] == score_id for tutor_id, score_id in first_ids.items())
    assert len(set(ids.values())) == 4 and None not in ids.values()


def test_reasons_use_the_singular_for_one(make_tutor, make_session, now):
    tutor = make_tutor()
    make_session(tutor, days_ago=2, status="rescheduled", initiator="tutor", hours_before=48)

    score = engine.score_tutor(tutor, now=now)

    assert score.reasons[0] == (
        "Watching: rescheduled 1 of 1 session in the last 30 days (100%, threshold 15%); "
        "too few sessions to flag (minimum 5)."
    )


def test_a_raised_flag_stays_up_while_the_evidence_still_favours_the_bad_rate():
    settings = ScoringSettings()
    raised = {"reschedule_rate": True}
    # 4 of 16 (25%) is not enough to raise the flag at 40 : 1, but still favours 30% over 7.5%.
    assert not engine.weigh_facts(facts_of(reschedules=(4, 16)), settings=settings)["reschedule_rate"].flagged
    held = engine.weigh_facts(facts_of(reschedules=(4, 16)), settings=settings, was_flagged=raised)
    assert (held["reschedule_rate"].flagged, held["reschedule_rate"].held) == (True, True)
    assert held["reschedule_rate"].window_days == 30  # a 7-day window never holds a flag
    assert held["reschedule_rate"].strength == 50
    # 4 of 26 (15.4%) favours the good rate: the flag clears.
    cleared = engine.weigh_facts(facts_of(reschedules=(4, 26)), settings=settings, was_flagged=raised)
    assert not cleared["reschedule_rate"].flagged


def test_a_held_flag_says_so_in_its_reason(make_tutor, make_session):
    tutor = make_tutor()
    sessions(make_session, tutor, 2)
    sessions(make_session, tutor, 4, status="rescheduled")
    assert score(tutor).reschedule_flag is True  # 4 of 6
    sessions(make_session, tutor, 10)
    result = score(tutor)  # 4 of 16
    assert (result.reschedule_flag, result.evidence["reschedule_rate"]["held"]) == (True, True)
    assert result.reasons[0] == (
        "Rescheduled 4 of 16 sessions in the last 30 days (25%, threshold 15%); "
        "flagged earlier, and the evidence still points above the threshold."
    )


def test_a_seven_day_window_needs_thirty_sevenths_of_the_ratio():
    settings = ScoringSettings()
    week = TutorFacts()
    week.totals = {7: 6, 30: 60, 90: 60}
    week.tutor_reschedules = {7: 4, 30: 4, 90: 4}  # 4 of 6 this week, nothing before
    verdict = engine.weigh_facts(week, settings=settings)["reschedule_rate"]
    assert not verdict.flagged  # 4 of 6 would flag a 30-day window, not a week (5 of 6 would)
    week.tutor_reschedules = {7: 5, 30: 5, 90: 5}
    assert engine.weigh_facts(week, settings=settings)["reschedule_rate"].flagged


def test_a_recomputes_scores_are_freed_before_the_collector_resumes(make_tutor, make_session, monkeypatch):
    # Alive when the collector resumes, they made its first collection walk every one of them.
    for _ in range(3):
        sessions(make_session, make_tutor(), 3)
    built, alive_when_resumed = [], []
    build_score, enable = engine.build_score, gc.enable

    def build_and_watch(*args, **kwargs):
        score = build_score(*args, **kwargs)
        built.append(weakref.ref(score))
        return score

    def note_the_living_and_enable():
        alive_when_resumed.append(sum(ref() is not None for ref in built))
        enable()

    monkeypatch.setattr(engine, "build_score", build_and_watch)
    monkeypatch.setattr(gc, "enable", note_the_living_and_enable)
    assert engine.recompute_all(now=NOW) == 3
    assert len(built) == 3 and alive_when_resumed == [0]


def test_recompute_pauses_the_cyclic_collector_and_restores_it_as_it_was(
    make_tutor, make_session, monkeypatch
):
    sessions(make_session, make_tutor(), 3)
    seen = []
    compute_scores = engine.compute_scores

    def compute_and_note_the_collector(**kwargs):
        seen.append(gc.isenabled())
        return compute_scores(**kwargs)

    monkeypatch.setattr(engine, "compute_scores", compute_and_note_the_collector)
    assert gc.isenabled()
    engine.recompute_all(now=NOW)
    assert gc.isenabled() and seen == [False]
    gc.disable()
    try:
        engine.recompute_all(now=NOW)
        assert not gc.isenabled()
    finally:
        gc.enable()
