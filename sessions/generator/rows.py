"""One session at a time: its status drawn from the tutor's true rates at its time, and its rows.

A session is a draft until its tutor is done: (session row without the first-session flags, its
Reschedule row or None, the probabilities it was drawn with). students.py strings drafts into
students; `finish` adds the flags, computed by the same function every write path uses.
"""

import bisect
from datetime import UTC, datetime

from ..first_sessions import pair_flags
from ..rescheduling import LAST_MINUTE_HOURS, classify_reason, hours_before_session
from .calendar import DAY, HOUR, Sampler, weekday_factors
from .plan import REASON_CODES, TutorPlan, uuid4
from .truth import MAX_PROBABILITY, STUDENT_NO_SHOW_RATE, TUTOR_INITIATED

RATED = 0.60  # share of completed sessions with a student rating
RATINGS = {  # by the profile of the tutor's truth at the session
    "low": (5, 5, 5, 4, 4, 3),
    "medium": (5, 4, 4, 4, 3, 2),
    "high": (5, 4, 3, 3, 2, 1),
}
BOOKED_MINUTES = 335 * 60  # sessions are booked 1 hour to 2 weeks ahead
CANCELLED_OUTRIGHT = 0.10  # reschedules without a new time (outside a student's first follow-up)

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


def to_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class TutorTables:
    """A tutor's true rates turned into per-period, per-weekday status thresholds (fast lookups)."""

    def __init__(self, plan: TutorPlan):
        self.plan = plan
        active = [period for period in plan.truth.periods if period.active] or plan.truth.periods[:1]
        self.starts = [period.start for period in active]
        self.retention = [period.rates.retention for period in active]
        self.profiles = [period.profile for period in active]
        self.ratings = [RATINGS[profile] for profile in self.profiles]
        # Per period and weekday: p(reschedule), then + p(tutor no-show), then + p(student no-show).
        self.thresholds = []
        for period in active:
            no_show = period.rates.no_show
            cap = MAX_PROBABILITY - no_show - STUDENT_NO_SHOW_RATE
            p_reschedule = min(cap, period.rates.reschedule / TUTOR_INITIATED)
            factors = weekday_factors(plan.bad_weekday, p_reschedule, cap)
            self.thresholds.append(
                [
                    (p * factor, p * factor + no_show, p * factor + no_show + STUDENT_NO_SHOW_RATE)
                    for p, factor in ((p_reschedule, f) for f in factors)
                ]
            )

    def period(self, moment: float) -> int:
        return max(0, bisect.bisect(self.starts, moment) - 1)


