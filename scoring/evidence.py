"""How much the data say about a tutor's true rate: the flag rule of SPEC §5 (docs/scoring.md).

A flag means "this tutor's true rate is very likely beyond the threshold", not "one window's
observed rate crossed it". Each window is weighed as a likelihood-ratio test between two rates:

    bad  = twice the threshold (capped at half-way to 100%)     good = half the threshold

    log_evidence(k of n) = k × ln(bad / good) + (n − k) × ln((1 − bad) / (1 − good))

that is ln of how many times likelier the window is if the tutor's true rate were `bad` than if
it were `good`. A flag is raised when that ratio reaches the evidence ratio of the settings
(default 20 : 1) and the window holds at least the minimum number of sessions. An observed rate
beyond the threshold without that evidence is *watching*: shown, no alert, no mail.

Retention (lower is worse) is weighed on its complement, the share of new students who did not
come back, against 100 − the retention threshold.

The strength of a component is 50 × ln(ratio of the data) / ln(ratio needed), from 0 (no
evidence of a problem, or no data) to 100 (the square of the needed ratio): exactly 50 where the
flag is raised. It never decreases with more sessions at a higher rate, because the log-evidence
is n × (rate × (a + b) − b) with a, b > 0: once positive it grows with both n and the rate.
"""

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

FLAG_STRENGTH = 50.0  # a component's strength where its flag is raised
MAX_STRENGTH = 100.0


def compared_rates(threshold_percent: float) -> tuple[float, float]:
    """(good, bad): the two rates, as fractions, whose likelihoods the test compares."""
    threshold = min(max(float(threshold_percent) / 100, 0.0001), 0.9999)
    return threshold / 2, min(2 * threshold, (1 + threshold) / 2)


def log_weights(threshold_percent: float) -> tuple[float, float]:
    """(ln(bad / good), ln((1 − bad) / (1 − good))): what one event, and one session without
    one, add to log_evidence."""
    good, bad = compared_rates(threshold_percent)
    return math.log(bad / good), math.log((1 - bad) / (1 - good))


def events_needed(total: int, threshold_percent: float, evidence_ratio: float) -> int | None:
    """The fewest events of `total` that raise the flag by evidence alone (None: not even all)."""
    per_event, per_other = log_weights(threshold_percent)
    needed = (math.log(evidence_ratio) - total * per_other) / (per_event - per_other)
    events = max(0, math.ceil(needed - 1e-9))
    return events if events <= total else None


@dataclass(frozen=True)
class Evidence:
    """One window's verdict on one rate."""

    events: int
    total: int
    window_days: int
    ratio: float  # how many times likelier the data are at the bad rate than at the good one
    strength: float  # 0–100, 50 where the flag is raised
    flagged: bool
    watching: bool  # observed rate beyond the threshold, not (yet) enough evidence
    held: bool = False  # flagged earlier, and the evidence still favours the bad rate

    @property
    def state(self) -> str:
        if self.flagged:
            return "flagged"
        if self.watching:
            return "watching"
        return "clear" if self.total else "no data"

    # Verdicts repeat across tutors (weigh() below is cached): each one's JSON is built once. The
    # dict is shared by every score holding that verdict, so it must never be changed in place.
    @functools.cached_property
    def json(self) -> dict:
        """The verdict as a score stores it (TutorScore.evidence[kind])."""
        return {
            "state": self.state,
            "window_days": self.window_days,
            "events": self.events,
            "total": self.total,
            "evidence_ratio": round(self.ratio, 2) if self.ratio < 1e6 else 1e6,
            "strength": round(self.strength, 1),
            "held": self.held,
        }


# A window is looked at afresh about every `window_days`, so a short one gets more chances a month
# to cross by chance: it must reach the ratio times the looks it gets per LOOK_PERIOD_DAYS.
LOOK_PERIOD_DAYS = 30


def ratio_needed(evidence_ratio: Decimal | float, window_days: int) -> float:
    """The evidence ratio a window must reach: the setting, × 30 / days for windows under 30 days."""
    return float(evidence_ratio) * max(1.0, LOOK_PERIOD_DAYS / window_days)


@functools.lru_cache(maxsize=256)
def _weights(
    threshold_percent: Decimal | float, evidence_ratio: Decimal | float, window_days: int
) -> tuple[float, float, float, float]:
    """(ln of the ratio needed, ln(bad / good), ln((1 − bad) / (1 − good)), threshold as a float):
    the same for every tutor of one recompute, so worked out once per setting, not per window."""
    return (
        math.log(ratio_needed(evidence_ratio, window_days)),
        *log_weights(float(threshold_percent)),
        float(threshold_percent),
    )


