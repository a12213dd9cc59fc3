"""The scoring engine: every metric of SPEC §5, for one tutor or for all of them.

There is ONE implementation of the maths. `compute_scores` reads the facts set-based (a fixed
number of grouped queries, whatever the number of tutors: scoring/facts.py) and turns them into
TutorScore rows in plain Python, as they are consumed; `recompute_all` runs it for every tutor (or
a given set) and upserts the rows (scoring/upsert.py, which writes each chunk while the next is
built); `score_tutor` is `recompute_all` restricted to one tutor.
Both paths agree by construction. The rate vocabulary is scoring/rates.py, the English of a
score scoring/reasons.py.

Flags weigh the evidence (scoring/evidence.py): a window raises a flag when its data are at
least `flag_evidence_ratio` times likelier at twice the threshold than at half of it, and it holds
the minimum number of sessions. Each component's strength is 0–100, exactly 50 where its flag
is raised and below 50 otherwise (0 without data: missing data never raises a score).
    M          = the strongest component (reschedules: the strongest of the 7/30/90-day windows)
    risk_score = min(100, M + ¼ × Σ weight × component / Σ weight), and at most 49 without a flag,
rounded to a whole number; monotonic in the evidence. Risk level: `inactive` when the tutor had
no session in 30 days or is marked inactive (no flag, no alert, score 0); `high` whenever a flag
is raised; `medium` when a rate is being watched or the score is at least 25; else `low`.
"""

import contextlib
import functools
import gc
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypedDict

from django.db import transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from sessions.models import Tutor

from .alerts import FIRST_SESSION, KINDS, NO_SHOW_RATE, RESCHEDULE_RATE, read_flags, sync_alerts
from .evidence import Evidence, strongest, weigh
from .facts import TutorFacts, read_facts
from .models import RiskLevel, ScoringSettings, TutorScore
from .rates import ACTIVE_WINDOW_DAYS, CENT, HUNDRED, WINDOWS, percentage
from .reasons import explain, explain_inactive
from .upsert import save_scores

MEDIUM_RISK_SCORE = Decimal("25")
UNFLAGGED_MAX_SCORE = Decimal("49")
OTHER_COMPONENTS_SHARE = Decimal("0.25")

Flags = dict[str, bool]  # {alert kind: flag raised}, as alerts.read_flags gives them per tutor


class SettingsPreview(TypedDict):
    flagged_now: int
    flagged_after: int
    newly_flagged: int
    unflagged: int


# --- turning facts into a score (pure Python) ---------------------------------------------------


_STATIC_DEFAULTS: dict[str, Any] = {}


def _new_score(values: dict[str, Any]) -> TutorScore:
    """An unsaved TutorScore holding `values` (every other field at its default). Model.__init__
    sets the fields one by one through their descriptors and sends pre_init/post_init, which was
    a fifth of the build time at 10,000 tutors; a new score's state is only its field values, so
    they are written at once (the usual way whenever any init signal has a receiver)."""
    if pre_init.receivers or post_init.receivers:
        return TutorScore(**values)
    if not _STATIC_DEFAULTS:
        for field in TutorScore._meta.concrete_fields:
            _STATIC_DEFAULTS[field.attname] = (
                None if field.has_default() and callable(field.default) else (field.get_default())
            )
    score = TutorScore.__new__(TutorScore)
    score.__dict__.update(_STATIC_DEFAULTS, _state=ModelState(), **values)
    return score


