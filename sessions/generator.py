"""Synthetic platform data (SPEC §10): tutors, sessions and reschedules that look like the real thing.

The data is a pure function of (seed, now): one `random.Random(seed)` and one seeded Faker drive
every draw, in a fixed order, and every time is computed from `now`. Only `updated_at` and
`sessions_changed_at` (wall-clock bookkeeping) differ between two runs.

How the data is shaped:
- Tutors get a risk profile (60% low / 25% medium / 15% high, exact quotas) that fixes their
  tutor-initiated reschedule rate, tutor no-show rate, first-session retention, volume (high-risk
  tutors are the overbooked ones: 3x the sessions) and rating mix. 90% are active; inactive tutors
  stopped teaching 15-45 days ago.
- Rates are calibrated on the drawn session counts so the whole data set holds 70% completed /
  25% rescheduled / 5% no-show past sessions: low and medium tutors keep their drawn rates and the
  high-risk tutors absorb the difference (with no high-risk tutor, everyone is scaled).
- Students book chains of sessions with one tutor (weekly, twice a week or every ten days); a
  student who is not retained stops after the first session, so first-session retention and
  repeat students are meaningful. Days are weighted towards weekdays, hours towards 15:00-20:00.
- 98.2% of reschedules are tutor-initiated; about 40% are last-minute (each tutor has their own
  last-minute habit around that mean); reasons come from a per-tutor habit (one main reason
  category), so patterns repeat; a third of tutors have a "bad weekday" with 2.5x the reschedules.
- About 1% of the requested sessions are upcoming `scheduled` sessions in the next 7 days (the
  70/25/5 mix applies to the sessions that already happened).

Rows are built as tuples and written in chunks: PostgreSQL COPY, or bulk_create elsewhere.
"""

import bisect
import csv
import math
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.apps import apps
from django.db import connection, transaction
from faker import Faker

from .first_sessions import pair_flags
from .models import Reschedule, Session, Tutor
from .rescheduling import LAST_MINUTE_HOURS, classify_reason, hours_before_session

DAY = 86_400
HOUR = 3_600

TARGETS = {
    "profile_low": 0.60,
    "profile_medium": 0.25,
    "profile_high": 0.15,
    "active": 0.90,
    "completed": 0.70,
    "rescheduled": 0.25,
    "no_show": 0.05,
    "tutor_initiated": 0.982,
    "last_minute": 0.40,
    "no_show_by_tutor": 0.85,
    "rated": 0.60,
}
STUDENT_NO_SHOW_RATE = TARGETS["no_show"] * (1 - TARGETS["no_show_by_tutor"])
TUTOR_NO_SHOW_TARGET = TARGETS["no_show"] - STUDENT_NO_SHOW_RATE
FUTURE_SHARE = 0.01  # upcoming `scheduled` sessions, part of --sessions
RECENT_GUARD = 2 * HOUR  # past sessions end before `now`, so a completed one has finished


@dataclass(frozen=True)
class Profile:
    name: str
    reschedule_range: tuple  # tutor-initiated reschedule rate, before calibration
    no_show_range: tuple  # tutor no-show rate, before calibration
    retention_range: tuple  # chance a new student books again after the first session
    volume: float  # relative number of sessions
    ratings: tuple  # ratings drawn for rated completed sessions


# Low and medium tutors stay clearly under the default thresholds (15% reschedules, 60% retention)
# so the flags mostly find the high-risk profile; small windows still make some noise.
PROFILES = {
    "low": Profile("low", (0.01, 0.06), (0.0, 0.02), (0.85, 0.97), 1.0, (5, 5, 5, 4, 4, 3)),
    "medium": Profile("medium", (0.06, 0.11), (0.02, 0.05), (0.72, 0.85), 1.3, (5, 4, 4, 4, 3, 2)),
    "high": Profile("high", (0.40, 0.70), (0.06, 0.14), (0.30, 0.50), 3.0, (5, 4, 3, 3, 2, 1)),
}

