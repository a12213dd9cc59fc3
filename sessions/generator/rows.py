"""One session at a time: its status drawn from the tutor's true rates at its time, and its rows.

A session is a draft until its tutor is done: (session row without the first-session flags, its
Reschedule row or None, the tutor's reschedule and no-show probabilities it was drawn with, its
time in epoch seconds). students.py strings drafts into students; `with_flags` then adds the
flags, computed by the function every write path uses (first_sessions.pair_flags).
"""

import bisect
import itertools
import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from ..first_sessions import pair_flags
from ..rescheduling import LAST_MINUTE_HOURS, classify_reason, hours_before_session
from .calendar import DAY, DURATIONS, HOUR, Sampler, weekday_factors
from .plan import REASON_CODES, TutorPlan, uuid4
from .truth import MAX_PROBABILITY, STUDENT_NO_SHOW_RATE, TUTOR_INITIATED

RATED = 0.60  # share of completed sessions with a student rating
RATINGS = {  # by the profile of the tutor's truth at the session
    "low": (5, 5, 5, 4, 4, 3),
    "medium": (5, 4, 4, 4, 3, 2),
    "high": (5, 4, 3, 3, 2, 1),
}
DURATION_MINUTES = [minutes for minutes, _ in DURATIONS]
DURATION_CUMULATIVE = list(itertools.accumulate(share for _, share in DURATIONS))
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
        self.tutor_id = plan.id
        active = [period for period in plan.truth.periods if period.active] or plan.truth.periods[:1]
        self.starts = [period.start for period in active]
        self.retention = [period.rates.retention for period in active]
        self.profiles = [period.profile for period in active]
        self.ratings = [RATINGS[profile] for profile in self.profiles]
        # Per period and weekday: the draw is a reschedule below the first, a tutor no-show below
        # the second, a student no-show below the third; then the tutor's two probabilities.
        self.thresholds = []
        for period in active:
            no_show = period.rates.no_show
            cap = MAX_PROBABILITY - no_show - STUDENT_NO_SHOW_RATE
            p_reschedule = min(cap, period.rates.reschedule / TUTOR_INITIATED)
            factors = weekday_factors(plan.bad_weekday, p_reschedule, cap)
            self.thresholds.append(
                [
                    (
                        p_reschedule * factor,
                        p_reschedule * factor + no_show,
                        p_reschedule * factor + no_show + STUDENT_NO_SHOW_RATE,
                        p_reschedule * factor * TUTOR_INITIATED,
                        no_show,
                    )
                    for factor in factors
                ]
            )

    def period(self, moment: float) -> int:
        return max(0, bisect.bisect(self.starts, moment) - 1)


