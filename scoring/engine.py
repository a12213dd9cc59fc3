"""The scoring engine: every metric of SPEC §5, for one tutor or for all of them.

There is ONE implementation of the maths. `compute_scores` reads the facts set-based (a fixed
number of grouped queries, whatever the number of tutors) and turns them into TutorScore rows in
plain Python; `recompute_all` runs it for every tutor (or a given set) and upserts the rows;
`score_tutor` is `recompute_all` restricted to one tutor. Both paths agree by construction.

Windows: a window of N days holds a tutor's sessions with `now − N days < scheduled_time ≤ now`
and status completed, rescheduled or no_show (scheduled sessions have not happened yet).

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

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from sessions.first_sessions import FOLLOW_UP_DAYS as FIRST_SESSION_FOLLOW_UP_DAYS
from sessions.models import COUNTED_STATUSES, Reschedule, Session, Tutor
from sessions.rescheduling import LAST_MINUTE_HOURS

from .alerts import read_flags, sync_alerts
from .evidence import events_needed, ratio_needed, strongest, weigh
from .models import Alert, RiskLevel, ScoringSettings, TutorScore

WINDOWS = (7, 30, 90)
# Reschedule patterns (last-minute share, weekday, reason) are read over the widest window.
PATTERN_WINDOW_DAYS = 90
AMBER_MARGIN = Decimal("5")
MEDIUM_RISK_SCORE = Decimal("25")
UNFLAGGED_MAX_SCORE = Decimal("49")
OTHER_COMPONENTS_SHARE = Decimal("0.25")
ACTIVE_WINDOW_DAYS = 30  # no session in this window: the tutor is inactive
HUNDRED = Decimal("100")
CENT = Decimal("0.01")
# From this many tutors on, PostgreSQL writes scores with COPY; a handful of tutors (the
# per-ingest path) is cheaper with a plain INSERT.
BULK_THRESHOLD = 500
WEEKDAYS = {
    1: "Mondays",
    2: "Tuesdays",
    3: "Wednesdays",
    4: "Thursdays",
    5: "Fridays",
    6: "Saturdays",
    7: "Sundays",
}

# Every TutorScore column the engine writes (the upsert updates exactly these).
SCORE_FIELDS = [
    *(f"total_sessions_{days}d" for days in WINDOWS),
    *(f"tutor_reschedules_{days}d" for days in WINDOWS),
    *(f"reschedule_rate_{days}d" for days in WINDOWS),
    "no_shows_30d",
    "no_show_rate_30d",
    "first_sessions_90d",
    "retained_first_sessions_90d",
    "first_session_retention_90d",
    "average_rating_90d",
    "rated_sessions_90d",
    "reschedule_flag",
    "no_show_flag",
    "first_session_flag",
    "is_high_risk",
    "is_watching",
    "risk_score",
    "risk_level",
    "evidence",
    "reasons",
    "recommendations",
    "reschedule_rate_threshold",
    "no_show_rate_threshold",
    "first_session_retention_threshold",
    "minimum_sessions",
    "flag_evidence_ratio",
    "last_calculated_at",
    "sessions_version",
    "updated_at",
]


# --- small pure helpers -------------------------------------------------------------------------


def percentage(part, whole):
    """100 × part / whole rounded half-up to 2 decimals; None when whole is 0 (an empty window)."""
    if not whole:
        return None
    return (HUNDRED * Decimal(part) / Decimal(whole)).quantize(CENT, rounding=ROUND_HALF_UP)


def plural(count, noun):
    """'1 session', '3 sessions': reasons are read by people."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def format_percent(value):
    """37.50 → '37.5', 15.00 → '15', 33.33 → '33.33' (how rates read in sentences)."""
    text = f"{Decimal(value).quantize(CENT):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def rate_colour(rate, threshold, *, lower_is_worse=False):
    """Display colour of a rate: 'red' past the threshold, 'amber' within 5 points of it, else 'green'.

    Returns '' for an empty window (rate None). For retention pass lower_is_worse=True: red below
    the threshold, amber within 5 points above it.
    """
    if rate is None or threshold is None:
        return ""
    rate, threshold = Decimal(rate), Decimal(threshold)
    if lower_is_worse:
        rate, threshold = -rate, -threshold
    if rate > threshold:
        return "red"
    if rate >= threshold - AMBER_MARGIN:
        return "amber"
    return "green"


