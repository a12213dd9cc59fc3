"""Counts gathered while the rows are built: the command's summary and the validation report."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from ..rescheduling import LAST_MINUTE_HOURS
from .calendar import DAY, HOUR, PEAK_HOURS, window_shares
from .plan import TutorPlan
from .students import Student
from .truth import problems

# Columns of Stats.per_tutor: one row of counts per tutor, then the weekday and peak sessions
# expected over the tutor's history (calendar.window_shares).
COLUMNS = (
    *("past", "completed", "rescheduled", "no_show", "tutor_no_show", "last_minute", "weekday", "peak"),
    *("expected_weekday", "expected_peak"),
)
PAST, COMPLETED, RESCHEDULED, NO_SHOW, TUTOR_NO_SHOW, LAST_MINUTE, WEEKDAY, PEAK = range(8)
EXPECTED_WEEKDAY, EXPECTED_PEAK = 8, 9


@dataclass
class Stats:
    """Counts gathered while generating, for the summary and the validation report."""

    tutors: int = 0
    active: int = 0
    profiles: Counter = field(default_factory=Counter)  # the label of each tutor's truth at `now`
    truth: Counter = field(default_factory=Counter)  # tutors turning bad, improving, ...
    status: Counter = field(default_factory=Counter)
    initiators: Counter = field(default_factory=Counter)
    no_show_by: Counter = field(default_factory=Counter)
    reason_codes: Counter = field(default_factory=Counter)
    last_minute: int = 0
    rated: int = 0
    past_sessions: int = 0
    min_duration: int = 10**6
    max_duration: int = 0
    students: int = 0
    repeat_students: int = 0
    forced: int = 0  # follow-ups completed whatever their draw, to keep retention exact (students.py)
    first_sessions: Counter = field(default_factory=Counter)  # completed, old enough, by profile at the time
    retained: Counter = field(default_factory=Counter)
    # Expected counts under the drawn truth, and their variances.
    expected: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    per_tutor: list = field(default_factory=list)  # per tutor, counts in COLUMNS order
    seconds: float = 0.0

    @property
    def reschedules(self) -> int:
        return self.status["rescheduled"]

    @property
    def sessions(self) -> int:
        return sum(self.status.values())

    def add_plans(self, plans: list[TutorPlan]) -> None:
        """The tutors and their drawn truth."""
        self.tutors = len(plans)
        self.active = sum(plan.is_active for plan in plans)
        self.profiles.update(plan.profile for plan in plans)
        for plan in plans:
            truth = plan.truth
            self.truth.update(change.kind for change in truth.changes)
            self.truth["recover"] += any(c.kind == "turn_bad" and c.end < truth.end for c in truth.changes)
            self.truth["reschedule_10_25"] += 0.10 <= truth.baseline.reschedule <= 0.25
            self.truth[f"problems_{len(problems(truth.baseline))}"] += 1

    def add_tutor(self, students: list[Student], cutoff: float, window: tuple[float, float]) -> None:
        """One tutor's finished students (see students.Student); `cutoff`: the latest first session
        old enough to count for retention; `window`: when its past sessions could start
        (students.history_window)."""
        drafts = [draft for student in students for draft in student.drafts]
        rows = [draft[0] for draft in drafts]
        reschedules = [draft[1] for draft in drafts if draft[1] is not None]
        moments = [draft[4] for draft in drafts]
        statuses = Counter(row[5] for row in rows)
        counts: list[float] = [0] * len(COLUMNS)
        counts[PAST], counts[COMPLETED] = len(rows), statuses["completed"]
        counts[RESCHEDULED], counts[NO_SHOW] = statuses["rescheduled"], statuses["no_show"]
        counts[TUTOR_NO_SHOW] = sum(row[8] == "tutor" for row in rows)
        last_minute = sum(reschedule[8] < LAST_MINUTE_HOURS for reschedule in reschedules)
        counts[LAST_MINUTE] = last_minute
        counts[WEEKDAY] = sum((int(moment // DAY) + 3) % 7 < 5 for moment in moments)
        counts[PEAK] = sum(int(moment % DAY // HOUR) in PEAK_HOURS for moment in moments)
        weekday_share, peak_share = window_shares(*window)
        counts[EXPECTED_WEEKDAY], counts[EXPECTED_PEAK] = len(rows) * weekday_share, len(rows) * peak_share
        self.per_tutor.append(counts)
        self.past_sessions += len(rows)
        self.status.update(statuses)
        self.initiators.update(reschedule[2] for reschedule in reschedules)
        self.reason_codes.update(reschedule[6] for reschedule in reschedules)
        self.no_show_by.update(row[8] for row in rows if row[8])
        self.last_minute += last_minute
        self.rated += sum(row[7] is not None for row in rows)
        durations = [row[6] for row in rows if row[6] is not None]
        if durations:
            self.min_duration = min(self.min_duration, min(durations))
            self.max_duration = max(self.max_duration, max(durations))
        for name, index in (("reschedule", 2), ("no_show", 3)):
            probabilities = [draft[index] for draft in drafts]
            self.expected[name] += sum(probabilities)
            self.expected[f"{name}_variance"] += sum(p * (1 - p) for p in probabilities)
        for student in students:
            self.students += 1
            self.repeat_students += len(student.drafts) > 1
            if student.drafts[0][0][5] == "completed" and student.first_time <= cutoff:
                self.first_sessions[student.profile] += 1
                self.retained[student.profile] += student.measured_retained
                self.expected["retained"] += student.retention
                self.expected["retained_variance"] += student.retention * (1 - student.retention)
