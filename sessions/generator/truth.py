"""Each tutor's true rates over time: what the generated sessions follow and the manifest records.

A rate is the probability that SPEC §5's measure estimates (fractions 0-1):
- reschedule: a session that happened was rescheduled by the tutor;
- no_show: a session that happened was a tutor no-show;
- retention: a new student's completed first session is followed by another completed session
  with the same tutor within 14 days (taken at the time of the first session).

The baseline of each measure is logit-normal: one latent shared by the three measures ("how
reliable is this tutor", LATENT_WEIGHT of the spread) plus an independent part, so the measures
are correlated but a tutor often has only one problem. Volume has its own log-normal draw.
Changes over time: a tutor may turn bad on a drawn day (one measure jumps) and maybe recover,
improve (its worst measure becomes good), or have a bad week (a burst). The rates are constant
between those moments: the tutor's periods.
"""

import math
import random
from dataclasses import dataclass, field

DAY = 86_400


@dataclass(frozen=True)
class Rates:
    reschedule: float
    no_show: float
    retention: float


# The product's default thresholds (ScoringSettings); a flag is raised above them (retention: below).
THRESHOLDS = Rates(reschedule=0.15, no_show=0.10, retention=0.60)

# Baseline: (median, spread) of each measure on the logit scale.
RESCHEDULE_LOGIT = (math.log(0.095 / 0.905), 0.75)
NO_SHOW_LOGIT = (math.log(0.03 / 0.97), 0.80)
RETENTION_LOGIT = (math.log(0.83 / 0.17), 0.70)
LATENT_WEIGHT = 0.45  # loading of the shared latent: correlation 0.45² ≈ 0.2 between measures
VOLUME_SIGMA = 0.7  # log-normal spread of sessions per day (5th-95th percentile: 0.3x-3.2x the median)
INACTIVE_STOPPED_DAYS = (15, 45)  # inactive tutors stopped that long before now (90-day history)

# Changes over time.
TURN_BAD_SHARE = 0.12
TURN_BAD = {  # measure: (share of the tutors turning bad, range of the bad value)
    "reschedule": (0.50, (0.35, 0.60)),
    "no_show": (0.25, (0.20, 0.35)),
    "retention": (0.25, (0.25, 0.45)),
}
RECOVER_SHARE = 0.40  # of those turning bad
RECOVER_AFTER_DAYS = (14, 45)
IMPROVE_SHARE = 0.35  # of the tutors beyond a threshold at baseline (and not turning bad)
IMPROVED = {"reschedule": (0.03, 0.09), "no_show": (0.01, 0.04), "retention": (0.75, 0.90)}
BURST_SHARE = 0.15
BURST_DAYS = 7
BURST = {"reschedule": (0.80, (0.25, 0.45)), "no_show": (0.20, (0.15, 0.30))}  # measure: (share, added)
CAPS = Rates(reschedule=0.80, no_show=0.40, retention=0.05)  # retention: a floor
TUTOR_INITIATED = 0.982  # share of reschedules the tutor asks for (SPEC §1); the rest are the student's
STUDENT_NO_SHOW_RATE = 0.0075  # students missing a session: 15% of a 5% no-show share
MAX_PROBABILITY = 0.97  # a session's reschedule + no-show probabilities stay under this

# Profile labels, derived from the rates: the worst measure relative to its threshold.
# (The product's score severity is 50x this value.) Tuned so the tutors at `now` are ~60/25/15%.
HIGH_SEVERITY = 1.5  # reschedules ≥ 22.5%, no-shows ≥ 15% or retention ≤ 40%: clearly beyond
MEDIUM_SEVERITY = 0.85  # reschedules ≥ 12.75%, no-shows ≥ 8.5% or retention ≤ 66%: near or beyond
PROFILES = ("low", "medium", "high")


def severity(rates: Rates) -> float:
    """The worst measure as a multiple of its threshold (retention: of the distance below 100%)."""
    return max(
        rates.reschedule / THRESHOLDS.reschedule,
        rates.no_show / THRESHOLDS.no_show,
        (1 - rates.retention) / (1 - THRESHOLDS.retention),
    )


def profile_of(rates: Rates) -> str:
    """low: every rate comfortably inside its threshold; high: one clearly beyond; medium: between."""
    value = severity(rates)
    return "high" if value >= HIGH_SEVERITY else "medium" if value >= MEDIUM_SEVERITY else "low"


def problems(rates: Rates) -> list[str]:
    """The measures beyond their threshold."""
    return [
        name
        for name, beyond in (
            ("reschedule", rates.reschedule > THRESHOLDS.reschedule),
            ("no_show", rates.no_show > THRESHOLDS.no_show),
            ("retention", rates.retention < THRESHOLDS.retention),
        )
        if beyond
    ]


@dataclass(frozen=True)
class Change:
    """From start to end, one measure is `value`; worse=True keeps the current rate when it is worse."""

    kind: str  # turn_bad, improve, burst
    measure: str
    value: float
    start: float  # epoch seconds
    end: float
    worse: bool = True


@dataclass(frozen=True)
class Period:
    """Constant true rates over [start, end) (epoch seconds); no sessions when not active."""

    start: float
    end: float
    rates: Rates
    active: bool

    @property
    def profile(self) -> str:
        return profile_of(self.rates)


@dataclass
class TutorTruth:
    baseline: Rates
    volume: float  # relative sessions per day, scaled to the requested total by the allocation
    start: float  # the history: [start, end)
    end: float
    active_until: float
    changes: list[Change] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)

    @property
    def active_days(self) -> float:
        return (self.active_until - self.start) / DAY