# Many tutors share the same counts (a recompute of 10,000 tutors weighed 8,288 distinct windows
# of 50,000), and an Evidence is immutable: each verdict is worked out once.
@functools.lru_cache(maxsize=1 << 16)
def weigh(
    events: int,
    total: int,
    *,
    window_days: int,
    threshold_percent: Decimal | float,
    evidence_ratio: Decimal | float,
    minimum: int,
    was_flagged: bool = False,
) -> Evidence:
    """The evidence of `events` of `total` against a "higher is worse" threshold (percent).

    A flag is raised at the needed ratio; once raised (`was_flagged`) it stays while a window of
    30 days or more still favours the bad rate (ratio above 1), so it does not flap around the
    boundary: each flap would be a new alert."""
    needed, per_event, per_other, threshold = _weights(threshold_percent, evidence_ratio, window_days)
    # log_evidence (the module's docstring), with its logarithms worked out once per setting.
    log_ratio = events * per_event + (total - events) * per_other if total else 0.0
    strength = min(MAX_STRENGTH, FLAG_STRENGTH * max(0.0, log_ratio) / needed)
    raised = log_ratio >= needed - 1e-12
    held = was_flagged and window_days >= LOOK_PERIOD_DAYS and log_ratio > 0
    flagged = total >= minimum and (raised or held)
    strength = max(strength, FLAG_STRENGTH) if flagged else min(strength, FLAG_STRENGTH - 1)
    watching = not flagged and total > 0 and 100 * events > threshold * total
    return Evidence(
        events=events,
        total=total,
        window_days=window_days,
        ratio=math.exp(min(log_ratio, 50.0)),
        strength=strength,
        flagged=flagged,
        watching=watching,
        held=flagged and not raised,
    )


def strongest(verdicts: list[Evidence]) -> Evidence:
    """The verdict that says most: a flag first, then the strongest (its strength weighs the ratio
    against what its window needs), then a watch."""
    return max(verdicts, key=lambda each: (each.flagged, each.strength, each.watching, each.total))


TABLE_SIZES = (5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 90)


def flag_table(
    threshold_percent: Decimal | float,
    evidence_ratio: Decimal | float,
    minimum: int,
    sizes: Iterable[int] = TABLE_SIZES,
    window_days: int = 30,
) -> list[dict[str, Any]]:
    """[{total, needed, share}]: the fewest events of each window size that raise the flag."""
    rows = []
    for total in sizes:
        needed = events_needed(total, float(threshold_percent), ratio_needed(evidence_ratio, window_days))
        if total < minimum:
            needed = None
        rows.append(
            {"total": total, "needed": needed, "share": None if needed is None else 100 * needed / total}
        )
    return rows


def flag_tables(scoring) -> list[dict]:
    """The "flags at k of n" tables of `scoring` (the ScoringSettings) for "How scores work"."""
    ratio, minimum = scoring.flag_evidence_ratio, scoring.minimum_sessions
    return [
        {
            "title": f"Reschedules, 30- and 90-day windows: threshold {scoring.reschedule_rate_threshold:f}%",
            "note": "Fewest tutor reschedules that raise the flag, by sessions in the window.",
            "unit": "Sessions in the window",
            "events": "Flags at",
            "rows": flag_table(scoring.reschedule_rate_threshold, ratio, minimum),
        },
        {
            "title": "Reschedules, 7-day window",
            "note": "A week is looked at afresh four times a month, so it needs 30/7 times the ratio.",
            "unit": "Sessions in 7 days",
            "events": "Flags at",
            "rows": flag_table(scoring.reschedule_rate_threshold, ratio, minimum, window_days=7),
        },
        {
            "title": f"No-shows: threshold {scoring.no_show_rate_threshold:f}%",
            "note": "Fewest tutor no-shows in 30 days that raise the flag, by sessions in the window.",
            "unit": "Sessions in 30 days",
            "events": "Flags at",
            "rows": flag_table(scoring.no_show_rate_threshold, ratio, minimum),
        },
        {
            "title": f"First sessions: retention threshold {scoring.first_session_retention_threshold:f}%",
            "note": "Fewest new students not coming back that raise the flag, by first sessions in 90 days.",
            "unit": "First sessions",
            "events": "Flags at",
            "rows": flag_table(100 - scoring.first_session_retention_threshold, ratio, minimum),
        },
    ]
