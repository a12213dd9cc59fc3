"""All the rows, tutor after tutor, in chunks: sessions that happened, then the upcoming ones."""

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from .plan import Options, TutorPlan, allocate
from .rows import RowMaker, with_flags
from .stats import Stats
from .store import SESSION_COLUMNS
from .students import FOLLOW_UP_DAYS, Student, StudentMaker, history_window, trim

DAY = 86_400

RETAINED = SESSION_COLUMNS.index("first_session_retained")  # position in a session row


def generate_rows(plans: list[TutorPlan], options: Options, stats: Stats) -> Iterator[tuple[list, list]]:
    """Yield (session_rows, reschedule_rows) chunks in a fixed order: a pure function of the plans,
    the seed and `now`. Exactly options.sessions sessions in all (see _settle)."""
    maker = RowMaker(random.Random(f"{options.seed}/rows"), options.now.timestamp())
    students = StudentMaker(maker, options.seed)
    cutoff = options.now.timestamp() - FOLLOW_UP_DAYS * DAY  # first sessions old enough to count
    planned_future = sum(plan.future_sessions for plan in plans)
    session_rows, reschedule_rows = [], []
    recent = {}
    carried = 0
    for index, plan in enumerate(plans):
        tutor_students, excess = students.tutor(plan, plan.past_sessions - carried)
        last = index == len(plans) - 1
        carried = _settle(tutor_students, excess, planned_future if last else None)
        recent[plan.id] = _continuing(tutor_students, options.now - timedelta(days=FOLLOW_UP_DAYS))
        for student in tutor_students:
            rows = with_flags(student.drafts)
            student.measured_retained = rows[0][RETAINED]
            session_rows += rows
            reschedule_rows += [draft[1] for draft in student.drafts if draft[1] is not None]
        stats.add_tutor(tutor_students, cutoff, history_window(plan.truth))
        if len(session_rows) >= options.chunk_size:
            yield session_rows, reschedule_rows
            session_rows, reschedule_rows = [], []

    stats.forced = maker.forced
    future_total = max(0, options.sessions - stats.past_sessions)
    active = [plan.past_sessions if plan.is_active else 0 for plan in plans]
    for plan, count in zip(plans, allocate(future_total, active), strict=True):
        plan.future_sessions = count
        for _ in range(count):
            students_of_tutor = recent.get(plan.id) or [f"stu-{options.seed}-new-{plan.external_id}"]
            student_id = students_of_tutor[maker.rng.randrange(len(students_of_tutor))]
            session_rows.append(maker.upcoming(plan, student_id, options.now))
    stats.status["scheduled"] += future_total
    if session_rows:
        yield session_rows, reschedule_rows


def _continuing(students: list[Student], since: datetime) -> list[str]:
    """The students who had a session lately: the ones who book the upcoming sessions."""
    recent = [student.id for student in students if student.drafts and student.drafts[-1][0][3] >= since]
    return recent or [student.id for student in students]


def _settle(students: list[Student], excess: int, room: int | None) -> int:
    """Sessions a tutor holds beyond its share are carried to the next tutor's share. The last tutor
    has nobody to carry them to: they come out of the upcoming sessions (`room`), and beyond that out
    of its own students' follow-ups and latest students (tiny data sets only; retention may then
    be measured a little low)."""
    if room is None or excess <= room:
        return excess
    excess -= room
    for student in reversed(students):
        student.kept = 1
    excess = trim(students, excess)
    while excess > 0 and students and len(students[-1].drafts) <= excess:
        excess -= len(students.pop().drafts)
    if excess > 0 and students:
        del students[-1].drafts[-excess:]
    return 0