# Monday..Sunday: weekdays busier.
WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.85, 0.55, 0.45)
# Start hours (UTC): the 15:00-20:00 evening peak.
HOUR_WEIGHTS = {8: 1, 9: 1.5, 10: 2, 11: 2, 12: 2, 13: 2.5, 14: 3, 15: 7, 16: 9, 17: 10, 18: 10, 19: 8}
HOUR_WEIGHTS.update({20: 4, 21: 2})
PEAK_HOURS = range(15, 20)
DURATIONS = ((30, 0.15), (45, 0.15), (60, 0.40), (90, 0.20), (120, 0.10))
# Days between a student's sessions: weekly, or twice a week (Mon+Thu, Tue+Fri) for students who
# start early in the week, so chains keep the weekday mix of first bookings.
WEEKLY, TWICE_A_WEEK = (7,), (3, 4)
TWICE_A_WEEK_SHARE = 0.3

# Every text maps to its category through classify_reason (tested), as the platform's would.
REASONS = {
    "personal": (
        "Personal matter came up",
        "Running an errand that cannot wait",
        "Travel plans changed",
        "Car trouble",
        "Stuck in traffic",
        "Moving house this week",
    ),
    "emergency": ("Emergency came up", "Urgent situation at home", "Had a minor accident", "At the hospital"),
    "scheduling_conflict": (
        "Scheduling conflict with another class",
        "Double-booked this slot",
        "Work meeting ran over",
        "Calendar overlap with an exam",
    ),
    "family": (
        "Family event",
        "Need to pick up my child from school",
        "Family wedding this weekend",
        "Parent-teacher conference",
    ),
    "technical": ("Internet connection down", "Laptop will not start", "Zoom keeps crashing", "Power outage"),
    "health": ("Feeling sick", "Doctor's appointment", "Migraine", "Down with the flu"),
    "other": ("No reason given", "Something came up", "Prefer not to say"),
}
REASON_CODES = tuple(REASONS)

SESSION_COLUMNS = (
    "id",
    "tutor_id",
    "student_id",
    "scheduled_time",
    "completed_time",
    "status",
    "duration_minutes",
    "student_rating",
    "no_show_by",
    "created_at",
    "updated_at",
    "is_first_session",
    "first_session_retained",
    "platform_updated_at",  # generated rows never came from the platform: None
)
RESCHEDULE_COLUMNS = (
    "id",
    "session_id",
    "initiator",
    "original_time",
    "new_time",
    "reason",
    "reason_code",
    "cancelled_at",
    "hours_before_session",
    "created_at",
)


@dataclass(frozen=True)
class Options:
    tutors: int
    sessions: int
    days: int
    seed: int
    now: datetime
    chunk_size: int = 50_000


@dataclass(eq=False)
class TutorPlan:
    id: uuid.UUID
    external_id: str
    name: str
    email: str
    profile: str
    is_active: bool
    created_at: datetime
    weight: float
    active_until: float  # epoch seconds: last possible session start
    retention: float
    reschedule_rate: float = 0.0  # tutor-initiated, after calibration (the manifest's truth)
    no_show_rate: float = 0.0  # tutor no-shows, after calibration
    last_minute_share: float = 0.4
    bad_weekday: int | None = None
    reason_cum_weights: list = field(default_factory=list)
    past_sessions: int = 0
    future_sessions: int = 0


@dataclass
class Stats:
    """Counts gathered while generating, for the summary and the validation report."""

    profiles: Counter = field(default_factory=Counter)
    active: int = 0
    tutors: int = 0
    status: Counter = field(default_factory=Counter)
    initiators: Counter = field(default_factory=Counter)
    last_minute: int = 0
    no_show_by: Counter = field(default_factory=Counter)
    rated: int = 0
    weekday_sessions: int = 0
    peak_sessions: int = 0
    past_sessions: int = 0
    min_duration: int = 10**6
    max_duration: int = 0
    students: int = 0
    repeat_students: int = 0
    first_sessions: Counter = field(default_factory=Counter)  # by profile: old-enough completed firsts
    retained: Counter = field(default_factory=Counter)
    reason_codes: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def reschedules(self):
        return self.status["rescheduled"]

    @property
    def sessions(self):
        return sum(self.status.values())


def _uuid(rng):
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _epoch(moment):
    return moment.timestamp()


def _dt(seconds):
    return datetime.fromtimestamp(seconds, UTC)