# --- reading the facts (a fixed number of grouped queries) --------------------------------------


@dataclass
class TutorFacts:
    """The raw counts of one tutor, as read from the database."""

    sessions_version: int = 0  # the tutor's sessions_version, read before the counts
    is_active: bool = True  # as the platform marks the tutor
    totals: dict = field(default_factory=lambda: dict.fromkeys(WINDOWS, 0))
    tutor_reschedules: dict = field(default_factory=lambda: dict.fromkeys(WINDOWS, 0))
    no_shows_30d: int = 0
    last_minute_reschedules: int = 0
    rated_sessions: int = 0
    rating_sum: int = 0
    first_sessions: int = 0
    retained_first_sessions: int = 0
    weekdays: dict = field(default_factory=dict)  # {ISO weekday: tutor reschedules}, non-zero only
    reason_codes: dict = field(default_factory=dict)  # {reason code: tutor reschedules}, non-zero only


def _restrict(queryset, tutor_ids):
    return queryset if tutor_ids is None else queryset.filter(tutor_id__in=tutor_ids)


def _window_start(now, days):
    return now - timedelta(days=days)


def _counted_sessions(now, tutor_ids, days=90):
    queryset = Session.objects.filter(
        status__in=COUNTED_STATUSES,
        scheduled_time__gt=_window_start(now, days),
        scheduled_time__lte=now,
    )
    return _restrict(queryset, tutor_ids)


TUTOR_RESCHEDULE = Q(status=Session.Status.RESCHEDULED, reschedule__initiator=Reschedule.Initiator.TUTOR)
REASON_CODES = tuple(Reschedule.ReasonCode.values)  # read once, not once per tutor row


# --- compiled once, executed many times ---------------------------------------------------------
#
# Building these ORM queries (40-odd conditional aggregates) cost ~10 ms of Python per call, five
# times what PostgreSQL needs to run them for one tutor: the per-ingest path was mostly query
# compilation. So each query is compiled once per shape (database, time zone, number of tutor
# ids) with sentinel values, and later calls only swap the sentinels in the parameter list for
# the real `now`-relative datetimes and tutor ids. The SQL is exactly what the ORM would send.
_SENTINEL_NOW = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
_NOW_OFFSETS = (0, *WINDOWS, FIRST_SESSION_FOLLOW_UP_DAYS)  # every "now − N days" the queries use
_CACHED_TUTOR_IDS = 64  # above this the compilation is noise next to the query itself
_compiled = {}


def _sentinel_tutor_ids(count):
    return [uuid.UUID(int=number + 1) for number in range(count)]


def _compile(name, build, tutor_count):
    """(sql, slots) of build(now, tutor_ids) with sentinels; a slot says what each parameter is."""
    sentinel_ids = None if tutor_count is None else _sentinel_tutor_ids(tutor_count)
    sql, params = build(_SENTINEL_NOW, sentinel_ids).query.sql_with_params()
    time_field = Session._meta.get_field("scheduled_time")
    id_field = Tutor._meta.pk
    known = {
        time_field.get_db_prep_value(_SENTINEL_NOW - timedelta(days=days), connection): ("now", days)
        for days in _NOW_OFFSETS
    }
    known |= {
        id_field.get_db_prep_value(tutor_id, connection): ("tutor", position)
        for position, tutor_id in enumerate(sentinel_ids or ())
    }
    slots = []
    for param in params:
        try:
            slots.append(known.get(param, ("value", param)))
        except TypeError:  # an unhashable parameter is never a sentinel
            slots.append(("value", param))
    found = sum(1 for kind, _ in slots if kind == "tutor")
    if found != (tutor_count or 0):
        raise RuntimeError(f"{name}: {found} of {tutor_count} tutor ids found in the compiled query")
    return sql, slots