class RowMaker:
    """Draws statuses and builds rows, every draw from one seeded Random in a fixed order."""

    def __init__(self, rng: random.Random, now: float) -> None:
        self.rng = rng
        self.sampler = Sampler(rng)
        self.now = now
        self.times: dict[
            float, datetime
        ] = {}  # epoch seconds -> aware datetime: the times fall on a grid of minutes
        self.hours_before: dict[
            int, Decimal
        ] = {}  # minutes before the session -> hours_before_session (a Decimal)
        self.forced = 0  # sessions completed by `completed=True` that the draw would not have completed
        # Derived exactly as Reschedule.save() would (classify_reason), once per distinct text.
        self.reason_code_of = {text: classify_reason(text) for texts in REASONS.values() for text in texts}

    def time(self, seconds: float) -> datetime:
        moment = self.times.get(seconds)
        if moment is None:
            moment = self.times[seconds] = to_datetime(seconds)
        return moment

    def session(
        self,
        tables: TutorTables,
        student_id: str,
        moment: float,
        *,
        completed: bool = False,
        new_time: float | None = None,
        booked: float | None = None,
    ) -> tuple:
        """The draft of one session at `moment`, its status drawn from the tutor's true rates then
        (`completed` makes it completed whatever the draw): (row without the first-session flags,
        Reschedule row or None, p tutor reschedule, p tutor no-show, moment). A reschedule moves
        the session to `new_time` when given (a make-up session), else to a drawn time or nowhere."""
        rng, times, starts = self.rng, self.times, tables.starts
        period = bisect.bisect(starts, moment) - 1 if len(starts) > 1 else 0
        reschedule_below, tutor_no_show_below, no_show_below, p_reschedule, p_no_show = tables.thresholds[
            period
        ][(int(moment // DAY) + 3) % 7]
        draw = rng.random()
        if completed:  # a last chance cannot fall through: the truth expects nothing of it
            p_reschedule = p_no_show = 0.0
            if draw < no_show_below:
                self.forced += 1
                draw = 1.0
        # Booked 1 hour to 2 weeks before, to the minute (random.random() is the fastest draw).
        created = booked if booked is not None else moment - (60 + int(rng.random() * BOOKED_MINUTES)) * 60
        session_id = uuid4(rng)
        scheduled_dt = times.get(moment) or self.time(moment)
        created_dt = times.get(created) or self.time(created)
        updated_dt = scheduled_dt
        completed_dt = duration = rating = no_show_by = reschedule = None
        if draw < reschedule_below:
            status = "rescheduled"
            reschedule = self.reschedule(tables.plan, session_id, moment, created, new_time)
        elif draw < no_show_below:
            status, no_show_by = "no_show", "tutor" if draw < tutor_no_show_below else "student"
        else:
            status = "completed"
            duration = DURATION_MINUTES[
                bisect.bisect(DURATION_CUMULATIVE, rng.random() * DURATION_CUMULATIVE[-1])
            ]
            updated_dt = completed_dt = times.get(moment + duration * 60) or self.time(moment + duration * 60)
            if rng.random() < RATED:
                ratings = tables.ratings[period]
                rating = ratings[int(rng.random() * len(ratings))]
        if created_dt > updated_dt:
            updated_dt = created_dt
        row = (
            session_id,
            tables.tutor_id,
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

    def reschedule(
        self, plan: TutorPlan, session_id: uuid.UUID, moment: float, booked: float, new_time: float | None
    ) -> tuple:
        """A rescheduled session's Reschedule row."""
        random = self.rng.random  # int(random() * n) draws in range(n), faster than randrange
        initiator = "tutor" if random() < TUTOR_INITIATED else "student"
        if random() < plan.last_minute_share:
            if random() < 0.05:  # a few are asked after the start
                minutes_before = -5 - int(random() * 86)
            else:
                minutes_before = 30 + int(random() * (LAST_MINUTE_HOURS * 60 - 59))
        else:
            minutes_before = int(LAST_MINUTE_HOURS * 60 + min(self.rng.expovariate(1 / 3600), 20 * 24 * 60))
        if new_time is None and random() >= CANCELLED_OUTRIGHT:
            new_time = moment + (1 + int(random() * 7)) * DAY + (int(random() * 7) - 3) * HOUR
        cancelled = moment - minutes_before * 60
        original_dt, cancelled_dt = self.time(moment), self.time(cancelled)
        cumulative = plan.reason_cum_weights
        texts = REASONS[REASON_CODES[bisect.bisect(cumulative, random() * cumulative[-1])]]
        reason = texts[int(random() * len(texts))]
        hours_before = self.hours_before.get(minutes_before)
        if hours_before is None:
            hours_before = self.hours_before[minutes_before] = hours_before_session(original_dt, cancelled_dt)
        return (
            uuid4(self.rng),
            session_id,
            initiator,
            original_dt,
            None if new_time is None else self.time(new_time),
            reason,
            self.reason_code_of[reason],
            cancelled_dt,
            hours_before,
            max(cancelled_dt, self.time(booked)),
        )

    def upcoming(self, plan: TutorPlan, student_id: str, now_dt: datetime) -> tuple:
        """An upcoming `scheduled` session in the next 7 days (never a pair's first session)."""
        moment = self.sampler.start_time(self.now, self.now + 7 * DAY)
        duration = self.sampler.duration()
        row = (uuid4(self.rng), plan.id, student_id, to_datetime(moment), None, "scheduled", duration)
        return (*row, None, None, now_dt, now_dt, False, False, None, *NO_RESCHEDULE)


NO_RESCHEDULE = (None, None, None)


def reschedule_copies(reschedule: tuple | None) -> tuple:
    """What a session row holds of its Reschedule row: initiator, reason code, hours before."""
    return NO_RESCHEDULE if reschedule is None else (reschedule[2], reschedule[6], reschedule[8])


def with_flags(drafts: list) -> list[tuple]:
    """The session rows of ONE student's drafts, with the pair's first-session flags and their
    reschedule's copies added."""
    flags = pair_flags([(draft[0][0], draft[0][5], draft[0][3]) for draft in drafts])
    return [(*draft[0], *flags[draft[0][0]], None, *reschedule_copies(draft[1])) for draft in drafts]