def _allocate(total, weights):
    """Split `total` into integers proportional to weights (largest remainder, deterministic)."""
    weight_sum = sum(weights)
    if not weights or weight_sum <= 0:
        return [0] * len(weights)
    exact = [total * weight / weight_sum for weight in weights]
    counts = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _quota(rng, n, shares):
    """A shuffled list of n labels with exact proportions (rounded, the last label takes the rest)."""
    labels = []
    for label, share in list(shares.items())[:-1]:
        labels += [label] * round(n * share)
    labels = labels[:n]
    labels += [list(shares)[-1]] * (n - len(labels))
    rng.shuffle(labels)
    return labels


def _ascii(text):
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())


def plan_tutors(rng, fake, options):
    """Draw every tutor's identity and profile, then their session counts and calibrated rates."""
    now = _epoch(options.now)
    window_start = now - options.days * DAY
    profiles = _quota(
        rng, options.tutors, {"low": TARGETS["profile_low"], "medium": TARGETS["profile_medium"], "high": 1}
    )
    inactive = set(rng.sample(range(options.tutors), round(options.tutors * (1 - TARGETS["active"]))))
    plans = []
    emails = set()
    for index, profile_name in enumerate(profiles):
        profile = PROFILES[profile_name]
        tutor_id = _uuid(rng)
        first, last = fake.first_name(), fake.last_name()
        email = f"{_ascii(first)}.{_ascii(last)}.{tutor_id.hex[:6]}@example.com"
        if email in emails:  # practically never; keeps the unique constraint safe
            email = f"{_ascii(first)}.{_ascii(last)}.{tutor_id.hex}@example.com"
        emails.add(email)
        is_active = index not in inactive
        active_until = now - RECENT_GUARD
        if not is_active:
            active_until = now - rng.uniform(15, 45) * DAY
        active_share = max(0.05, (active_until - window_start) / (now - window_start))
        plan = TutorPlan(
            id=tutor_id,
            external_id=f"T{index + 1:05d}",
            name=f"{first} {last}",
            email=email,
            profile=profile_name,
            is_active=is_active,
            created_at=options.now - timedelta(days=options.days + rng.randint(0, 365)),
            weight=profile.volume * rng.lognormvariate(0, 0.35) * active_share,
            active_until=active_until,
            retention=rng.uniform(*profile.retention_range),
            reschedule_rate=rng.uniform(*profile.reschedule_range),
            no_show_rate=rng.uniform(*profile.no_show_range),
            last_minute_share=rng.uniform(0.15, 0.65),
        )
        if rng.random() < 0.35:
            plan.bad_weekday = 4 if rng.random() < 0.5 else rng.randrange(7)
        habit, second = rng.sample(REASON_CODES, 2)
        weights = [
            0.25 / len(REASON_CODES) + (0.55 if c == habit else 0.2 if c == second else 0)
            for c in REASON_CODES
        ]
        plan.reason_cum_weights = list(_cumulative(weights))
        plans.append(plan)

    future_total = int(options.sessions * FUTURE_SHARE)
    past_counts = _allocate(options.sessions - future_total, [plan.weight for plan in plans])
    future_counts = _allocate(future_total, [plan.weight if plan.is_active else 0 for plan in plans])
    if sum(future_counts) != future_total:  # no active tutor at all: everything is in the past
        past_counts = _allocate(options.sessions, [plan.weight for plan in plans])
        future_counts = [0] * len(plans)
    for plan, past, future in zip(plans, past_counts, future_counts, strict=True):
        plan.past_sessions, plan.future_sessions = past, future
    _calibrate(plans)
    return plans


def _cumulative(weights):
    total = 0.0
    for weight in weights:
        total += weight
        yield total