def _run_compiled(name, build, *, now, tutor_ids):
    """(column positions by alias, row tuples) of the query build(now, tutor_ids) describes."""
    tutor_count = None if tutor_ids is None else len(tutor_ids)
    if tutor_count is not None and tutor_count > _CACHED_TUTOR_IDS:
        sql, params = build(now, tutor_ids).query.sql_with_params()
    else:
        shape = (connection.alias, connection.vendor, timezone.get_current_timezone_name(), name, tutor_count)
        if shape not in _compiled:
            _compiled[shape] = _compile(name, build, tutor_count)
        sql, slots = _compiled[shape]
        time_field = Session._meta.get_field("scheduled_time")
        id_field = Tutor._meta.pk
        params = [
            time_field.get_db_prep_value(now - timedelta(days=value), connection)
            if kind == "now"
            else id_field.get_db_prep_value(tutor_ids[value], connection)
            if kind == "tutor"
            else value
            for kind, value in slots
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = {column[0]: position for position, column in enumerate(cursor.description)}
        return columns, cursor.fetchall()


def _as_uuid(value):
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)  # SQLite returns hex text


def _window_counts_query(now, tutor_ids):
    """One grouped query: every 7/30/90-day count, by conditional aggregation."""
    in_window = {days: Q(scheduled_time__gt=_window_start(now, days)) for days in WINDOWS}
    aggregates = {}
    for days in WINDOWS:
        aggregates[f"total_{days}"] = Count("id", filter=in_window[days])
        aggregates[f"tutor_reschedules_{days}"] = Count("id", filter=in_window[days] & TUTOR_RESCHEDULE)
    aggregates["no_shows_30d"] = Count(
        "id",
        filter=in_window[30] & Q(status=Session.Status.NO_SHOW, no_show_by=Session.NoShowBy.TUTOR),
    )
    aggregates["last_minute"] = Count(
        "id", filter=TUTOR_RESCHEDULE & Q(reschedule__hours_before_session__lt=LAST_MINUTE_HOURS)
    )
    # Reschedule patterns over the 90-day window (the query's own window), as more columns of the
    # same scan rather than extra grouped queries.
    for weekday in WEEKDAYS:
        aggregates[f"weekday_{weekday}"] = Count(
            "id", filter=TUTOR_RESCHEDULE & Q(scheduled_time__iso_week_day=weekday)
        )
    for code in REASON_CODES:
        aggregates[f"reason_{code}"] = Count("id", filter=TUTOR_RESCHEDULE & Q(reschedule__reason_code=code))
    # Ratings belong to sessions that happened.
    rated = Q(status=Session.Status.COMPLETED, student_rating__isnull=False)
    aggregates["rated"] = Count("id", filter=rated)
    aggregates["rating_sum"] = Sum("student_rating", filter=rated)
    # Completed first sessions of the window old enough to show whether the student came back
    # (within FIRST_SESSION_FOLLOW_UP_DAYS), from the flags the writes keep on each session.
    judged_first = Q(
        is_first_session=True,
        status=Session.Status.COMPLETED,
        scheduled_time__lte=now - timedelta(days=FIRST_SESSION_FOLLOW_UP_DAYS),
    )
    aggregates["first_sessions"] = Count("id", filter=judged_first)
    aggregates["retained_first_sessions"] = Count("id", filter=judged_first & Q(first_session_retained=True))
    return _counted_sessions(now, tutor_ids).values("tutor_id").annotate(**aggregates).order_by()


def _read_window_counts(now, tutor_ids):
    """{tutor_id: TutorFacts} of the tutors with counted sessions (sessions_version left unset)."""
    position, rows = _run_compiled("window_counts", _window_counts_query, now=now, tutor_ids=tutor_ids)
    totals = [(days, position[f"total_{days}"]) for days in WINDOWS]
    reschedules = [(days, position[f"tutor_reschedules_{days}"]) for days in WINDOWS]
    weekdays = [(day, position[f"weekday_{day}"]) for day in WEEKDAYS]
    reason_codes = [(code, position[f"reason_{code}"]) for code in REASON_CODES]
    facts = {}
    for row in rows:
        facts[_as_uuid(row[position["tutor_id"]])] = TutorFacts(
            totals={days: row[at] for days, at in totals},
            tutor_reschedules={days: row[at] for days, at in reschedules},
            no_shows_30d=row[position["no_shows_30d"]],
            last_minute_reschedules=row[position["last_minute"]],
            rated_sessions=row[position["rated"]],
            rating_sum=row[position["rating_sum"]] or 0,
            first_sessions=row[position["first_sessions"]],
            retained_first_sessions=row[position["retained_first_sessions"]],
            weekdays={day: row[at] for day, at in weekdays if row[at]},
            reason_codes={code: row[at] for code, at in reason_codes if row[at]},
        )
    return facts


