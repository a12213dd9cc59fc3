"""The platform, simulated: what it would post to the API, and when (used by simulate_platform).

Time is compressed so a run of a minute shows the whole life of sessions: a session is
scheduled a few seconds ahead, and when its time comes the platform reports it completed or
missed — or, before then, rescheduled. Each tutor has a drawn profile, so some tutors end up
flagged.

The seed draws the tutors (ids, e-mails, profiles): the same seed plays the same tutors again, so
their history grows run after run, and another seed plays other tutors, whose ids and e-mails
are their own (never those of another seed's or of `generate_data`'s tutors). The sessions are
new on every run (`run`, random unless given), so a replay never rewrites an earlier run's.
"""

import heapq
import itertools
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

PROFILES = {
    # profile: (share of tutors, reschedule probability, no-show probability)
    "low": (0.60, 0.04, 0.01),
    "medium": (0.25, 0.14, 0.03),
    "high": (0.15, 0.35, 0.10),
}
REASONS = [
    "Scheduling conflict with another class",
    "Family emergency",
    "Feeling sick",
    "Internet outage",
    "Personal errand",
    "Double booked",
    "Car trouble",
]
TUTOR_SHARE_OF_RESCHEDULES = 0.982


def _draw_uuid(source: random.Random) -> uuid.UUID:
    return uuid.UUID(int=source.getrandbits(128), version=4)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class SimulatedTutor:
    id: uuid.UUID
    name: str
    email: str
    profile: str
    students: list[str]


@dataclass(order=True)
class FollowUp:
    due: datetime
    sequence: int
    payload: dict[str, Any] = field(compare=False)


class PlatformSimulator:
    """Yields session payloads: new sessions, and follow-ups of earlier ones as they fall due."""

    def __init__(
        self, *, seed: int = 42, tutors: int = 50, lead_seconds: float = 20, run: object = None
    ) -> None:
        # A string seed of its own: generate_data's Random(seed) draws other tutor ids.
        tutor_random = random.Random(f"simulate_platform tutors {seed}")
        self.tutors = [self._tutor(tutor_random, index, seed) for index in range(tutors)]
        self.random = random.Random(
            f"simulate_platform sessions {seed} {uuid.uuid4() if run is None else run}"
        )
        self.lead_seconds = lead_seconds
        self.pending: list[FollowUp] = []  # a heap
        self.sequence = itertools.count()

    @staticmethod
    def _tutor(tutor_random: random.Random, index: int, seed: int) -> SimulatedTutor:
        draw, cumulative = tutor_random.random(), 0.0
        profile = "high"
        for name, (share, _reschedule, _no_show) in PROFILES.items():
            cumulative += share
            if draw < cumulative:
                profile = name
                break
        tutor_id = _draw_uuid(tutor_random)
        students = [f"sim-student-{index}-{number}" for number in range(tutor_random.randint(3, 12))]
        return SimulatedTutor(
            id=tutor_id,
            name=f"Simulated Tutor {index + 1:03d} (seed {seed})",
            email=f"sim-tutor-{tutor_id}@example.com",  # unique as the id: no seed takes another's
            profile=profile,
            students=students,
        )

    def next_payload(self, *, now: datetime) -> dict[str, Any]:
        """The next thing the platform posts at `now`: a due follow-up first, else a new session."""
        if self.pending and self.pending[0].due <= now:
            follow_up = heapq.heappop(self.pending)
            return self._finish(follow_up.payload, now=now)
        return self._schedule(now=now)

    def _schedule(self, *, now: datetime) -> dict[str, Any]:
        tutor = self.random.choice(self.tutors)
        scheduled_time = now + timedelta(seconds=self.random.uniform(2, self.lead_seconds))
        payload = {
            "session_id": str(_draw_uuid(self.random)),
            "tutor_id": str(tutor.id),
            "tutor_name": tutor.name,
            "tutor_email": tutor.email,
            "student_id": self.random.choice(tutor.students),
            "scheduled_time": iso(scheduled_time),
            "status": "scheduled",
            "duration_minutes": self.random.choice([30, 45, 60, 60, 90, 120]),
        }
        _share, reschedule_probability, no_show_probability = PROFILES[tutor.profile]
        draw = self.random.random()
        if draw < reschedule_probability:
            # Reschedules are asked for before the session; often at the last minute.
            due = now + (scheduled_time - now) * self.random.uniform(0.1, 0.9)
            fate = "rescheduled"
        elif draw < reschedule_probability + no_show_probability:
            due, fate = scheduled_time + timedelta(seconds=1), "no_show"
        else:
            due, fate = scheduled_time + timedelta(seconds=self.random.uniform(1, 3)), "completed"
        heapq.heappush(self.pending, FollowUp(due, next(self.sequence), {**payload, "status": fate}))
        return payload

    def _finish(self, payload: dict[str, Any], *, now: datetime) -> dict[str, Any]:
        payload = dict(payload)
        if payload["status"] == "completed":
            scheduled_time = datetime.fromisoformat(payload["scheduled_time"])
            payload["completed_time"] = iso(max(now, scheduled_time))
            # Time is compressed: the session lasted the seconds it had, which the API checks
            # duration_minutes against (a minute at least).
            payload["duration_minutes"] = max(1, round((now - scheduled_time).total_seconds() / 60))
            if self.random.random() < 0.3:
                payload["student_rating"] = self.random.choice([3, 4, 4, 5, 5])
        elif payload["status"] == "rescheduled":
            original_time = datetime.fromisoformat(payload["scheduled_time"])
            by_tutor = self.random.random() < TUTOR_SHARE_OF_RESCHEDULES
            payload["reschedule_info"] = {
                "initiator": "tutor" if by_tutor else "student",
                "reason": self.random.choice(REASONS),
                "original_time": payload["scheduled_time"],
                "new_time": iso(original_time + timedelta(days=self.random.randint(1, 3))),
            }
        return payload
