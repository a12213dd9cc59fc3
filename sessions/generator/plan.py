"""The tutors to generate: identity, drawn truth, habits, and how many sessions each one gets."""

import bisect
import itertools
import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from faker.providers.person.en_US import Provider as FakerPerson

from ..models import REASON_CODES
from .truth import DAY, TutorTruth, draw_truth

ACTIVE_SHARE = 0.90  # exact quota
FUTURE_SHARE = 0.01  # upcoming `scheduled` sessions, part of --sessions
BAD_WEEKDAY_SHARE = 0.35  # tutors with a weekday on which they reschedule 2.5x as often (often Friday)
LAST_MINUTE_HABIT = (0.15, 0.65)  # per tutor share of last-minute reschedules (mean 40%)


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
    is_active: bool
    created_at: datetime
    truth: TutorTruth
    last_minute_share: float
    bad_weekday: int | None
    reason_cum_weights: list[float] = field(default_factory=list)
    past_sessions: int = 0  # sessions that happened (the allocation; the rows may differ by a few)
    future_sessions: int = 0

    @property
    def profile(self) -> str:
        """The label of the tutor's truth at `now` (see truth.profile_of)."""
        return self.truth.periods[-1].profile

    @property
    def sessions_per_day(self) -> float:
        """Sessions that happened per day of teaching (the allocation over the active days)."""
        return self.past_sessions / max(self.truth.active_days, 1e-9)


_VERSION_4_MASK = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4_BITS = (4 << 76) | (0x8000 << 48)
_UNKNOWN = uuid.SafeUUID.unknown  # an enum attribute lookup costs more than the rest of uuid4()


def uuid4(rng: random.Random) -> uuid.UUID:
    """A random (version 4) UUID from `rng`: uuid.UUID(int=..., version=4) without its checks,
    three times faster (a million sessions need a million ids)."""
    value = uuid.UUID.__new__(uuid.UUID)
    object.__setattr__(value, "int", (rng.getrandbits(128) & _VERSION_4_MASK) | _VERSION_4_BITS)
    object.__setattr__(value, "is_safe", _UNKNOWN)
    return value


class Names:
    """Faker's US first and last names with Faker's weights, drawn from our own Random (Faker's
    own weighted draw costs a quarter of a millisecond a name: seconds for 10,000 tutors)."""

    def __init__(self) -> None:
        self.first = list(FakerPerson.first_names)
        self.first_cumulative = list(itertools.accumulate(FakerPerson.first_names.values()))
        self.last = list(FakerPerson.last_names)
        self.last_cumulative = list(itertools.accumulate(FakerPerson.last_names.values()))

    def draw(self, rng: random.Random) -> tuple[str, str]:
        first = self.first[bisect.bisect(self.first_cumulative, rng.random() * self.first_cumulative[-1])]
        last = self.last[bisect.bisect(self.last_cumulative, rng.random() * self.last_cumulative[-1])]
        return first, last


def _ascii(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())


def allocate(total: int, weights: Sequence[float]) -> list[int]:
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


def _reason_habit(rng: random.Random) -> list[float]:
    """Cumulative weights over REASON_CODES: one main reason, a second one, a little of the rest."""
    habit, second = rng.sample(REASON_CODES, 2)
    weights = [
        0.25 / len(REASON_CODES) + (0.55 if code == habit else 0.2 if code == second else 0)
        for code in REASON_CODES
    ]
    total = 0.0
    cumulative: list[float] = []
    for weight in weights:
        total += weight
        cumulative.append(total)
    return cumulative


def _tutor(
    rng: random.Random, names: Names, options: Options, index: int, is_active: bool, emails: set[str]
) -> TutorPlan:
    now = options.now
    tutor_id = uuid4(rng)
    first, last = names.draw(rng)
    email = f"{_ascii(first)}.{_ascii(last)}.{tutor_id.hex[:6]}@example.com"
    if email in emails:  # practically never; keeps the unique constraint safe
        email = f"{_ascii(first)}.{_ascii(last)}.{tutor_id.hex}@example.com"
    emails.add(email)
    end = now.timestamp()
    truth = draw_truth(rng, start=end - options.days * DAY, end=end, is_active=is_active)
    bad_weekday = None
    if rng.random() < BAD_WEEKDAY_SHARE:
        bad_weekday = 4 if rng.random() < 0.5 else rng.randrange(7)
    return TutorPlan(
        id=tutor_id,
        external_id=f"T{index + 1:05d}",
        name=f"{first} {last}",
        email=email,
        is_active=is_active,
        created_at=now - timedelta(days=options.days + rng.randint(0, 365)),
        truth=truth,
        last_minute_share=rng.uniform(*LAST_MINUTE_HABIT),
        bad_weekday=bad_weekday,
        reason_cum_weights=_reason_habit(rng),
    )


def plan_tutors(options: Options) -> list[TutorPlan]:
    """Draw every tutor (a pure function of the seed and `now`) and split the sessions among them."""
    rng = random.Random(options.seed)
    names = Names()
    inactive_count = round(options.tutors * (1 - ACTIVE_SHARE))
    inactive = set(random.Random(f"{options.seed}/inactive").sample(range(options.tutors), inactive_count))
    emails: set[str] = set()
    plans = [
        _tutor(rng, names, options, index, index not in inactive, emails) for index in range(options.tutors)
    ]

    future_total = int(options.sessions * FUTURE_SHARE) if len(inactive) < len(plans) else 0
    weights = [plan.truth.volume * plan.truth.active_days for plan in plans]
    for plan, count in zip(plans, allocate(options.sessions - future_total, weights), strict=True):
        plan.past_sessions = count
    active_weights = [weight if plan.is_active else 0 for plan, weight in zip(plans, weights, strict=True)]
    for plan, count in zip(plans, allocate(future_total, active_weights), strict=True):
        plan.future_sessions = count
    return plans