def _tutors_query(now, tutor_ids):
    tutors = Tutor.objects.all() if tutor_ids is None else Tutor.objects.filter(pk__in=tutor_ids)
    # Ordered, so concurrent scorers upsert (and lock) score rows in the same order: no deadlocks.
    return tutors.order_by("id").values_list("id", "sessions_version", "is_active")


def read_facts(*, now, tutor_ids=None):
    """{tutor_id: TutorFacts} for every tutor (or the given ones), in two queries, by tutor id.

    The tutors' versions are read first: a change committed after that read makes its tutor
    stale again, whether or not the counts read next include it.
    """
    _, tutors = _run_compiled("tutors", _tutors_query, now=now, tutor_ids=tutor_ids)
    counts = _read_window_counts(now, tutor_ids) if tutors else {}
    facts = {}
    # Tutors deleted between the two queries are dropped with their counts.
    for tutor_id, version, is_active in tutors:
        tutor_id = _as_uuid(tutor_id)
        facts[tutor_id] = counts.get(tutor_id) or TutorFacts()
        facts[tutor_id].sessions_version = version
        facts[tutor_id].is_active = bool(is_active)
    return facts


# --- turning facts into a score (pure Python) ---------------------------------------------------


_STATIC_DEFAULTS = {}


def _new_score(**values):
    """TutorScore(**values), built positionally: Model(**kwargs) looks up every other field's
    default one by one, which was half the build time at 10,000 tutors."""
    if not _STATIC_DEFAULTS:
        for field in TutorScore._meta.concrete_fields:
            _STATIC_DEFAULTS[field.attname] = (
                None if field.has_default() and callable(field.default) else (field.get_default())
            )
    return TutorScore(*[values.get(name, default) for name, default in _STATIC_DEFAULTS.items()])


def build_score(tutor_id, facts, *, settings, now, was_flagged=None):
    """An unsaved TutorScore for one tutor's facts: metrics, flags, risk, reasons, recommendations.
    `was_flagged` ({alert kind: bool}): the flags of the stored score, which a flag needs to stay up."""
    minimum = settings.minimum_sessions
    score = _new_score(
        id=uuid.uuid4(),
        tutor_id=tutor_id,
        created_at=now,
        last_calculated_at=now,
        sessions_version=facts.sessions_version,
        updated_at=now,
        reschedule_rate_threshold=settings.reschedule_rate_threshold,
        no_show_rate_threshold=settings.no_show_rate_threshold,
        first_session_retention_threshold=settings.first_session_retention_threshold,
        minimum_sessions=minimum,
    )
    for days in WINDOWS:
        total, reschedules = facts.totals[days], facts.tutor_reschedules[days]
        setattr(score, f"total_sessions_{days}d", total)
        setattr(score, f"tutor_reschedules_{days}d", reschedules)
        setattr(score, f"reschedule_rate_{days}d", percentage(reschedules, total))
    score.no_shows_30d = facts.no_shows_30d
    score.no_show_rate_30d = percentage(facts.no_shows_30d, facts.totals[30])
    score.first_sessions_90d = facts.first_sessions
    score.retained_first_sessions_90d = facts.retained_first_sessions
    score.first_session_retention_90d = percentage(facts.retained_first_sessions, facts.first_sessions)
    score.rated_sessions_90d = facts.rated_sessions
    score.average_rating_90d = (
        (Decimal(facts.rating_sum) / facts.rated_sessions).quantize(CENT, rounding=ROUND_HALF_UP)
        if facts.rated_sessions
        else None
    )

    score.flag_evidence_ratio = settings.flag_evidence_ratio
    verdicts = weigh_facts(facts, settings=settings, was_flagged=was_flagged)
    if not is_active(facts):  # missing data never raises a score: no flag, no alert, not ranked
        score.reschedule_flag = score.no_show_flag = score.first_session_flag = False
        score.is_high_risk = score.is_watching = False
        score.risk_score, score.risk_level, score.evidence = Decimal(0), RiskLevel.INACTIVE, {}
        score.reasons, score.recommendations = explain_inactive(facts), []
        return score

    score.reschedule_flag = verdicts[Alert.Kind.RESCHEDULE_RATE].flagged
    score.no_show_flag = verdicts[Alert.Kind.NO_SHOW_RATE].flagged
    score.first_session_flag = verdicts[Alert.Kind.FIRST_SESSION].flagged
    score.is_high_risk = score.reschedule_flag or score.no_show_flag or score.first_session_flag
    score.is_watching = any(verdict.watching for verdict in verdicts.values())
    score.evidence = {kind: verdict.as_json() for kind, verdict in verdicts.items()}
    score.risk_score = risk_score(verdicts, settings=settings, flagged=score.is_high_risk)
    if score.is_high_risk:
        score.risk_level = RiskLevel.HIGH
    elif score.is_watching or score.risk_score >= MEDIUM_RISK_SCORE:
        score.risk_level = RiskLevel.MEDIUM
    else:
        score.risk_level = RiskLevel.LOW
    score.reasons, score.recommendations = explain(score, facts, verdicts, settings=settings)
    return score


