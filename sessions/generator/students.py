"""Students and their chains of sessions with one tutor, so first-session retention is real.

A new student books a first session. Whether the student is retained is drawn from the tutor's
true retention at that moment, whatever the first session's status. A retained student whose
first session was completed comes back within 14 days: follow-ups (and make-ups within a week
after a rescheduled or missed one) until one is completed, so the product's measure (another completed
session within 14 days) finds exactly the students drawn as retained. A student who is not
retained never books again. Retained students then keep a weekly or twice-a-week rhythm.

Arrivals are spread over the history so the tutor's sessions per day stay level: the history
starts empty, so early weeks get more new students to make up for the returning ones they lack.
"""

import functools
import itertools
import math
from typing import Any

from ..first_sessions import FOLLOW_UP_DAYS
from .calendar import DAY, HOUR, weekday
from .plan import TutorPlan
from .rows import RowMaker, TutorTables
from .truth import TutorTruth

CONTINUATION_MEAN = 4.0  # sessions after the first follow-up: exponential, capped
MAX_SESSIONS = 25
WEEKLY, TWICE_A_WEEK = (7,), (3, 4)  # days between sessions (twice a week: Mon+Thu or Tue+Fri)
TWICE_A_WEEK_SHARE = 0.3  # of the students starting on a Monday or Tuesday
MAX_FOLLOW_UPS = 8  # the 8th follow-up is completed whatever the rates (see RowMaker.forced)
RECENT_GUARD = 2 * HOUR  # past sessions start this long before `now`, so a completed one has ended
NEW_STUDENTS_STOP_DAYS = FOLLOW_UP_DAYS  # a tutor who stops teaching takes no new student in its last 14 days


class Student:
    __slots__ = ("id", "drafts", "kept", "first_time", "retention", "profile", "measured_retained")

    def __init__(self, student_id: str, first_time: float, tables: TutorTables) -> None:
        period = tables.period(first_time)
        self.id = student_id
        self.drafts: list[tuple[Any, ...]] = []  # RowMaker.session() drafts, in time order
        self.kept = 1  # leading drafts that trimming must keep: the first session and its follow-ups
        self.first_time = first_time
        self.retention = tables.retention[period]  # the true retention at the first session
        self.profile = tables.profiles[period]
        self.measured_retained = False  # the product's flag on the first session, once computed


def history_window(truth: TutorTruth) -> tuple[float, float]:
    """(start, end) of the times a tutor's past sessions start in: from the history's start to
    when the tutor stopped teaching or shortly before `now`."""
    return truth.start, min(truth.active_until, truth.end - RECENT_GUARD)


@functools.lru_cache(maxsize=512)
def arrival_weights(retention_percent: int, weeks: int) -> tuple[float, ...]:
    """Relative number of new students per week of the history that keeps sessions per week level
    (a renewal equation: new students + returning ones = 1 every week)."""
    retained = retention_percent / 100
    twice_share = TWICE_A_WEEK_SHARE * 2 / 5.85  # Monday and Tuesday starts, by the weekday weights

    def at_least(count: int) -> float:  # P(a retained student has at least `count` sessions after the first)
        return (
            1.0 if count <= 1 else math.exp(-(count - 1) / CONTINUATION_MEAN) if count < MAX_SESSIONS else 0.0
        )

    returning = [0.0] + [
        retained * ((1 - twice_share) * at_least(j) + twice_share * (at_least(2 * j - 1) + at_least(2 * j)))
        for j in range(1, weeks)
    ]
    weights: list[float] = []
    for week in range(weeks):
        back = sum(weights[week - j] * returning[j] for j in range(1, week + 1))
        weights.append(max(0.05, 1 - back))
    return tuple(weights)