def _calibrate(plans, cap=0.8):
    """Scale drawn rates so the expected overall mix hits the targets on these session counts."""
    total = sum(plan.past_sessions for plan in plans)
    if not total:
        return
    reschedule_target = TARGETS["rescheduled"] * TARGETS["tutor_initiated"] * total
    high = [plan for plan in plans if plan.profile == "high" and plan.past_sessions]
    movable = high or plans
    fixed = sum(p.past_sessions * p.reschedule_rate for p in plans) - sum(
        p.past_sessions * p.reschedule_rate for p in movable
    )
    for _ in range(5):  # clamping at the cap moves the remainder onto the others
        scalable = [p for p in movable if p.reschedule_rate < cap]
        capped = sum(p.past_sessions * p.reschedule_rate for p in movable if p.reschedule_rate >= cap)
        base = sum(p.past_sessions * p.reschedule_rate for p in scalable)
        if base <= 0:
            break
        factor = (reschedule_target - fixed - capped) / base
        for plan in scalable:
            plan.reschedule_rate = min(cap, max(0.0, plan.reschedule_rate * factor))
        if abs(factor - 1) < 1e-9:
            break
    no_show_base = sum(plan.past_sessions * plan.no_show_rate for plan in plans)
    if no_show_base > 0:
        factor = TUTOR_NO_SHOW_TARGET * total / no_show_base
        for plan in plans:
            plan.no_show_rate = min(0.15, plan.no_show_rate * factor)