class RowMaker:
    """Draws statuses and builds rows, every draw from one seeded Random in a fixed order."""

    def __init__(self, rng, now: float):
        self.rng = rng
        self.sampler = Sampler(rng)
        self.now = now
        self.times = {}  # epoch seconds -> aware datetime: the times fall on a grid of minutes
        # Derived exactly as Reschedule.save() would (classify_reason), once per distinct text.
        self.reason_code_of = {text: classify_reason(text) for texts in REASONS.values() for text in texts}

    def time(self, seconds: float) -> datetime:
        moment = self.times.get(seconds)
        if moment is None:
            moment = self.times[seconds] = to_datetime(seconds)
        return moment

    def status(self, tables: TutorTables, moment: float, *, completed: bool = False):
        """(status, no_show_by, p tutor reschedule, p tutor no-show) of a session at `moment`;
        `completed` forces the status (and draws nothing)."""
        thresholds = tables.thresholds[tables.period(moment)][(int(moment // DAY) + 3) % 7]
        p_tutor_reschedule, p_tutor_no_show = thresholds[0] * TUTOR_INITIATED, thresholds[1] - thresholds[0]
        draw = 1.0 if completed else self.rng.random()
        if draw < thresholds[0]:
            return "rescheduled", None, p_tutor_reschedule, p_tutor_no_show
        if draw < thresholds[2]:
            return (
                "no_show",
                "tutor" if draw < thresholds[1] else "student",
                p_tutor_reschedule,
                p_tutor_no_show,
            )
        return "completed", None, p_tutor_reschedule, p_tutor_no_show

    def session(self, tables, student_id, moment, drawn, *, new_time=None, booked=None):
        """The draft of one session at `moment` with a drawn status (see `status`): (row without
        the first-session flags, Reschedule row or None, p reschedule, p no-show, moment). A
        reschedule moves it to `new_time` when given (a make-up session), else to a drawn time or
        nowhere."""
        rng, times = self.rng, self.times
        status, no_show_by, p_reschedule, p_no_show = drawn
        # Booked 1 hour to 2 weeks before, to the minute (random.random() is the fastest draw).
        created = booked if booked is not None else moment - (60 + int(rng.random() * BOOKED_MINUTES)) * 60
        session_id = uuid4(rng)
        scheduled_dt = times.get(moment) or self.time(moment)
        created_dt = times.get(created) or self.time(created)
        updated_dt = scheduled_dt
        completed_dt = duration = rating = reschedule = None
        if status == "completed":
            duration = self.sampler.duration()
            updated_dt = completed_dt = self.time(moment + duration * 60)
            if rng.random() < RATED:
                ratings = tables.ratings[tables.period(moment)]
                rating = ratings[int(rng.random() * len(ratings))]
        elif status == "rescheduled":
            reschedule = self.reschedule(tables.plan, session_id, moment, created, new_time)
        if created_dt > updated_dt:
            updated_dt = created_dt
        row = (
            session_id,
            tables.plan.id,
            student_id,
            scheduled_dt,
            completed_dt,
            status,
            duration,
            rating,
            no_show_by,
            created_dt,
            updated_dt,
        )
        return row, reschedule, p_reschedule, p_no_show, moment

    def reschedule(self, plan, session_id, moment, booked, new_time):
        """A rescheduled session's Reschedule row."""
        rng = self.rng
        initiator = "tutor" if rng.random() < TUTOR_INITIATED else "student"
        if rng.random() < plan.last_minute_share:
            late = rng.random() < 0.05  # a few are asked after the start
            minutes_before = rng.randint(-90, -5) if late else rng.randint(30, LAST_MINUTE_HOURS * 60 - 30)
        else:
            minutes_before = int(LAST_MINUTE_HOURS * 60 + min(rng.expovariate(1 / 3600), 20 * 24 * 60))
        if new_time is None and rng.random() >= CANCELLED_OUTRIGHT:
            new_time = moment + rng.randint(1, 7) * DAY + rng.randint(-3, 3) * HOUR
        cancelled = moment - minutes_before * 60
        original_dt, cancelled_dt = self.time(moment), self.time(cancelled)
        cumulative = plan.reason_cum_weights
        code = REASON_CODES[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
        reason = REASONS[code][rng.randrange(len(REASONS[code]))]
        return (
            uuid4(rng),
            session_id,
            initiator,
            original_dt,
            None if new_time is None else self.time(new_time),
            reason,
            self.reason_code_of[reason],
            cancelled_dt,
            hours_before_session(original_dt, cancelled_dt),
            max(cancelled_dt, self.time(booked)),
        )

    def upcoming(self, plan: TutorPlan, student_id: str, now_dt: datetime) -> tuple:
        """An upcoming `scheduled` session in the next 7 days (never a pair's first session)."""
        moment = self.sampler.start_time(self.now, self.now + 7 * DAY)
        duration = self.sampler.duration()
        row = (uuid4(self.rng), plan.id, student_id, to_datetime(moment), None, "scheduled", duration)
        return (*row, None, None, now_dt, now_dt, False, False)


def with_flags(drafts: list) -> list[tuple]:
    """The session rows of ONE student's drafts, with the pair's first-session flags added."""
    flags = pair_flags([(draft[0][0], draft[0][5], draft[0][3]) for draft in drafts])
    return [(*draft[0], *flags[draft[0][0]]) for draft in drafts]