class StudentMaker:
    """Builds one tutor's students (drafts), within the tutor's share of sessions."""

    def __init__(self, maker: RowMaker, seed: int):
        self.maker = maker
        self.rng = maker.rng
        self.seed = seed
        self.counter = 0

    def tutor(self, plan: TutorPlan, budget: int) -> tuple[list[Student], int]:
        """The tutor's students and how many sessions they hold beyond `budget` (0 unless the last
        student's follow-ups ran over and no other student had sessions to give back)."""
        tables = TutorTables(plan)
        truth = plan.truth
        end = history_window(truth)[1]
        arrivals_end = end
        if truth.active_until < truth.end and end - NEW_STUDENTS_STOP_DAYS * DAY > truth.start + DAY:
            arrivals_end = end - NEW_STUDENTS_STOP_DAYS * DAY
        weeks = max(1, math.ceil((arrivals_end - truth.start) / (7 * DAY)))
        weights = arrival_weights(round(100 * truth.baseline.retention), weeks)
        cumulative = list(itertools.accumulate(weights))
        students, remaining = [], budget
        while remaining > 0:
            week = self.maker.sampler.pick(range(weeks), cumulative)
            week_start = truth.start + week * 7 * DAY
            first = self.maker.sampler.start_time(week_start, min(week_start + 7 * DAY, arrivals_end))
            student = self.student(tables, first, end, remaining)
            students.append(student)
            remaining -= len(student.drafts)
        return students, trim(students, -remaining)

    def student(self, tables: TutorTables, first: float, end: float, limit: int) -> Student:
        """One student's sessions from `first` to `end` at most; the sessions after the first
        session and its follow-ups stop at `limit`."""
        rng, maker = self.rng, self.maker
        self.counter += 1
        student = Student(f"stu-{self.seed}-{self.counter:07d}", first, tables)
        drafts = student.drafts
        retained = rng.random() < student.retention
        cadence = TWICE_A_WEEK if weekday(first) < 2 and rng.random() < TWICE_A_WEEK_SHARE else WEEKLY
        more = 1 + min(MAX_SESSIONS - 2, int(rng.expovariate(1 / CONTINUATION_MEAN))) if retained else 0
        drafts.append(maker.session(tables, student.id, first))
        if retained and drafts[0][0][5] == "completed":
            follow_ups, back = self.follow_ups(tables, student.id, first, cadence[0], end)
            drafts += follow_ups
            student.kept = len(drafts)
            if not back:  # the history ended first
                return student
        # Then the student's regular slot (same weekday and hour), after any make-up sessions.
        total, last = min(1 + more, max(limit, student.kept)), drafts[-1][4]
        moment, step = first, 0
        while len(drafts) < total:
            moment += cadence[step % len(cadence)] * DAY
            step += 1
            if moment > end:
                break
            if moment > last:
                drafts.append(maker.session(tables, student.id, moment))
        return student

    def follow_ups(
        self, tables: TutorTables, student_id: str, first: float, step: int, end: float
    ) -> tuple[list[tuple], bool]:
        """A retained student's sessions after a completed first one, until one is completed
        (a make-up when one falls through). Returns (drafts, whether one was completed).
        When the first session is old enough to count, the student must be back within 14 days:
        the last chance (the 8th follow-up, or less than 3 hours left) is completed whatever the
        rates, which is rare (RowMaker.forced). Otherwise the history may end first."""
        deadline = first + FOLLOW_UP_DAYS * DAY
        counts = deadline <= end
        deadline = min(deadline, end)
        maker, booked, moment = self.maker, None, first + step * DAY
        drafts: list[tuple[Any, ...]] = []
        while moment <= deadline:
            last_chance = counts and (len(drafts) + 1 >= MAX_FOLLOW_UPS or deadline - moment < 3 * HOUR)
            make_up = self.make_up(moment, deadline)  # if this one falls through (a reschedule's new time)
            draft = maker.session(
                tables, student_id, moment, completed=last_chance, new_time=make_up, booked=booked
            )
            drafts.append(draft)
            if draft[0][5] == "completed":
                return drafts, True
            if make_up is None:
                break
            moment, booked = make_up, moment  # rebooked when the session fell through
        return drafts, False

    def make_up(self, moment: float, deadline: float) -> float | None:
        """When a student rebooks a rescheduled or missed follow-up: at a usual time (busy days, the
        evening peak) within the next week, and at least an hour before the deadline; None when
        there is no time left for that."""
        if deadline - moment < 3 * HOUR:
            return None
        return self.maker.sampler.start_time(moment + HOUR, min(moment + 7 * DAY, deadline - HOUR))


def trim(students: list[Student], excess: int) -> int:
    """Drop `excess` sessions from the ends of students' chains, never a first session or its
    follow-ups (so retention stays exact and which sessions go does not depend on their status).
    Returns what could not be dropped."""
    for student in reversed(students):
        while excess > 0 and len(student.drafts) > student.kept:
            student.drafts.pop()
            excess -= 1
    return max(0, excess)