def _logit_normal(median_logit: float, spread: float, latent: float, rng: random.Random) -> float:
    own = rng.gauss(0, 1)
    value = median_logit + spread * (LATENT_WEIGHT * latent + math.sqrt(1 - LATENT_WEIGHT**2) * own)
    return 1 / (1 + math.exp(-value))


def draw_baseline(rng: random.Random) -> Rates:
    latent = rng.gauss(0, 1)  # higher: less reliable
    return Rates(
        reschedule=min(CAPS.reschedule, _logit_normal(*RESCHEDULE_LOGIT, latent, rng)),
        no_show=min(CAPS.no_show, _logit_normal(*NO_SHOW_LOGIT, latent, rng)),
        retention=max(CAPS.retention, _logit_normal(*RETENTION_LOGIT, -latent, rng)),
    )


def _pick(
    rng: random.Random, weighted: dict[str, tuple[float, tuple[float, float]]]
) -> tuple[str, tuple[float, float]]:
    draw = rng.random()
    for name, (share, value_range) in weighted.items():
        if draw < share:
            return name, value_range
        draw -= share
    return name, value_range


def _draw_changes(rng: random.Random, baseline: Rates, start: float, active_until: float) -> list[Change]:
    """A tutor's turn for the worse (maybe recovered), improvement and bad week, in the active time."""
    span = active_until - start
    if span < 14 * DAY:
        return []
    changes: list[Change] = []
    draw = rng.random()
    if draw < TURN_BAD_SHARE:
        measure, (low, high) = _pick(rng, TURN_BAD)
        moment = rng.uniform(start + 0.1 * span, active_until - DAY)
        until = math.inf
        if rng.random() < RECOVER_SHARE:
            until = moment + rng.uniform(*RECOVER_AFTER_DAYS) * DAY
        changes.append(Change("turn_bad", measure, rng.uniform(low, high), moment, until))
    elif problems(baseline) and rng.random() < IMPROVE_SHARE:
        measure = max(problems(baseline), key=lambda name: severity(_only(baseline, name)))
        moment = rng.uniform(start + 0.1 * span, active_until - DAY)
        changes.append(Change("improve", measure, rng.uniform(*IMPROVED[measure]), moment, math.inf, False))
    if rng.random() < BURST_SHARE:
        measure, (low, high) = _pick(rng, BURST)
        moment = rng.uniform(start, active_until - DAY)
        value = getattr(baseline, measure) + rng.uniform(low, high)
        changes.append(Change("burst", measure, value, moment, moment + BURST_DAYS * DAY))
    return changes


def _only(rates: Rates, measure: str) -> Rates:
    """Rates where only `measure` counts (for ranking a tutor's problems)."""
    fine = Rates(0.0, 0.0, 1.0)
    return Rates(**{**fine.__dict__, measure: getattr(rates, measure)})


def rates_at(truth: TutorTruth, moment: float) -> Rates:
    """The tutor's true rates at `moment` (epoch seconds): baseline, then the changes in force."""
    values = dict(truth.baseline.__dict__)
    for change in truth.changes:  # improvements and turns for the worse come before bursts
        if change.start <= moment < change.end:
            current = values[change.measure]
            if not change.worse:
                values[change.measure] = change.value
            elif change.measure == "retention":
                values["retention"] = min(current, change.value)
            else:
                values[change.measure] = max(current, change.value)
    reschedule = min(CAPS.reschedule, values["reschedule"])
    room = MAX_PROBABILITY - STUDENT_NO_SHOW_RATE - reschedule / TUTOR_INITIATED
    return Rates(
        reschedule=reschedule,
        no_show=min(CAPS.no_show, room, values["no_show"]),
        retention=max(CAPS.retention, values["retention"]),
    )


def periods(truth: TutorTruth) -> list[Period]:
    """The history cut where any rate or the activity changes; the periods tile [start, end)."""
    cuts = {truth.start, truth.end, truth.active_until}
    for change in truth.changes:
        cuts.update(moment for moment in (change.start, change.end) if truth.start < moment < truth.end)
    ordered = sorted(cuts)
    result: list[Period] = []
    for begin, finish in zip(ordered, ordered[1:], strict=False):
        period = Period(begin, finish, rates_at(truth, begin), begin < truth.active_until)
        last = result[-1] if result else None
        if last and (last.rates, last.active) == (period.rates, period.active):
            result[-1] = Period(last.start, finish, last.rates, last.active)
        else:
            result.append(period)
    return result


def draw_truth(rng: random.Random, *, start: float, end: float, is_active: bool) -> TutorTruth:
    """One tutor's truth over the history [start, end) (epoch seconds)."""
    baseline = draw_baseline(rng)
    volume = rng.lognormvariate(0, VOLUME_SIGMA)
    active_until = end
    if not is_active:
        history_days = (end - start) / DAY
        stopped = rng.uniform(*INACTIVE_STOPPED_DAYS) * min(1.0, history_days / 90)
        active_until = max(start + DAY, end - stopped * DAY)
    truth = TutorTruth(baseline, volume, start, end, active_until)
    truth.changes = sorted(_draw_changes(rng, baseline, start, active_until), key=lambda c: c.kind == "burst")
    truth.periods = periods(truth)
    return truth


def mean_rates(truth: TutorTruth) -> Rates:
    """The rates averaged over the active time (what a tutor's whole history should measure)."""
    total = 0.0
    sums = [0.0, 0.0, 0.0]
    for period in truth.periods:
        if period.active:
            length = period.end - period.start
            total += length
            sums[0] += length * period.rates.reschedule
            sums[1] += length * period.rates.no_show
            sums[2] += length * period.rates.retention
    return Rates(*(value / total for value in sums)) if total else truth.baseline