def build_score(
    tutor_id: uuid.UUID | None,
    facts: TutorFacts,
    *,
    settings: ScoringSettings,
    now: datetime,
    was_flagged: Flags | None = None,
) -> TutorScore:
    """An unsaved TutorScore for one tutor's facts: metrics, flags, risk, reasons, recommendations.
    `was_flagged` ({alert kind: bool}): the flags of the stored score, which a flag needs to stay up.
    Its id is left unset: only a tutor's first score needs one, and saving gives it (upsert.py)."""
    totals, reschedules = facts.totals, facts.tutor_reschedules
    score = _new_score(
        {
            "tutor_id": tutor_id,
            "created_at": now,
            "last_calculated_at": now,
            "sessions_version": facts.sessions_version,
            "updated_at": now,
            "reschedule_rate_threshold": settings.reschedule_rate_threshold,
            "no_show_rate_threshold": settings.no_show_rate_threshold,
            "first_session_retention_threshold": settings.first_session_retention_threshold,
            "minimum_sessions": settings.minimum_sessions,
            "flag_evidence_ratio": settings.flag_evidence_ratio,
            "total_sessions_7d": totals[7],
            "total_sessions_30d": totals[30],
            "total_sessions_90d": totals[90],
            "tutor_reschedules_7d": reschedules[7],
            "tutor_reschedules_30d": reschedules[30],
            "tutor_reschedules_90d": reschedules[90],
            "reschedule_rate_7d": percentage(reschedules[7], totals[7]),
            "reschedule_rate_30d": percentage(reschedules[30], totals[30]),
            "reschedule_rate_90d": percentage(reschedules[90], totals[90]),
            "no_shows_30d": facts.no_shows_30d,
            "no_show_rate_30d": percentage(facts.no_shows_30d, totals[30]),
            "first_sessions_90d": facts.first_sessions,
            "retained_first_sessions_90d": facts.retained_first_sessions,
            "first_session_retention_90d": percentage(facts.retained_first_sessions, facts.first_sessions),
            "rated_sessions_90d": facts.rated_sessions,
            "average_rating_90d": (
                (Decimal(facts.rating_sum) / facts.rated_sessions).quantize(CENT, rounding=ROUND_HALF_UP)
                if facts.rated_sessions
                else None
            ),
        }
    )
    if not is_active(facts):  # missing data never raises a score: no flag, no alert, not ranked
        score.reschedule_flag = score.no_show_flag = score.first_session_flag = False
        score.is_high_risk = score.is_watching = False
        score.risk_score, score.risk_level, score.evidence = Decimal(0), RiskLevel.INACTIVE, {}
        score.reasons, score.recommendations = explain_inactive(facts), []
        return score

    verdicts = weigh_facts(facts, settings=settings, was_flagged=was_flagged)
    score.reschedule_flag = verdicts[RESCHEDULE_RATE].flagged
    score.no_show_flag = verdicts[NO_SHOW_RATE].flagged
    score.first_session_flag = verdicts[FIRST_SESSION].flagged
    score.is_high_risk = score.reschedule_flag or score.no_show_flag or score.first_session_flag
    score.is_watching = any(verdict.watching for verdict in verdicts.values())
    score.evidence = {kind: verdict.json for kind, verdict in verdicts.items()}
    score.risk_score = risk_score(verdicts, settings=settings, flagged=score.is_high_risk)
    if score.is_high_risk:
        score.risk_level = RiskLevel.HIGH
    elif score.is_watching or score.risk_score >= MEDIUM_RISK_SCORE:
        score.risk_level = RiskLevel.MEDIUM
    else:
        score.risk_level = RiskLevel.LOW
    score.reasons, score.recommendations = explain(score, facts, verdicts, settings=settings)
    return score


def is_active(facts: TutorFacts) -> bool:
    """Marked active, with at least one session in the last 30 days: only then is a tutor judged."""
    return facts.is_active and facts.totals[ACTIVE_WINDOW_DAYS] > 0


def weigh_facts(
    facts: TutorFacts, *, settings: ScoringSettings, was_flagged: Flags | None = None
) -> dict[str, Evidence]:
    """{alert kind: Evidence}: for reschedules the window that says most (scoring/evidence.py).
    `was_flagged` ({alert kind: bool}, the stored score's flags) lets a raised flag stay up while
    the evidence still favours the bad rate."""
    was_flagged = was_flagged or {}
    ratio, minimum = settings.flag_evidence_ratio, settings.minimum_sessions
    threshold = settings.reschedule_rate_threshold
    held = was_flagged.get(RESCHEDULE_RATE, False)
    reschedules = strongest(
        [
            weigh(
                facts.tutor_reschedules[days],
                facts.totals[days],
                window_days=days,
                threshold_percent=threshold,
                evidence_ratio=ratio,
                minimum=minimum,
                was_flagged=held,
            )
            for days in WINDOWS
        ]
    )
    no_shows = weigh(
        facts.no_shows_30d,
        facts.totals[30],
        window_days=30,
        threshold_percent=settings.no_show_rate_threshold,
        evidence_ratio=ratio,
        minimum=minimum,
        was_flagged=was_flagged.get(NO_SHOW_RATE, False),
    )
    # Retention is weighed on its complement: new students who did not come back.
    first_sessions = weigh(
        facts.first_sessions - facts.retained_first_sessions,
        facts.first_sessions,
        window_days=90,
        threshold_percent=HUNDRED - settings.first_session_retention_threshold,
        evidence_ratio=ratio,
        minimum=minimum,
        was_flagged=was_flagged.get(FIRST_SESSION, False),
    )
    return {
        RESCHEDULE_RATE: reschedules,
        NO_SHOW_RATE: no_shows,
        FIRST_SESSION: first_sessions,
    }


def risk_score(verdicts: dict[str, Evidence], *, settings: ScoringSettings, flagged: bool) -> Decimal:
    """The strongest component plus a quarter of the weighted mean of all, as a whole number."""
    weights = (settings.reschedule_weight, settings.no_show_weight, settings.first_session_weight)
    return _risk_score(tuple(verdicts[kind].strength for kind in KINDS), weights, flagged)