def is_active(facts):
    """Marked active, with at least one session in the last 30 days: only then is a tutor judged."""
    return facts.is_active and facts.totals[ACTIVE_WINDOW_DAYS] > 0


def weigh_facts(facts, *, settings, was_flagged=None):
    """{alert kind: Evidence}: for reschedules the window that says most (scoring/evidence.py).
    `was_flagged` ({alert kind: bool}, the stored score's flags) lets a raised flag stay up while
    the evidence still favours the bad rate."""
    was_flagged = was_flagged or {}

    def common(kind):
        return {
            "evidence_ratio": settings.flag_evidence_ratio,
            "minimum": settings.minimum_sessions,
            "was_flagged": was_flagged.get(kind, False),
        }

    reschedules = strongest(
        [
            weigh(
                facts.tutor_reschedules[days],
                facts.totals[days],
                window_days=days,
                threshold_percent=settings.reschedule_rate_threshold,
                **common(Alert.Kind.RESCHEDULE_RATE),
            )
            for days in WINDOWS
        ]
    )
    no_shows = weigh(
        facts.no_shows_30d,
        facts.totals[30],
        window_days=30,
        threshold_percent=settings.no_show_rate_threshold,
        **common(Alert.Kind.NO_SHOW_RATE),
    )
    # Retention is weighed on its complement: new students who did not come back.
    first_sessions = weigh(
        facts.first_sessions - facts.retained_first_sessions,
        facts.first_sessions,
        window_days=90,
        threshold_percent=HUNDRED - settings.first_session_retention_threshold,
        **common(Alert.Kind.FIRST_SESSION),
    )
    return {
        Alert.Kind.RESCHEDULE_RATE: reschedules,
        Alert.Kind.NO_SHOW_RATE: no_shows,
        Alert.Kind.FIRST_SESSION: first_sessions,
    }


def risk_score(verdicts, *, settings, flagged):
    """The strongest component plus a quarter of the weighted mean of all, as a whole number."""
    weights = {
        Alert.Kind.RESCHEDULE_RATE: settings.reschedule_weight,
        Alert.Kind.NO_SHOW_RATE: settings.no_show_weight,
        Alert.Kind.FIRST_SESSION: settings.first_session_weight,
    }
    strengths = {kind: Decimal(str(round(verdict.strength, 4))) for kind, verdict in verdicts.items()}
    total_weight = sum(weights.values()) or Decimal(1)
    mean = sum(weights[kind] * strength for kind, strength in strengths.items()) / total_weight
    value = max(strengths.values()) + OTHER_COMPONENTS_SHARE * mean
    value = min(value, HUNDRED if flagged else UNFLAGGED_MAX_SCORE)
    return value.quantize(Decimal(1), rounding=ROUND_HALF_UP)


