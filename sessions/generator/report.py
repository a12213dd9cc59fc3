"""What was generated, counted as it is built, against SPEC §10 and against the drawn truth.

Tolerances are three standard errors of the figure at this size. Session figures are clustered
by tutor (a tutor's sessions share its rates and habits), so the error counts tutors, not
sessions: 100 tutors give a few points, 10,000 a few tenths.
"""

import math
from collections.abc import Iterable
from typing import NamedTuple

from .stats import (
    COMPLETED,
    EXPECTED_PEAK,
    EXPECTED_WEEKDAY,
    LAST_MINUTE,
    NO_SHOW,
    PAST,
    PEAK,
    RESCHEDULED,
    TUTOR_NO_SHOW,
    WEEKDAY,
    Stats,
)
from .truth import BURST_SHARE, PROFILES, TURN_BAD_SHARE, TUTOR_INITIATED

# SPEC §10. The tutor profiles and the session mix are labels and outcomes of the truth model; see
# the package docstring for why the model's mix (DESIGN) has fewer reschedules than SPEC asks.
SPEC = {
    "profile_low": 0.60,
    "profile_medium": 0.25,
    "profile_high": 0.15,
    "active": 0.90,
    "completed": 0.70,
    "rescheduled": 0.25,
    "no_show": 0.05,
    "tutor_initiated": TUTOR_INITIATED,
    "last_minute": 0.40,
    "rated": 0.60,
    "upcoming": 0.01,
}
# What the truth model gives over many tutors (measured on 200,000 drawn tutors, 90-day history).
DESIGN = {"completed": 0.827, "rescheduled": 0.123, "no_show": 0.050, "no_show_by_tutor": 0.85}
LABEL_MODEL_GAP = 0.01  # the model gives 59.4 / 25.2 / 15.3%, within this of 60 / 25 / 15


class Check(NamedTuple):
    name: str
    actual: float | None
    target: float | None
    tolerance: float | None
    ok: bool
    note: str = ""


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _binomial_tolerance(share: float, count: float) -> float | None:
    return 3 * math.sqrt(share * (1 - share) / count) if count else None


def _clustered_tolerance(pairs: Iterable[tuple[float, float]]) -> float | None:
    """Three standard errors of sum(parts) / sum(wholes) with (part, whole) per tutor (clusters)."""
    kept = [(part, whole) for part, whole in pairs if whole]
    total = sum(whole for _, whole in kept)
    if len(kept) < 2 or not total:
        return None
    ratio = sum(part for part, _ in kept) / total
    spread = sum((part - ratio * whole) ** 2 for part, whole in kept) * len(kept) / (len(kept) - 1)
    return 3 * math.sqrt(spread) / total


def _check(
    name: str, actual: float | None, target: float | None, tolerance: float | None, note: str = ""
) -> Check:
    ok = (
        actual is not None
        and target is not None
        and tolerance is not None
        and abs(actual - target) <= tolerance
    )
    return Check(name, actual, target, tolerance, ok, note)


def _tutor_checks(stats: Stats) -> list[Check]:
    tutors = stats.tutors
    rows = []
    for profile in PROFILES:
        target = SPEC[f"profile_{profile}"]
        tolerance = _binomial_tolerance(target, tutors)
        actual = _share(stats.profiles[profile], tutors)
        rows.append(
            _check(
                f"tutors: {profile} risk (truth at now)",
                actual,
                target,
                tolerance and tolerance + LABEL_MODEL_GAP,
            )
        )
    rows.append(_check("tutors: active", _share(stats.active, tutors), SPEC["active"], 1 / max(tutors, 1)))
    for kind, name, share in (
        ("turn_bad", "turning bad", TURN_BAD_SHARE),
        ("burst", "with a bad week", BURST_SHARE),
    ):
        rows.append(
            _check(
                f"tutors: {name}",
                _share(stats.truth[kind], tutors),
                share,
                _binomial_tolerance(share, tutors),
            )
        )
    return rows


