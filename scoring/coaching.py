"""Did coaching work? For each alert a person acted on, the tutor's rate of the alert's kind in the
30 days before the first action against the 30 days after it.

The first action is the earliest acknowledge, assign, note or resolve by a user (snoozing puts the
alert off, the system's own events are not coaching). A comparison needs COMPARISON_DAYS to have
passed since that action, and at least MIN_SESSIONS sessions in each window: below that one
session moves the rate by over 20 points, and the change says nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery

from sessions.first_sessions import FOLLOW_UP_DAYS
from sessions.models import COUNTED_STATUSES, Reschedule, Session, Tutor

from .models import Alert, AlertEvent
from .rates import percentage

COMPARISON_DAYS = 30
MIN_SESSIONS = 5
COACHING_ACTIONS = (
    AlertEvent.Action.ACKNOWLEDGED,
    AlertEvent.Action.ASSIGNED,
    AlertEvent.Action.NOTE,
    AlertEvent.Action.RESOLVED,
)
LOWER_IS_BETTER: dict[str, bool] = {
    Alert.Kind.RESCHEDULE_RATE: True,
    Alert.Kind.NO_SHOW_RATE: True,
    Alert.Kind.FIRST_SESSION: False,
}


@dataclass(frozen=True)
class CoachingOutcome:
    alert: Alert
    first_action_at: datetime
    sessions_before: int  # the rate's denominator: counted sessions, or judged first sessions
    events_before: int  # its numerator: tutor reschedules, tutor no-shows, or retained first sessions
    sessions_after: int
    events_after: int
    ready: bool  # COMPARISON_DAYS have passed since the first action

    @property
    def ready_on(self) -> datetime:
        return self.first_action_at + timedelta(days=COMPARISON_DAYS)

    @property
    def comparable(self) -> bool:
        return self.ready and min(self.sessions_before, self.sessions_after) >= MIN_SESSIONS

    @property
    def rate_before(self) -> Decimal | None:
        return percentage(self.events_before, self.sessions_before)

    @property
    def rate_after(self) -> Decimal | None:
        return percentage(self.events_after, self.sessions_after) if self.ready else None

    @property
    def change(self) -> Decimal | None:
        """After minus before, in percentage points (None unless comparable)."""
        before, after = self.rate_before, self.rate_after
        if not self.comparable or before is None or after is None:
            return None
        return after - before

    @property
    def improved(self) -> bool | None:
        if self.change is None:
            return None
        return self.change < 0 if LOWER_IS_BETTER[self.alert.kind] else self.change > 0

    @property
    def verdict(self) -> str:
        if not self.ready:
            return f"too early: compare after {self.ready_on:%b %-d, %Y}"
        if not self.comparable:
            return "too few sessions to compare"
        if self.change == 0:
            return "unchanged"
        return "improved" if self.improved else "worse"


def _window_filters(now):
    """{name: Q} of the per-alert counts, relative to each alert's first action (an annotation)."""
    session = "tutor__sessions__"
    start = F("first_action_at")
    before = Q(
        **{f"{session}scheduled_time__gt": start - timedelta(days=COMPARISON_DAYS)},
        **{f"{session}scheduled_time__lte": start},
    )
    after = Q(
        **{f"{session}scheduled_time__gt": start},
        **{f"{session}scheduled_time__lte": start + timedelta(days=COMPARISON_DAYS)},
    ) & Q(**{f"{session}scheduled_time__lte": now})
    counted = Q(**{f"{session}status__in": COUNTED_STATUSES})
    reschedule = Q(
        **{f"{session}status": Session.Status.RESCHEDULED},
        **{f"{session}reschedule_initiator": Reschedule.Initiator.TUTOR},
    )
    no_show = Q(
        **{f"{session}status": Session.Status.NO_SHOW}, **{f"{session}no_show_by": Session.NoShowBy.TUTOR}
    )
    # A first session shows whether the student came back only FOLLOW_UP_DAYS later (as in the engine).
    judged_first = Q(
        **{f"{session}is_first_session": True},
        **{f"{session}status": Session.Status.COMPLETED},
        **{f"{session}scheduled_time__lte": now - timedelta(days=FOLLOW_UP_DAYS)},
    )
    retained = judged_first & Q(**{f"{session}first_session_retained": True})
    return {
        f"{name}_{side}": window & condition
        for side, window in (("before", before), ("after", after))
        for name, condition in (
            ("counted", counted),
            ("reschedules", reschedule),
            ("no_shows", no_show),
            ("first", judged_first),
            ("retained", retained),
        )
    }


def coaching_outcomes(*, now: datetime, tutor: Tutor | None = None) -> list[CoachingOutcome]:
    """Every alert a person acted on (of one tutor, or all), newest action first: one grouped query
    counting each alert's tutor's sessions in the two windows by conditional aggregation."""
    actions = AlertEvent.objects.filter(
        alert=OuterRef("pk"), actor__isnull=False, action__in=COACHING_ACTIONS
    ).order_by("created_at")
    # The acted-on alerts first (a semi-join the planner can estimate: few rows), then their
    # sessions. Filtering on the annotation instead made it expect every alert to join every
    # session of its tutor, a plan costly enough for JIT compilation (1.4 s at 1M sessions).
    alerts = Alert.objects.filter(Exists(actions)).annotate(
        first_action_at=Subquery(actions.values("created_at")[:1])
    )
    if tutor is not None:
        alerts = alerts.filter(tutor=tutor)
    counts = {
        name: Count("tutor__sessions", filter=condition) for name, condition in _window_filters(now).items()
    }
    rows = alerts.select_related("tutor").annotate(**counts).order_by("-first_action_at", "pk")
    return [_outcome(alert, now=now) for alert in rows]


def _outcome(alert, *, now) -> CoachingOutcome:
    if alert.kind == Alert.Kind.FIRST_SESSION:
        sides = {
            side: (getattr(alert, f"first_{side}"), getattr(alert, f"retained_{side}"))
            for side in ("before", "after")
        }
    else:
        events = "reschedules" if alert.kind == Alert.Kind.RESCHEDULE_RATE else "no_shows"
        sides = {
            side: (getattr(alert, f"counted_{side}"), getattr(alert, f"{events}_{side}"))
            for side in ("before", "after")
        }
    return CoachingOutcome(
        alert=alert,
        first_action_at=alert.first_action_at,
        sessions_before=sides["before"][0],
        events_before=sides["before"][1],
        sessions_after=sides["after"][0],
        events_after=sides["after"][1],
        ready=now >= alert.first_action_at + timedelta(days=COMPARISON_DAYS),
    )


@dataclass(frozen=True)
class CoachingSummary:
    kind_label: str
    compared: int
    improved: int
    median_change: object  # Decimal points, None when nothing compared
    too_few: int
    waiting: int


def summarize(outcomes: list[CoachingOutcome]) -> list[CoachingSummary]:
    """Per alert kind: how many comparisons improved, and the median change in points."""
    summaries = []
    for kind, label in Alert.Kind.choices:
        of_kind = [outcome for outcome in outcomes if outcome.alert.kind == kind]
        compared = [outcome for outcome in of_kind if outcome.comparable]
        summaries.append(
            CoachingSummary(
                kind_label=label,
                compared=len(compared),
                improved=sum(1 for outcome in compared if outcome.improved),
                median_change=median(outcome.change for outcome in compared if outcome.change is not None)
                if compared
                else None,
                too_few=sum(1 for outcome in of_kind if outcome.ready and not outcome.comparable),
                waiting=sum(1 for outcome in of_kind if not outcome.ready),
            )
        )
    return summaries