REASON_LABELS = {code: label.lower() for code, label in Reschedule.ReasonCode.choices}


def _reason_label(code):
    return REASON_LABELS.get(code, code)


def _top(counts, *, minimum):
    """The key of {key: count} with the highest count, when no other key ties it and it reaches
    `minimum`; else None."""
    if not counts:
        return None
    top = max(counts, key=counts.get)
    if counts[top] < minimum or sum(1 for count in counts.values() if count == counts[top]) > 1:
        return None
    return top


def _sentences(score, facts, verdicts, settings):
    """{kind: (figure sentence, clause about the evidence)} of the three rates, when they have data."""
    reschedule = verdicts[Alert.Kind.RESCHEDULE_RATE]
    days = reschedule.window_days
    sentences = {}
    if reschedule.total:
        sentences[Alert.Kind.RESCHEDULE_RATE] = (
            f"Rescheduled {reschedule.events} of {plural(reschedule.total, 'session')} "
            f"in the last {days} days "
            f"({format_percent(getattr(score, f'reschedule_rate_{days}d'))}%, threshold "
            f"{format_percent(settings.reschedule_rate_threshold)}%)",
            settings.reschedule_rate_threshold,
            "sessions",
        )
    if facts.totals[30]:
        sentences[Alert.Kind.NO_SHOW_RATE] = (
            f"Missed {facts.no_shows_30d} of {plural(facts.totals[30], 'session')} in the last 30 days "
            f"({format_percent(score.no_show_rate_30d)}%, threshold "
            f"{format_percent(settings.no_show_rate_threshold)}%)",
            settings.no_show_rate_threshold,
            "sessions",
        )
    if facts.first_sessions:
        sentences[Alert.Kind.FIRST_SESSION] = (
            f"{facts.retained_first_sessions} of {plural(facts.first_sessions, 'new student')} came back "
            f"within {FIRST_SESSION_FOLLOW_UP_DAYS} days of their first session "
            f"({format_percent(score.first_session_retention_90d)}%, threshold "
            f"{format_percent(settings.first_session_retention_threshold)}%)",
            HUNDRED - settings.first_session_retention_threshold,
            "first sessions",
        )
    return sentences


def explain_inactive(facts):
    """Why an inactive tutor is not scored."""
    if not facts.is_active:
        return ["Inactive: marked inactive on the platform."]
    if not facts.totals[90]:
        return ["Inactive: no sessions in the last 90 days."]
    return [f"Inactive: no session in the last {ACTIVE_WINDOW_DAYS} days."]


def _lead(kind, text, verdict, threshold, noun, settings):
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
        missing = " not coming back" if kind == Alert.Kind.FIRST_SESSION else ""
        verb = "is" if verdict.flagged else "would be"
        clause = f"{needed} of {verdict.total}{missing} {verb} enough evidence to flag"
    if verdict.flagged:
        return f"{text}; {clause}."
    return f"Watching: {text[0].lower()}{text[1:]}; {clause}."