# Shares of per-tutor counts (stats.py's columns): name, part, whole, target, note.
CLUSTERED = (
    ("sessions: completed", COMPLETED, PAST, DESIGN["completed"], "SPEC 70%"),
    ("sessions: rescheduled", RESCHEDULED, PAST, DESIGN["rescheduled"], "SPEC 25%"),
    ("sessions: no-show", NO_SHOW, PAST, DESIGN["no_show"], ""),
    ("reschedules: last-minute (<24 h)", LAST_MINUTE, RESCHEDULED, SPEC["last_minute"], ""),
    ("no-shows: by the tutor", TUTOR_NO_SHOW, NO_SHOW, DESIGN["no_show_by_tutor"], ""),
)
# Calendar shares against what the weights give over each tutor's own history (the expected
# columns, from calendar.window_shares): name, part, expected part. Students put a little more on
# weekdays than such a spread (twice-a-week students start on a Monday or Tuesday and keep to
# weekdays): +0.18 points on average over the seven weekdays of `now` at a million sessions (up
# to 0.24; the peak within 0.3 either way), which the tolerance allows, as LABEL_MODEL_GAP does.
CALENDAR = (
    ("sessions: on weekdays", WEEKDAY, EXPECTED_WEEKDAY),
    ("sessions: 15:00-20:00 start", PEAK, EXPECTED_PEAK),
)
CALENDAR_MODEL_GAP = 0.003


def _session_checks(stats: Stats) -> list[Check]:
    rows = []
    for name, part, whole, target, note in CLUSTERED:
        pairs = [(counts[part], counts[whole]) for counts in stats.per_tutor]
        actual = _share(sum(count for count, _ in pairs), sum(count for _, count in pairs))
        rows.append(_check(name, actual, target, _clustered_tolerance(pairs), note))
    past = sum(counts[PAST] for counts in stats.per_tutor)
    for name, part, expected in CALENDAR:
        pairs = [(counts[part], counts[PAST]) for counts in stats.per_tutor]
        tolerance = _clustered_tolerance(pairs)
        rows.append(
            _check(
                name,
                _share(sum(count for count, _ in pairs), past),
                _share(sum(counts[expected] for counts in stats.per_tutor), past),
                tolerance and tolerance + CALENDAR_MODEL_GAP,
            )
        )
    for name, part, whole, target in (
        (
            "reschedules: tutor-initiated",
            stats.initiators["tutor"],
            stats.reschedules,
            SPEC["tutor_initiated"],
        ),
        ("completed: rated", stats.rated, stats.status["completed"], SPEC["rated"]),
        ("sessions: upcoming (scheduled)", stats.status["scheduled"], stats.sessions, SPEC["upcoming"]),
    ):
        rows.append(_check(name, _share(part, whole), target, _binomial_tolerance(target, whole)))
    return rows


def _truth_checks(stats: Stats) -> list[Check]:
    """The generated sessions against the truth they were drawn from (expected counts)."""
    past, expected = stats.past_sessions, stats.expected
    firsts = sum(stats.first_sessions.values())
    rows = []
    for name, actual, target, variance, whole in (
        (
            "tutor reschedule rate vs truth",
            stats.initiators["tutor"],
            expected["reschedule"],
            expected["reschedule_variance"],
            past,
        ),
        (
            "tutor no-show rate vs truth",
            stats.no_show_by["tutor"],
            expected["no_show"],
            expected["no_show_variance"],
            past,
        ),
        (
            "first-session retention vs truth",
            sum(stats.retained.values()),
            expected["retained"],
            expected["retained_variance"],
            firsts,
        ),
    ):
        tolerance = 3 * math.sqrt(variance) / whole if whole else None
        rows.append(_check(name, _share(actual, whole), _share(target, whole), tolerance))
    return rows


def validation_report(stats: Stats) -> list[Check]:
    """Checks of (name, actual, target, tolerance, ok, note): the data against SPEC §10, the truth
    model's design where it departs from SPEC on purpose (note), and the drawn truth."""
    report = _tutor_checks(stats) + _session_checks(stats) + _truth_checks(stats)
    report.append(
        Check(
            "durations within 30-120 min",
            None,
            None,
            None,
            stats.min_duration >= 30 and stats.max_duration <= 120,
        )
    )
    repeat = _share(stats.repeat_students, stats.students)
    report.append(Check("students with repeat sessions", repeat, None, None, bool(repeat)))
    forced = _share(stats.forced, stats.past_sessions)
    report.append(
        Check("follow-ups completed by force", forced, None, None, forced is not None and forced < 0.005)
    )
    between = _share(stats.truth["reschedule_10_25"], stats.tutors)
    report.append(Check("tutors: true reschedule rate 10-25%", between, None, None, bool(between)))
    one = _share(stats.truth["problems_1"], stats.tutors - stats.truth["problems_0"])
    report.append(Check("tutors beyond a threshold: on one only", one, None, None, bool(one)))
    return report
