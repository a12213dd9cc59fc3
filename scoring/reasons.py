"""The English of a score: the reasons a tutor is flagged, watched or not judged, and next steps.

Reasons lead with the sentences that raised a flag (strongest first), then the rates being
watched, then the context: other reschedule windows, patterns, the other rates, ratings.
"""

import functools
from decimal import Decimal
from typing import TypeVar

from sessions.first_sessions import FOLLOW_UP_DAYS as FIRST_SESSION_FOLLOW_UP_DAYS
from sessions.models import Reschedule
from sessions.rescheduling import LAST_MINUTE_HOURS

from .alerts import FIRST_SESSION, NO_SHOW_RATE, RESCHEDULE_RATE
from .evidence import Evidence, events_needed, ratio_needed
from .facts import TutorFacts
from .models import RiskLevel, ScoringSettings, TutorScore
from .rates import (
    ACTIVE_WINDOW_DAYS,
    HUNDRED,
    PATTERN_WINDOW_DAYS,
    WEEKDAYS,
    WINDOWS,
    format_percent,
    percentage,
    plural,
    rate_colour,
)

Verdicts = dict[str, Evidence]  # {alert kind: Evidence}, as engine.weigh_facts returns them
K = TypeVar("K")

REASON_LABELS: dict[str, str] = {code: label.lower() for code, label in Reschedule.ReasonCode.choices}


def _reason_label(code: str) -> str:
    return REASON_LABELS.get(code, code)


def _top(counts: dict[K, int], *, minimum: int) -> K | None:
    """The key of {key: count} with the highest count, when no other key ties it and it reaches
    `minimum`; else None."""
    if not counts:
        return None
    top = max(counts, key=counts.__getitem__)
    highest = counts[top]
    if highest < minimum or list(counts.values()).count(highest) > 1:
        return None
    return top


def _with_data(facts: TutorFacts, verdicts: Verdicts) -> list[str]:
    """The kinds of the three rates that have data (and so a sentence)."""
    kinds: list[str] = []
    if verdicts[RESCHEDULE_RATE].total:
        kinds.append(RESCHEDULE_RATE)
    if facts.totals[30]:
        kinds.append(NO_SHOW_RATE)
    if facts.first_sessions:
        kinds.append(FIRST_SESSION)
    return kinds


def _thresholds(settings: ScoringSettings) -> dict[str, Decimal]:
    """{kind: the threshold a reader knows}: for first sessions, the retention threshold."""
    return {
        RESCHEDULE_RATE: settings.reschedule_rate_threshold,
        NO_SHOW_RATE: settings.no_show_rate_threshold,
        FIRST_SESSION: settings.first_session_retention_threshold,
    }


# A recompute of 10,000 tutors writes ~60,000 sentences, of which ~14,000 are distinct: the ones
# that follow from a few counts are written once per distinct counts and settings (the caches
# hold a few megabytes at most).
@functools.lru_cache(maxsize=1 << 15)
def _figure(kind: str, events: int, total: int, days: int, threshold: Decimal) -> str:
    """The figure of one rate that has data (`total` > 0), without a full stop, from a verdict's
    counts: `events` of `total` (for first sessions, new students who did not come back)."""
    limit = format_percent(threshold)
    if kind == RESCHEDULE_RATE:
        return (
            f"Rescheduled {events} of {plural(total, 'session')} in the last {days} days "
            f"({format_percent(percentage(events, total))}%, threshold {limit}%)"
        )
    if kind == NO_SHOW_RATE:
        return (
            f"Missed {events} of {plural(total, 'session')} in the last {days} days "
            f"({format_percent(percentage(events, total))}%, threshold {limit}%)"
        )
    retained = total - events
    return (
        f"{retained} of {plural(total, 'new student')} came back "
        f"within {FIRST_SESSION_FOLLOW_UP_DAYS} days of their first session "
        f"({format_percent(percentage(retained, total))}%, threshold {limit}%)"
    )


def _context(kind: str, verdict: Evidence, threshold: Decimal) -> str:
    """The figure of a rate, as a sentence of its own."""
    return _figure(kind, verdict.events, verdict.total, verdict.window_days, threshold) + "."


@functools.lru_cache(maxsize=1 << 14)
def _window_sentence(events: int, total: int, days: int, threshold: Decimal) -> str | None:
    """The sentence of a reschedule window whose rate is red or amber; None for any other."""
    if rate_colour(percentage(events, total), threshold) in ("", "green"):
        return None
    return _figure(RESCHEDULE_RATE, events, total, days, threshold) + "."


def explain_inactive(facts: TutorFacts) -> list[str]:
    """Why an inactive tutor is not scored."""
    if not facts.is_active:
        return ["Inactive: marked inactive on the platform."]
    if not facts.totals[90]:
        return ["Inactive: no sessions in the last 90 days."]
    return [f"Inactive: no session in the last {ACTIVE_WINDOW_DAYS} days."]


