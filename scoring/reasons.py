"""The English of a score: the reasons a tutor is flagged, watched or not judged, and next steps.

Reasons lead with the sentences that raised a flag (strongest first), then the rates being
watched, then the context: other reschedule windows, patterns, the other rates, ratings.
"""

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
    if counts[top] < minimum or sum(1 for count in counts.values() if count == counts[top]) > 1:
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


def _sentence(
    kind: str, score: TutorScore, facts: TutorFacts, verdicts: Verdicts, settings: ScoringSettings
) -> tuple[str, Decimal, str]:
    """(figure sentence, threshold it is weighed against, noun) of one rate that has data; written
    only when a reason shows it."""
    if kind == RESCHEDULE_RATE:
        reschedule = verdicts[RESCHEDULE_RATE]
        days = reschedule.window_days
        return (
            f"Rescheduled {reschedule.events} of {plural(reschedule.total, 'session')} "
            f"in the last {days} days "
            f"({format_percent(getattr(score, f'reschedule_rate_{days}d'))}%, threshold "
            f"{format_percent(settings.reschedule_rate_threshold)}%)",
            settings.reschedule_rate_threshold,
            "sessions",
        )
    if kind == NO_SHOW_RATE:
        return (
            f"Missed {facts.no_shows_30d} of {plural(facts.totals[30], 'session')} in the last 30 days "
            f"({format_percent(score.no_show_rate_30d)}%, threshold "
            f"{format_percent(settings.no_show_rate_threshold)}%)",
            settings.no_show_rate_threshold,
            "sessions",
        )
    return (
        f"{facts.retained_first_sessions} of {plural(facts.first_sessions, 'new student')} came back "
        f"within {FIRST_SESSION_FOLLOW_UP_DAYS} days of their first session "
        f"({format_percent(score.first_session_retention_90d)}%, threshold "
        f"{format_percent(settings.first_session_retention_threshold)}%)",
        HUNDRED - settings.first_session_retention_threshold,
        "first sessions",
    )


def explain_inactive(facts: TutorFacts) -> list[str]:
    """Why an inactive tutor is not scored."""
    if not facts.is_active:
        return ["Inactive: marked inactive on the platform."]
    if not facts.totals[90]:
        return ["Inactive: no sessions in the last 90 days."]
    return [f"Inactive: no session in the last {ACTIVE_WINDOW_DAYS} days."]


def _lead(
    kind: str, text: str, verdict: Evidence, threshold: Decimal, noun: str, settings: ScoringSettings
) -> str:
    """The sentence a flag (or a watch) rests on: the figure, then how much evidence it is."""
    ratio = ratio_needed(settings.flag_evidence_ratio, verdict.window_days)
    needed = events_needed(verdict.total, float(threshold), ratio)
    if verdict.held:
        clause = "flagged earlier, and the evidence still points above the threshold"
    elif verdict.total < settings.minimum_sessions:
        clause = f"too few {noun} to flag (minimum {settings.minimum_sessions})"
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
    with_data = _with_data(facts, verdicts)
    ranked = sorted(
        (kind for kind in with_data if verdicts[kind].flagged or verdicts[kind].watching),
        key=lambda kind: (not verdicts[kind].flagged, -verdicts[kind].strength),
    )
    for kind in ranked:
        text, threshold, noun = _sentence(kind, score, facts, verdicts, settings)
        reasons.append(_lead(kind, text, verdicts[kind], threshold, noun, settings))
    if facts.totals[ACTIVE_WINDOW_DAYS] < settings.minimum_sessions and not ranked:
        reasons.append(
            f"Too few sessions to judge yet (a window needs at least {settings.minimum_sessions})."
        )

    # Other reschedule windows that are red or amber (a wider window holding the very same
    # counts adds nothing); without any, the 30-day figure.
    threshold_text = format_percent(settings.reschedule_rate_threshold)
    lead = verdicts[RESCHEDULE_RATE]
    shown = {(lead.events, lead.total)} if RESCHEDULE_RATE in ranked else set()
    for days in WINDOWS:
        counts = (facts.tutor_reschedules[days], facts.totals[days])
        rate = getattr(score, f"reschedule_rate_{days}d")
        colour = rate_colour(rate, settings.reschedule_rate_threshold)
        if colour in ("", "green") or counts in shown:
            continue
        reasons.append(
            f"Rescheduled {counts[0]} of {plural(counts[1], 'session')} in the last "
            f"{days} days ({format_percent(rate)}%, threshold {threshold_text}%)."
        )
        shown.add(counts)
    if not shown and facts.totals[30]:
        reasons.append(
            f"Rescheduled {facts.tutor_reschedules[30]} of {plural(facts.totals[30], 'session')} "
            "in the last 30 days "
            f"({format_percent(score.reschedule_rate_30d)}%, threshold {threshold_text}%)."
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
        reasons.append(_sentence(NO_SHOW_RATE, score, facts, verdicts, settings)[0] + ".")
    if FIRST_SESSION in with_data and FIRST_SESSION not in ranked:
        reasons.append(_sentence(FIRST_SESSION, score, facts, verdicts, settings)[0] + ".")
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
