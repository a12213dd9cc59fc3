"""When sessions happen: weekdays busier, the 15:00-20:00 evening peak, durations."""

import bisect
import functools
import itertools
import random
from collections.abc import Sequence
from typing import TypeVar

DAY = 86_400
HOUR = 3_600
T = TypeVar("T")

# Monday..Sunday: weekdays busier.
WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.85, 0.55, 0.45)
# Start hours (UTC): the 15:00-20:00 evening peak.
HOUR_WEIGHTS = {8: 1, 9: 1.5, 10: 2, 11: 2, 12: 2, 13: 2.5, 14: 3, 15: 7, 16: 9, 17: 10, 18: 10, 19: 8}
HOUR_WEIGHTS.update({20: 4, 21: 2})
PEAK_HOURS = range(15, 20)
DURATIONS = ((30, 0.15), (45, 0.15), (60, 0.40), (90, 0.20), (120, 0.10))
# A tutor's "bad weekday" has this many times the tutor's reschedule rate; the other days less, so
# the tutor's mean rate stays its true rate.
BAD_WEEKDAY_FACTOR = 2.5


def weekday(seconds: float) -> int:
    """Monday 0 .. Sunday 6 of an epoch time (UTC)."""
    return (int(seconds // DAY) + 3) % 7  # 1970-01-01 was a Thursday


# The half-hour start slots of a day (seconds after midnight) and their weights.
SLOTS = tuple((hour * HOUR + half, weight / 2) for hour, weight in HOUR_WEIGHTS.items() for half in (0, 1800))


@functools.lru_cache(maxsize=4096)
def window_shares(start: float, end: float) -> tuple[float, float]:
    """(weekday share, peak share) of session starts drawn in (start, end] with the weights:
    what a tutor's sessions should show over its history. A fixed share would not do: 90 days
    are 12 weeks and 6 days, so which weekday occurs once less, and whether the history ends on
    a weekend, depends on `now` (0.8 points between a Friday and a Sunday at a million
    sessions, three times the tolerance)."""
    first_day, last_day = int(start // DAY), int(end // DAY)
    weekday_mass = peak_mass = total_mass = 0.0
    for day in range(first_day, last_day + 1):
        # The first and last days may be cut: only their slots inside the window count.
        slots = SLOTS if first_day < day < last_day else [s for s in SLOTS if start < day * DAY + s[0] <= end]
        day_of_week = weekday(day * DAY)
        day_weight = WEEKDAY_WEIGHTS[day_of_week]
        mass = day_weight * sum(weight for _, weight in slots)
        total_mass += mass
        weekday_mass += mass if day_of_week < 5 else 0.0
        peak_mass += day_weight * sum(weight for at, weight in slots if at // HOUR in PEAK_HOURS)
    if not total_mass:
        return 0.0, 0.0
    return weekday_mass / total_mass, peak_mass / total_mass


def weekday_factors(bad_weekday: int | None, rate: float, cap: float) -> tuple[float, ...]:
    """Per weekday, the factor on a reschedule probability `rate`: BAD_WEEKDAY_FACTOR on the bad day
    (capped so the probability stays under `cap`), the other days lowered so the mean over the
    weekday mix of sessions is exactly 1."""
    if bad_weekday is None or rate <= 0:
        return (1.0,) * 7
    shares = [weight / sum(WEEKDAY_WEIGHTS) for weight in WEEKDAY_WEIGHTS]
    bad = min(BAD_WEEKDAY_FACTOR, cap / rate, 1 / shares[bad_weekday])
    others = (1 - shares[bad_weekday] * bad) / (1 - shares[bad_weekday])
    return tuple(bad if day == bad_weekday else others for day in range(7))


class Sampler:
    """Fast weighted draws of session start times and durations from one seeded Random."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.hours = list(HOUR_WEIGHTS)
        self.hour_cum = list(itertools.accumulate(HOUR_WEIGHTS.values()))
        self.durations = [minutes for minutes, _ in DURATIONS]
        self.duration_cum = list(itertools.accumulate(weight for _, weight in DURATIONS))

    def pick(self, values: Sequence[T], cumulative: Sequence[float]) -> T:
        return values[bisect.bisect(cumulative, self.rng.random() * cumulative[-1])]

    def duration(self) -> int:
        return self.pick(self.durations, self.duration_cum)

    def start_time(self, start: float, end: float) -> float:
        """A session start in (start, end]: weekday-weighted day, peak-weighted hour, :00 or :30."""
        random = self.rng.random
        first_day, last_day = int(start // DAY), int(end // DAY)
        for _ in range(50):
            day = first_day + int(random() * (last_day - first_day + 1))
            if random() >= WEEKDAY_WEIGHTS[(day + 3) % 7]:
                continue
            hour = self.hours[bisect.bisect(self.hour_cum, random() * self.hour_cum[-1])]
            moment = day * DAY + hour * HOUR + (1800 if random() < 0.5 else 0)
            if start < moment <= end:
                return moment
        return end - (end % 1800)  # tiny windows: the last half hour before the end