def explain(score, facts, verdicts, *, settings):
    """Plain sentences (reasons) and next steps (recommendations), from the score and its facts.

    Reasons lead with the sentences that raised a flag (strongest first), then the rates being
    watched, then the context: other reschedule windows, patterns, the other rates, ratings."""
    reasons, recommendations = [], []
    sentences = _sentences(score, facts, verdicts, settings)
    ranked = sorted(
        (kind for kind in sentences if verdicts[kind].flagged or verdicts[kind].watching),
        key=lambda kind: (not verdicts[kind].flagged, -verdicts[kind].strength),
    )
    for kind in ranked:
        text, threshold, noun = sentences[kind]
        reasons.append(_lead(kind, text, verdicts[kind], threshold, noun, settings))
    if facts.totals[ACTIVE_WINDOW_DAYS] < settings.minimum_sessions and not ranked:
        reasons.append(
            f"Too few sessions to judge yet (a window needs at least {settings.minimum_sessions})."
        )

    # Other reschedule windows that are red or amber (a wider window holding the very same
    # counts adds nothing); without any, the 30-day figure.
    threshold = format_percent(settings.reschedule_rate_threshold)
    lead = verdicts[Alert.Kind.RESCHEDULE_RATE]
    shown = {(lead.events, lead.total)} if Alert.Kind.RESCHEDULE_RATE in ranked else set()
    for days in WINDOWS:
        counts = (facts.tutor_reschedules[days], facts.totals[days])
        rate = getattr(score, f"reschedule_rate_{days}d")
        colour = rate_colour(rate, settings.reschedule_rate_threshold)
        if colour in ("", "green") or counts in shown:
            continue
        reasons.append(
            f"Rescheduled {counts[0]} of {plural(counts[1], 'session')} in the last "
            f"{days} days ({format_percent(rate)}%, threshold {threshold}%)."
        )
        shown.add(counts)
    if not shown and facts.totals[30]:
        reasons.append(
            f"Rescheduled {facts.tutor_reschedules[30]} of {plural(facts.totals[30], 'session')} "
            "in the last 30 days "
            f"({format_percent(score.reschedule_rate_30d)}%, threshold {threshold}%)."
        )

    # Reschedule patterns over the 90-day window.
    reschedules = facts.tutor_reschedules[PATTERN_WINDOW_DAYS]
    last_minute_share = percentage(facts.last_minute_reschedules, reschedules)
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

    if Alert.Kind.NO_SHOW_RATE in sentences and facts.no_shows_30d and Alert.Kind.NO_SHOW_RATE not in ranked:
        reasons.append(sentences[Alert.Kind.NO_SHOW_RATE][0] + ".")
    if Alert.Kind.FIRST_SESSION in sentences and Alert.Kind.FIRST_SESSION not in ranked:
        reasons.append(sentences[Alert.Kind.FIRST_SESSION][0] + ".")
    if score.average_rating_90d is not None:
        reasons.append(
            f"Average student rating {score.average_rating_90d} from {score.rated_sessions_90d} "
            f"rated session{'s' if score.rated_sessions_90d != 1 else ''} in the last 90 days."
        )

    if score.reschedule_flag:
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


# --- the two public paths -----------------------------------------------------------------------


def compute_scores(*, now, settings, tutor_ids=None, previous_flags=None):
    """Unsaved TutorScore rows for every tutor (or the given ones), from a fixed number of queries.
    `previous_flags` (read_flags()): the stored flags, read here when not given."""
    if previous_flags is None:
        previous_flags = read_flags(tutor_ids)
    facts = read_facts(now=now, tutor_ids=tutor_ids)
    return [
        build_score(
            tutor_id, tutor_facts, settings=settings, now=now, was_flagged=previous_flags.get(tutor_id)
        )
        for tutor_id, tutor_facts in facts.items()
    ]


# A score never replaces one computed from newer data: the hourly recompute reads every tutor's
# version first and commits seconds later, after per-ingest tasks may have scored newer sessions
# (overwriting them would resolve their alerts, and reopen them at the next sweep).
NEWER_DATA_ONLY = "tutor_scores.sessions_version <= EXCLUDED.sessions_version"
# With newer_only, nor one calculated later: two workers may score the same tutor at once (a
# coalesced burst), and the one that started first may commit last.
NEWER_ONLY = "tutor_scores.last_calculated_at <= EXCLUDED.last_calculated_at"
SAVED_COLUMNS = ["id", "tutor_id", "created_at", *SCORE_FIELDS]


def save_scores(scores, *, newer_only=False):
    """Upsert the rows on tutor, unless the stored score was computed from a newer
    sessions_version (with newer_only: or calculated later); returns the scores that landed.
    PostgreSQL with many rows: COPY into a temporary table, then one INSERT … ON CONFLICT;
    otherwise multi-row INSERT … ON CONFLICT statements (SQLite batches them by its variable
    limit)."""
    if not scores:
        return []
    saved_at = timezone.now()
    for score in scores:
        score.updated_at = saved_at  # auto_now, as Model.save would set it
    if connection.vendor == "postgresql" and len(scores) >= BULK_THRESHOLD:
        landed = _copy_upsert(scores, newer_only=newer_only)
    else:
        landed = _insert_upsert(scores, newer_only=newer_only)
    if len(landed) == len(scores):
        return scores
    return [score for score in scores if score.tutor_id in landed]