def _weekday(seconds):
    return (int(seconds // DAY) + 3) % 7  # 1970-01-01 was a Thursday


class _Sampler:
    """Fast weighted draws for days, hours and durations."""

    def __init__(self, rng):
        self.rng = rng
        self.hours = list(HOUR_WEIGHTS)
        self.hour_cum = list(_cumulative(HOUR_WEIGHTS.values()))
        self.durations = [minutes for minutes, _ in DURATIONS]
        self.duration_cum = list(_cumulative(weight for _, weight in DURATIONS))

    def pick(self, values, cum):
        return values[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def start_time(self, start, end):
        """A session start in (start, end]: weekday-weighted day, peak-weighted hour, :00 or :30."""
        rng = self.rng
        first_day, last_day = int(start // DAY), int(end // DAY)
        for _ in range(50):
            day = rng.randint(first_day, last_day)
            if rng.random() >= WEEKDAY_WEIGHTS[(day + 3) % 7]:
                continue
            moment = (
                day * DAY + self.pick(self.hours, self.hour_cum) * HOUR + (1800 if rng.random() < 0.5 else 0)
            )
            if start < moment <= end:
                return moment
        return end - (end % 1800)  # tiny windows: the last half hour before the end


def generate_rows(plans, rng, options, stats):
    """Yield (session_rows, reschedule_rows) chunks, tutor after tutor, in a fixed order."""
    sampler = _Sampler(rng)
    now = _epoch(options.now)
    window_start = now - options.days * DAY
    retention_cutoff = now - 14 * DAY
    now_dt = options.now
    student_counter = 0
    session_rows, reschedule_rows = [], []
    # Derived exactly as Reschedule.save() would (classify_reason), once per distinct text.
    reason_code_of = {text: classify_reason(text) for texts in REASONS.values() for text in texts}

    for plan in plans:
        profile = PROFILES[plan.profile]
        p_reschedule = plan.reschedule_rate / TARGETS["tutor_initiated"]
        by_weekday = [p_reschedule] * 7
        if plan.bad_weekday is not None:
            # 2.5x on the bad day (capped), the other days lowered so the tutor's mean stays put.
            share = WEEKDAY_WEIGHTS[plan.bad_weekday] / sum(WEEKDAY_WEIGHTS)
            bad = min(0.95, p_reschedule * 2.5)
            others = max(0.0, (p_reschedule - share * bad) / (1 - share))
            by_weekday = [bad if day == plan.bad_weekday else others for day in range(7)]
        p_tutor_no_show = plan.no_show_rate
        p_student_no_show = STUDENT_NO_SHOW_RATE
        tutor_id = plan.id
        students = []
        remaining = plan.past_sessions
        while remaining > 0:
            student_counter += 1
            student_id = f"stu-{options.seed}-{student_counter:07d}"
            students.append(student_id)
            first = sampler.start_time(window_start, plan.active_until)
            length = 1
            if rng.random() < plan.retention:
                length = 2 + min(23, int(rng.expovariate(1 / 4)))
            cadence = WEEKLY
            if _weekday(first) < 2 and rng.random() < TWICE_A_WEEK_SHARE:
                cadence = TWICE_A_WEEK
            times = [first]
            moment = first
            while len(times) < min(length, remaining):
                moment += cadence[(len(times) - 1) % len(cadence)] * DAY
                if moment > plan.active_until:
                    break
                times.append(moment)
            remaining -= len(times)
            stats.students += 1
            stats.repeat_students += len(times) > 1

            statuses = []
            for scheduled in times:
                weekday = _weekday(scheduled)
                stats.weekday_sessions += weekday < 5
                stats.peak_sessions += int(scheduled % DAY // HOUR) in PEAK_HOURS
                scheduled_dt = _dt(scheduled)
                created_dt = _dt(scheduled - rng.uniform(1, 336) * HOUR)
                draw = rng.random()
                p_resch = by_weekday[weekday]
                completed_dt = duration = rating = no_show_by = None
                if draw < p_resch:
                    status = "rescheduled"
                    reschedule_rows.append(
                        _reschedule_row(rng, plan, scheduled, created_dt, reason_code_of, stats)
                    )
                    session_id = reschedule_rows[-1][1]
                elif draw < p_resch + p_tutor_no_show + p_student_no_show:
                    status = "no_show"
                    no_show_by = "tutor" if draw < p_resch + p_tutor_no_show else "student"
                    stats.no_show_by[no_show_by] += 1
                    session_id = _uuid(rng)
                else:
                    status = "completed"
                    duration = sampler.pick(sampler.durations, sampler.duration_cum)
                    completed_dt = _dt(scheduled + duration * 60)
                    stats.min_duration = min(stats.min_duration, duration)
                    stats.max_duration = max(stats.max_duration, duration)
                    if rng.random() < TARGETS["rated"]:
                        rating = profile.ratings[rng.randrange(len(profile.ratings))]
                        stats.rated += 1
                    session_id = _uuid(rng)
                stats.status[status] += 1
                statuses.append(status)
                updated_dt = completed_dt or scheduled_dt
                session_rows.append(
                    (
                        session_id,
                        tutor_id,
                        student_id,
                        scheduled_dt,
                        completed_dt,
                        status,
                        duration,
                        rating,
                        no_show_by,
                        created_dt,
                        max(updated_dt, created_dt),
                    )
                )
            # The pair's first-session flags, stored as every other write path keeps them.
            own = session_rows[-len(times) :]
            flags = pair_flags((row[0], row[5], row[3]) for row in own)
            session_rows[-len(times) :] = [(*row, *flags[row[0]], None) for row in own]
            # First-session retention as SPEC §5 defines it, for the validation report.
            if statuses[0] == "completed" and times[0] <= retention_cutoff:
                stats.first_sessions[plan.profile] += 1
                stats.retained[plan.profile] += flags[own[0][0]][1]
            if len(session_rows) >= options.chunk_size:
                yield session_rows, reschedule_rows
                session_rows, reschedule_rows = [], []

        for _ in range(plan.future_sessions):
            student_id = students[rng.randrange(len(students))] if students else f"stu-{options.seed}-new"
            scheduled = sampler.start_time(now, now + 7 * DAY)
            scheduled_dt = _dt(scheduled)
            stats.status["scheduled"] += 1
            session_rows.append(
                (
                    _uuid(rng),
                    tutor_id,
                    student_id,
                    scheduled_dt,
                    None,
                    "scheduled",
                    sampler.pick(sampler.durations, sampler.duration_cum),
                    None,
                    None,
                    now_dt,
                    now_dt,
                    False,  # a scheduled session is never a pair's first session
                    False,
                    None,
                )
            )
    if session_rows:
        yield session_rows, reschedule_rows


def _reschedule_row(rng, plan, scheduled, booked_dt, reason_code_of, stats):
    """A rescheduled session's Reschedule row (its second field is the new session id)."""
    session_id = _uuid(rng)
    initiator = "tutor" if rng.random() < TARGETS["tutor_initiated"] else "student"
    if rng.random() < plan.last_minute_share:
        minutes_before = (
            rng.randint(-90, -5) if rng.random() < 0.05 else rng.randint(30, LAST_MINUTE_HOURS * 60 - 30)
        )
    else:
        minutes_before = int(LAST_MINUTE_HOURS * 60 + min(rng.expovariate(1 / 3600), 20 * 24 * 60))
    cancelled = scheduled - minutes_before * 60
    original_dt, cancelled_dt = _dt(scheduled), _dt(cancelled)
    new_dt = None
    if rng.random() < 0.9:  # the rest are cancelled outright
        new_dt = _dt(scheduled + rng.randint(1, 7) * DAY + rng.randint(-3, 3) * HOUR)
    code = REASON_CODES[bisect.bisect(plan.reason_cum_weights, rng.random() * plan.reason_cum_weights[-1])]
    texts = REASONS[code]
    reason = texts[rng.randrange(len(texts))]
    reason_code = reason_code_of[reason]
    hours = hours_before_session(original_dt, cancelled_dt)
    stats.initiators[initiator] += 1
    stats.last_minute += hours < LAST_MINUTE_HOURS
    stats.reason_codes[reason_code] += 1
    return (
        _uuid(rng),
        session_id,
        initiator,
        original_dt,
        new_dt,
        reason,
        reason_code,
        cancelled_dt,
        hours,
        max(cancelled_dt, booked_dt),
    )


# --- Writing ---------------------------------------------------------------------------------


def _copy_rows(model, columns, rows):
    """PostgreSQL COPY: several times faster than INSERT for large loads."""
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _bulk_create(model, columns, rows):
    objects = [model(**dict(zip(columns, row, strict=True))) for row in rows]
    for obj in objects:
        if isinstance(obj, Session):
            obj.apply_defaults()
    model.objects.bulk_create(objects, batch_size=2000)


def write_rows(model, columns, rows):
    if not rows:
        return
    if connection.vendor == "postgresql":
        _copy_rows(model, columns, rows)
    else:
        _bulk_create(model, columns, rows)


def related_models():
    """Our models plus every installed model that (transitively) points at them, children first."""
    base = [Reschedule, Session, Tutor]
    found = list(base)
    changed = True
    while changed:
        changed = False
        for model in apps.get_models():
            if model in found:
                continue
            if any(
                f.many_to_one or f.one_to_one for f in model._meta.concrete_fields if f.related_model in found
            ):
                found.insert(0, model)  # points at something found: delete it before its target
                changed = True
    return found


def clear_data():
    """Delete tutors, sessions, reschedules and everything hanging off them (scores, alerts, mail log)."""
    models = related_models()
    tables = [connection.ops.quote_name(model._meta.db_table) for model in models]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks still pending in this transaction would block TRUNCATE.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")  # children first: foreign keys stay valid


def generate(options, *, clear=False, manifest=None, progress=print):
    """Generate and store the data set; returns (plans, stats). See the module docstring."""
    started = time.monotonic()
    rng = random.Random(options.seed)
    fake = Faker("en_US")
    fake.seed_instance(options.seed)
    stats = Stats()
    plans = plan_tutors(rng, fake, options)
    stats.tutors = len(plans)
    stats.profiles.update(plan.profile for plan in plans)
    stats.active = sum(plan.is_active for plan in plans)

    with transaction.atomic():
        if clear:
            clear_data()
            progress("Cleared existing tutors, sessions, reschedules, scores, alerts and email log.")
        elif Tutor.objects.filter(pk__in=[plan.id for plan in plans[:100]]).exists():
            raise ValueError(
                f"Data for seed {options.seed} is already loaded; use --clear or another --seed."
            )
        tutors = [
            Tutor(
                id=plan.id,
                name=plan.name,
                email=plan.email,
                is_active=plan.is_active,
                created_at=plan.created_at,
            )
            for plan in plans
        ]
        Tutor.objects.bulk_create(tutors, batch_size=2000)
        progress(f"Tutors: {len(tutors):,}")
        written = 0
        for session_rows, reschedule_rows in generate_rows(plans, rng, options, stats):
            write_rows(Session, SESSION_COLUMNS, session_rows)
            write_rows(Reschedule, RESCHEDULE_COLUMNS, reschedule_rows)
            written += len(session_rows)
            elapsed = time.monotonic() - started
            progress(f"Sessions: {written:,} / {options.sessions:,} ({elapsed:.1f} s)")
        # Flag every new tutor for scoring only once all their sessions are in.
        ids = [plan.id for plan in plans]
        for start in range(0, len(ids), 5000):
            Tutor.mark_changed(ids[start : start + 5000])
    stats.seconds = time.monotonic() - started
    if manifest is not None:
        write_manifest(plans, manifest)
    return plans, stats


def write_manifest(plans, file):
    """The drawn ground truth: tutor_id,external_id,profile,drawn_reschedule_rate,drawn_no_show_rate."""
    writer = csv.writer(file)
    writer.writerow(["tutor_id", "external_id", "profile", "drawn_reschedule_rate", "drawn_no_show_rate"])
    for plan in plans:
        writer.writerow(
            [
                plan.id,
                plan.external_id,
                plan.profile,
                f"{plan.reschedule_rate:.4f}",
                f"{plan.no_show_rate:.4f}",
            ]
        )


def validation_report(stats):
    """Rows of (measure, actual, target, tolerance, ok): what was drawn against what SPEC §10 asks."""
    past = stats.sessions - stats.status["scheduled"]
    reschedules = stats.reschedules
    no_shows = stats.status["no_show"]
    expected_weekday = _expected_weekday_share()
    expected_peak = sum(w for h, w in HOUR_WEIGHTS.items() if h in PEAK_HOURS) / sum(HOUR_WEIGHTS.values())

    def share(part, whole):
        return part / whole if whole else None

    rows = [
        ("tutors: low risk", share(stats.profiles["low"], stats.tutors), TARGETS["profile_low"], 0.01),
        (
            "tutors: medium risk",
            share(stats.profiles["medium"], stats.tutors),
            TARGETS["profile_medium"],
            0.01,
        ),
        ("tutors: high risk", share(stats.profiles["high"], stats.tutors), TARGETS["profile_high"], 0.01),
        ("tutors: active", share(stats.active, stats.tutors), TARGETS["active"], 0.01),
        ("sessions: completed", share(stats.status["completed"], past), TARGETS["completed"], 0.03),
        ("sessions: rescheduled", share(reschedules, past), TARGETS["rescheduled"], 0.03),
        ("sessions: no-show", share(no_shows, past), TARGETS["no_show"], 0.015),
        (
            "reschedules: tutor-initiated",
            share(stats.initiators["tutor"], reschedules),
            TARGETS["tutor_initiated"],
            0.015,
        ),
        (
            "reschedules: last-minute (<24 h)",
            share(stats.last_minute, reschedules),
            TARGETS["last_minute"],
            0.06,
        ),
        (
            "no-shows: by the tutor",
            share(stats.no_show_by["tutor"], no_shows),
            TARGETS["no_show_by_tutor"],
            0.08,
        ),
        ("completed: rated", share(stats.rated, stats.status["completed"]), TARGETS["rated"], 0.03),
        ("sessions: on weekdays", share(stats.weekday_sessions, past), expected_weekday, 0.05),
        ("sessions: 15:00-20:00 start", share(stats.peak_sessions, past), expected_peak, 0.05),
    ]
    report = [
        (name, actual, target, tol, actual is not None and abs(actual - target) <= tol)
        for name, actual, target, tol in rows
    ]
    report.append(
        (
            "durations within 30-120 min",
            None,
            None,
            None,
            stats.min_duration >= 30 and stats.max_duration <= 120,
        )
    )
    report.append(
        (
            "students with repeat sessions",
            share(stats.repeat_students, stats.students),
            None,
            None,
            stats.repeat_students > 0,
        )
    )
    retention = {p: share(stats.retained[p], stats.first_sessions[p]) for p in PROFILES}
    for profile, value in retention.items():
        report.append((f"first-session retention: {profile}", value, None, None, value is not None))
    ordered = (
        all(v is not None for v in retention.values())
        and retention["high"] < retention["medium"] < retention["low"]
    )
    report.append(("retention: high < medium < low", None, None, None, ordered))
    return report


def _expected_weekday_share():
    return sum(WEEKDAY_WEIGHTS[:5]) / sum(WEEKDAY_WEIGHTS)