# Tutors share strengths (they come from cached verdicts): the Decimal maths runs once per mix.
@functools.lru_cache(maxsize=1 << 16)
def _risk_score(components: tuple[float, ...], weights: tuple[Decimal, ...], flagged: bool) -> Decimal:
    strengths = [Decimal(str(round(strength, 4))) for strength in components]
    total_weight = sum(weights) or Decimal(1)
    mean = sum(weight * strength for weight, strength in zip(weights, strengths, strict=True)) / total_weight
    value = max(strengths) + OTHER_COMPONENTS_SHARE * mean
    value = min(value, HUNDRED if flagged else UNFLAGGED_MAX_SCORE)
    return value.quantize(Decimal(1), rounding=ROUND_HALF_UP)


# --- the entry points ------------------------------------------------------------------------------


def compute_scores(
    *,
    now: datetime,
    settings: ScoringSettings,
    tutor_ids: Sequence[uuid.UUID] | None = None,
    previous_flags: dict[uuid.UUID, Flags] | None = None,
) -> Iterator[TutorScore]:
    """Unsaved TutorScore rows for every tutor (or the given ones), from a fixed number of queries.
    `previous_flags` (read_flags()): the stored flags, read here when not given. The facts are
    read now; the scores are built as they are consumed, so saving them overlaps building them."""
    if previous_flags is None:
        previous_flags = read_flags(tutor_ids)
    facts = read_facts(now=now, tutor_ids=tutor_ids)
    return (
        build_score(
            tutor_id, tutor_facts, settings=settings, now=now, was_flagged=previous_flags.get(tutor_id)
        )
        for tutor_id, tutor_facts in facts.items()
    )


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (restored on exit, as it was).

    A full recompute allocates some 300,000 containers (facts, scores, their dicts and lists)
    that form no reference cycles: reference counting frees them. Meanwhile the collector kept
    being triggered by the allocations and walked them, and every other object of the process,
    again and again: ~250 ms of the ~1.2 s of CPU a recompute spent at 10,000 tutors."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def recompute_all(
    *,
    now: datetime | None = None,
    tutor_ids: Iterable[uuid.UUID] | None = None,
    settings: ScoringSettings | None = None,
    newer_only: bool = False,
) -> int:
    """Score every tutor (or only `tutor_ids`) set-based, save the scores and sync alerts.

    A stored score computed from a newer sessions_version is kept, and its alerts are left
    alone. newer_only: so is one calculated after `now`; the per-ingest task sets it, since
    concurrent workers may score the same tutors.

    Returns the number of tutors whose new score was saved. Each score keeps the tutor's
    sessions_version read before its counts, so a change that commits during the computation
    leaves the tutor stale.
    """
    now = now or timezone.now()
    ids = None if tutor_ids is None else list(tutor_ids)
    if ids is not None and not ids:
        return 0
    settings = settings or ScoringSettings.load()
    with cyclic_gc_paused():
        return _score_and_save(now=now, settings=settings, tutor_ids=ids, newer_only=newer_only)


def _score_and_save(
    *, now: datetime, settings: ScoringSettings, tutor_ids: list[uuid.UUID] | None, newer_only: bool
) -> int:
    # A function of its own so that the scores die at its return, while the collector is still
    # paused: alive when it is back on, they made the first collection after walk all of them
    # (15–30 ms of a recompute at 10,000 tutors).
    with transaction.atomic():
        previous_flags = read_flags(tutor_ids)
        scores = compute_scores(
            now=now, settings=settings, tutor_ids=tutor_ids, previous_flags=previous_flags
        )
        saved = save_scores(scores, newer_only=newer_only)
        sync_alerts(saved, now=now, previous_flags=previous_flags)
    return len(saved)


def preview_settings(settings: ScoringSettings, *, now: datetime | None = None) -> SettingsPreview:
    """What saving `settings` would change: {flagged_now, flagged_after, newly_flagged, unflagged}.

    Every tutor is scored with the unsaved settings (nothing is written) and compared with the
    stored scores: the admin sees how many tutors a change would flag and unflag before it lands."""
    now = now or timezone.now()
    flagged_now = set(TutorScore.objects.filter(is_high_risk=True).values_list("tutor_id", flat=True))
    flagged_after = {
        score.tutor_id for score in compute_scores(now=now, settings=settings) if score.is_high_risk
    }
    return {
        "flagged_now": len(flagged_now),
        "flagged_after": len(flagged_after),
        "newly_flagged": len(flagged_after - flagged_now),
        "unflagged": len(flagged_now - flagged_after),
    }


def score_tutor(
    tutor: Tutor, *, now: datetime | None = None, settings: ScoringSettings | None = None
) -> TutorScore:
    """Score one tutor with exactly the code of recompute_all; returns the saved TutorScore."""
    recompute_all(now=now, tutor_ids=[tutor.pk], settings=settings)
    return TutorScore.objects.get(tutor_id=tutor.pk)