def _upsert_tail(newer_only):
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in SCORE_FIELDS)
    where = f"{NEWER_DATA_ONLY} AND {NEWER_ONLY}" if newer_only else NEWER_DATA_ONLY
    return f"ON CONFLICT (tutor_id) DO UPDATE SET {updates} WHERE {where} RETURNING tutor_id"


def _insert_upsert(scores, *, newer_only):
    # Hand-written rather than bulk_create(update_conflicts=...): that cannot say "only when
    # newer", and compiling it was a visible share of the one-tutor path.
    fields = [TutorScore._meta.get_field(name) for name in SAVED_COLUMNS]
    batch = max(1, connection.ops.bulk_batch_size(fields, scores))
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    landed = set()
    with connection.cursor() as cursor:
        for start in range(0, len(scores), batch):
            chunk = scores[start : start + batch]
            params = [
                field.get_db_prep_save(getattr(score, field.attname), connection)
                for score in chunk
                for field in fields
            ]
            cursor.execute(
                f"INSERT INTO tutor_scores ({', '.join(SAVED_COLUMNS)}) VALUES "
                f"{', '.join([row] * len(chunk))} {_upsert_tail(newer_only)}",
                params,
            )
            landed.update(_as_uuid(tutor_id) for (tutor_id,) in cursor.fetchall())
    return landed


def _copy_upsert(scores, *, newer_only):
    # Binding 10,000 rows × 35 values as query parameters costs seconds of Python; COPY streams
    # them in a fraction of that. Same columns, same conflict rule as the INSERT path.
    json_fields = {"reasons", "recommendations", "evidence"}
    column_list = ", ".join(SAVED_COLUMNS)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.scoring_upsert")
        cursor.execute("CREATE TEMPORARY TABLE scoring_upsert (LIKE tutor_scores) ON COMMIT DROP")
        with cursor.cursor.copy(f"COPY scoring_upsert ({column_list}) FROM STDIN") as copy:
            for score in scores:
                copy.write_row(
                    [
                        json.dumps(getattr(score, name)) if name in json_fields else getattr(score, name)
                        for name in SAVED_COLUMNS
                    ]
                )
        cursor.execute(
            f"INSERT INTO tutor_scores ({column_list}) SELECT {column_list} FROM scoring_upsert "
            f"ORDER BY tutor_id {_upsert_tail(newer_only)}"
        )
        return {tutor_id for (tutor_id,) in cursor.fetchall()}


def recompute_all(*, now=None, tutor_ids=None, settings=None, newer_only=False):
    """Score every tutor (or only `tutor_ids`) set-based, save the scores and sync alerts.

    A stored score computed from a newer sessions_version is kept, and its alerts are left
    alone. newer_only: so is one calculated after `now`; the per-ingest task sets it, since
    concurrent workers may score the same tutors.

    Returns the number of tutors whose new score was saved. Each score keeps the tutor's
    sessions_version read before its counts, so a change that commits during the computation
    leaves the tutor stale.
    """
    now = now or timezone.now()
    if tutor_ids is not None:
        tutor_ids = list(tutor_ids)
        if not tutor_ids:
            return 0
    settings = settings or ScoringSettings.load()
    with transaction.atomic():
        previous_flags = read_flags(tutor_ids)
        scores = compute_scores(
            now=now, settings=settings, tutor_ids=tutor_ids, previous_flags=previous_flags
        )
        scores = save_scores(scores, newer_only=newer_only)
        sync_alerts(scores, now=now, previous_flags=previous_flags)
    return len(scores)


def preview_settings(settings, *, now=None):
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


def score_tutor(tutor, *, now=None, settings=None):
    """Score one tutor with exactly the code of recompute_all; returns the saved TutorScore."""
    recompute_all(now=now, tutor_ids=[tutor.pk], settings=settings)
    return TutorScore.objects.get(tutor_id=tutor.pk)