@functools.lru_cache(maxsize=1 << 14)
def _lead(kind: str, verdict: Evidence, threshold: Decimal, minimum: int, evidence_ratio: Decimal) -> str:
    """The sentence a flag (or a watch) rests on: the figure, then how much evidence it is."""
    text = _figure(kind, verdict.events, verdict.total, verdict.window_days, threshold)
    weighed, noun = (
        (HUNDRED - threshold, "first sessions") if kind == FIRST_SESSION else (threshold, "sessions")
    )
    needed = events_needed(verdict.total, float(weighed), ratio_needed(evidence_ratio, verdict.window_days))
    if verdict.held:
        clause = "flagged earlier, and the evidence still points above the threshold"
    elif verdict.total < minimum:
        clause = f"too few {noun} to flag (minimum {minimum})"
    elif needed is None:
        clause = f"too few {noun} to flag yet"
    else:
        missing = " not coming back" if kind == FIRST_SESSION else ""
        verb = "is" if verdict.flagged else "would be"
        clause = f"{needed} of {verdict.total}{missing} {verb} enough evidence to flag"
    if verdict.flagged:
        return f"{text}; {clause}."
    return f"Watching: {text[0].lower()}{text[1:]}; {clause}."


def explain(
    score: TutorScore, facts: TutorFacts, verdicts: Verdicts, *, settings: ScoringSettings
) -> tuple[list[str], list[str]]:
    """Plain sentences (reasons) and next steps (recommendations), from the score and its facts.

    Reasons lead with the sentences that raised a flag (strongest first), then the rates being
    watched, then the context: other reschedule windows, patterns, the other rates, ratings."""
    reasons, recommendations = [], []
    thresholds = _thresholds(settings)
    with_data = _with_data(facts, verdicts)
    ranked = sorted(
        (kind for kind in with_data if verdicts[kind].flagged or verdicts[kind].watching),
        key=lambda kind: (not verdicts[kind].flagged, -verdicts[kind].strength),
    )
    for kind in ranked:
        reasons.append(
            _lead(
                kind,
                verdicts[kind],
                thresholds[kind],
                settings.minimum_sessions,
                settings.flag_evidence_ratio,
            )
        )
    if facts.totals[ACTIVE_WINDOW_DAYS] < settings.minimum_sessions and not ranked:
        reasons.append(
            f"Too few sessions to judge yet (a window needs at least {settings.minimum_sessions})."
        )

    # Other reschedule windows that are red or amber (a wider window holding the very same
    # counts adds nothing); without any, the 30-day figure.
    threshold = thresholds[RESCHEDULE_RATE]
    lead = verdicts[RESCHEDULE_RATE]
    shown = {(lead.events, lead.total)} if RESCHEDULE_RATE in ranked else set()
    for days in WINDOWS:
        counts = (facts.tutor_reschedules[days], facts.totals[days])
        sentence = None if counts in shown else _window_sentence(*counts, days, threshold)
        if sentence:
            reasons.append(sentence)
            shown.add(counts)
    if not shown and facts.totals[30]:
        reasons.append(
            _figure(RESCHEDULE_RATE, facts.tutor_reschedules[30], facts.totals[30], 30, threshold) + "."
        )

    # Reschedule patterns over the 90-day window.
    reschedules = facts.tutor_reschedules[PATTERN_WINDOW_DAYS]
    weekday = _top(facts.weekdays, minimum=2) if reschedules >= 2 else None
    reason_code = _top(facts.reason_codes, minimum=2)
    if reschedules >= 2 and facts.last_minute_reschedules:
        reasons.append(
            f"{facts.last_minute_reschedules} of {reschedules} reschedules were last-minute "
            f"(<{LAST_MINUTE_HOURS} h)."
        )
    if weekday:
        reasons.append(
            f"Most reschedules fall on {WEEKDAYS[weekday]} ({facts.weekdays[weekday]} of {reschedules})."
        )
    if reason_code:
        reasons.append(
            f"Most common reason: {_reason_label(reason_code)} ({facts.reason_codes[reason_code]}×)."
        )

    if NO_SHOW_RATE in with_data and facts.no_shows_30d and NO_SHOW_RATE not in ranked:
        reasons.append(_context(NO_SHOW_RATE, verdicts[NO_SHOW_RATE], thresholds[NO_SHOW_RATE]))
    if FIRST_SESSION in with_data and FIRST_SESSION not in ranked:
        reasons.append(_context(FIRST_SESSION, verdicts[FIRST_SESSION], thresholds[FIRST_SESSION]))
    if score.average_rating_90d is not None:
        reasons.append(
            f"Average student rating {score.average_rating_90d} from {score.rated_sessions_90d} "
            f"rated session{'s' if score.rated_sessions_90d != 1 else ''} in the last 90 days."
        )

    if score.reschedule_flag:
        last_minute_share = percentage(facts.last_minute_reschedules, reschedules)
        if last_minute_share is not None and last_minute_share >= 50:
            recommendations.append("Coach the tutor on giving at least 24 hours' notice when rescheduling.")
        if reason_code == Reschedule.ReasonCode.SCHEDULING_CONFLICT:
            recommendations.append("Schedule a calendar-planning check-in.")
        elif reason_code in ("health", "family", "emergency", "personal"):
            recommendations.append("Check in on the tutor's wellbeing and workload.")
        elif reason_code == Reschedule.ReasonCode.TECHNICAL:
            recommendations.append("Offer a technical set-up check (connection and equipment).")
        if weekday:
            recommendations.append(f"Review the tutor's availability on {WEEKDAYS[weekday]}.")
        if not recommendations:
            recommendations.append("Schedule a reliability coaching conversation.")
    if score.no_show_flag:
        recommendations.append(
            "Call the tutor about missed sessions and confirm their availability and reminders."
        )
    if score.first_session_flag:
        recommendations.append("Review first-session practice with a coach or pair the tutor with a mentor.")
    if score.risk_level == RiskLevel.MEDIUM:
        recommendations.append(
            "Keep watching: a rate is above or close to its threshold, without enough evidence to flag yet."
        )
    return reasons, recommendations
