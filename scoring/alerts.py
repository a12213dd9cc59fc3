"""The alert lifecycle: opened by the system when a flag is raised, resolved by it when the flag
clears, and acknowledged / assigned / annotated / resolved by users. Every transition is an
AlertEvent (actor null = the system).

An episode: while a flag stays raised there is one unresolved alert per tutor and kind (a
database constraint guarantees it). When the flag clears the system resolves it; when the flag
is raised again later a NEW alert opens. A user who resolves an alert while its flag is still
raised closes that episode: no new alert opens until the flag has cleared and is raised again.
"""

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .models import Alert, AlertEvent, RiskLevel, TutorScore
from .signals import alert_opened

logger = logging.getLogger(__name__)

# The three kinds, in the order of the score's components and their weights.
KINDS = RESCHEDULE_RATE, NO_SHOW_RATE, FIRST_SESSION = (
    Alert.Kind.RESCHEDULE_RATE,
    Alert.Kind.NO_SHOW_RATE,
    Alert.Kind.FIRST_SESSION,
)
FLAG_OF_KIND = {
    RESCHEDULE_RATE: "reschedule_flag",
    NO_SHOW_RATE: "no_show_flag",
    FIRST_SESSION: "first_session_flag",
}
CLEARED_TEXT = {
    Alert.Kind.RESCHEDULE_RATE: "Resolved automatically: every reschedule rate is back within the threshold.",
    Alert.Kind.NO_SHOW_RATE: "Resolved automatically: the 30-day no-show rate is back within the threshold.",
    Alert.Kind.FIRST_SESSION: "Resolved automatically: first-session retention is back within the threshold.",
}
INACTIVE_TEXT = (
    "Closed: the tutor is inactive (no session in 30 days, or marked inactive). A new alert opens "
    "if the flag is raised again when they are back."
)
UNRESOLVED = [Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED]
# Above this many tutors, read every unresolved alert rather than send a huge IN list.
IN_LIST_LIMIT = 500


def alert_message(score: TutorScore, kind: Alert.Kind) -> str:
    """Why an alert of `kind` opens: the score's reasons about that flag."""
    prefixes = {
        Alert.Kind.RESCHEDULE_RATE: ("Rescheduled", "Most reschedules", "Most common reason"),
        Alert.Kind.NO_SHOW_RATE: ("Missed",),
        Alert.Kind.FIRST_SESSION: ("Average student rating",),
    }[kind]
    lines = [
        reason
        for reason in score.reasons
        if reason.startswith(prefixes)
        or (kind == Alert.Kind.RESCHEDULE_RATE and "last-minute" in reason)
        or (kind == Alert.Kind.FIRST_SESSION and "new students" in reason)
    ]
    return " ".join(lines) or f"{Alert.Kind(kind).label} flag raised."


def read_flags(tutor_ids: Iterable[uuid.UUID] | None = None) -> dict[uuid.UUID, dict[str, bool]]:
    """{tutor_id: {kind: bool}} of the stored scores (read before new scores overwrite them)."""
    scores = TutorScore.objects.all()
    if tutor_ids is not None:
        scores = scores.filter(tutor_id__in=list(tutor_ids))
    rows = scores.values_list("tutor_id", *FLAG_OF_KIND.values())
    return {row[0]: dict(zip(FLAG_OF_KIND, row[1:], strict=True)) for row in rows}


def sync_alerts(
    scores: TutorScore | Iterable[TutorScore],
    *,
    now: datetime,
    previous_flags: dict[uuid.UUID, dict[str, bool]] | None = None,
) -> tuple[list[Alert], list[uuid.UUID]]:
    """Open and auto-resolve alerts to match one TutorScore or many, in a fixed number of queries.

    `previous_flags` ({tutor_id: {kind: bool}}, from read_flags before saving the new scores)
    tells an ongoing episode from a new one; without it every raised flag lacking an unresolved
    alert opens one. Returns (opened_alerts, resolved_alert_ids). `alert_opened` is sent after
    commit for each opened alert.
    """
    if isinstance(scores, TutorScore):
        scores = [scores]
    by_tutor = {score.tutor_id: score for score in scores}
    if not by_tutor:
        return [], []
    previous_flags = previous_flags or {}
    with transaction.atomic(savepoint=False):
        unresolved = Alert.objects.select_for_update().filter(status__in=UNRESOLVED).order_by("pk")
        if len(by_tutor) <= IN_LIST_LIMIT:
            unresolved = unresolved.filter(tutor_id__in=list(by_tutor))
        existing: dict[uuid.UUID, dict[str, uuid.UUID]] = {}  # {tutor_id: {kind: alert_id}}
        for pk, tutor_id, kind in unresolved.values_list("id", "tutor_id", "kind"):
            if tutor_id in by_tutor:
                existing.setdefault(tutor_id, {})[kind] = pk

        to_open, to_resolve = [], []
        no_alerts: dict[str, uuid.UUID] = {}
        no_flags: dict[str, bool] = {}
        for tutor_id, score in by_tutor.items():
            # Looked up once per tutor, not once per kind (a UUID hashes in Python).
            alerts, was_flagged = existing.get(tutor_id, no_alerts), previous_flags.get(tutor_id, no_flags)
            for kind, flag in FLAG_OF_KIND.items():
                raised = getattr(score, flag)
                alert_id = alerts.get(kind)
                if raised and alert_id is None and not was_flagged.get(kind, False):
                    to_open.append(
                        Alert(
                            id=uuid.uuid4(),
                            tutor_id=tutor_id,
                            kind=kind,
                            status=Alert.Status.OPEN,
                            message=alert_message(score, kind),
                            opened_at=now,
                            created_at=now,
                        )
                    )
                elif not raised and alert_id is not None:
                    inactive = score.risk_level == RiskLevel.INACTIVE
                    to_resolve.append((alert_id, kind, inactive))

        opened = []
        if to_open:
            # A concurrent scorer may have opened the same episode: the partial unique constraint
            # makes that insert a no-op, and only the rows that really landed count as opened.
            Alert.objects.bulk_create(to_open, ignore_conflicts=True)
            landed = set(
                Alert.objects.filter(pk__in=[alert.pk for alert in to_open]).values_list("pk", flat=True)
            )
            opened = [alert for alert in to_open if alert.pk in landed]
        resolved_ids = [alert_id for alert_id, _, _ in to_resolve]
        for inactive in (False, True):
            ids = [alert_id for alert_id, _, is_inactive in to_resolve if is_inactive == inactive]
            if ids:
                Alert.objects.filter(pk__in=ids, status__in=UNRESOLVED).update(
                    status=Alert.Status.RESOLVED,
                    resolved_at=now,
                    resolved_by=None,
                    resolution=Alert.Resolution.INACTIVE if inactive else Alert.Resolution.CLEARED,
                    updated_at=now,
                )
        events = [
            AlertEvent(alert=alert, action=AlertEvent.Action.OPENED, text=alert.message, created_at=now)
            for alert in opened
        ] + [
            AlertEvent(
                alert_id=alert_id,
                action=AlertEvent.Action.RESOLVED,
                text=INACTIVE_TEXT if inactive else CLEARED_TEXT[kind],
                created_at=now,
            )
            for alert_id, kind, inactive in to_resolve
        ]
        if events:
            AlertEvent.objects.bulk_create(events)
        if opened:
            transaction.on_commit(lambda: _announce(opened))
    return opened, resolved_ids


def _announce(alerts):
    for alert in alerts:
        # A failing receiver (e.g. the mail queue) must not undo or block scoring.
        for receiver, result in alert_opened.send_robust(sender=Alert, alert=alert):
            if isinstance(result, Exception):
                logger.error("alert_opened receiver %r failed for alert %s: %r", receiver, alert.pk, result)


# --- user actions -------------------------------------------------------------------------------


def _transition(alert, *, allowed, error, changes):
    """Apply `changes` only if the alert is still in an allowed status (safe against races)."""
    updated = Alert.objects.filter(pk=alert.pk, status__in=allowed).update(**changes)
    if not updated:
        raise ValidationError(error, code="invalid_transition")
    for name, value in changes.items():
        setattr(alert, name, value)


def acknowledge(alert: Alert, *, user: User, now: datetime | None = None) -> AlertEvent:
    """Mark an open alert as being looked at."""
    now = now or timezone.now()
    with transaction.atomic():
        _transition(
            alert,
            allowed=[Alert.Status.OPEN],
            error="Only an open alert can be acknowledged.",
            changes={
                "status": Alert.Status.ACKNOWLEDGED,
                "acknowledged_at": now,
                "acknowledged_by": user,
                "updated_at": now,
            },
        )
        return AlertEvent.objects.create(
            alert=alert, action=AlertEvent.Action.ACKNOWLEDGED, actor=user, created_at=now
        )


def assign(alert: Alert, *, assignee: User | None, user: User, now: datetime | None = None) -> AlertEvent:
    """Give an unresolved alert to someone (assignee None: unassign)."""
    now = now or timezone.now()
    with transaction.atomic():
        _transition(
            alert,
            allowed=UNRESOLVED,
            error="A resolved alert cannot be assigned.",
            changes={"assignee": assignee, "updated_at": now},
        )
        text = f"Assigned to {assignee.get_username()}." if assignee else "Unassigned."
        return AlertEvent.objects.create(
            alert=alert, action=AlertEvent.Action.ASSIGNED, actor=user, text=text, created_at=now
        )


def add_note(alert: Alert, *, text: str, user: User, now: datetime | None = None) -> AlertEvent:
    """Record what was done or found; allowed in every status (a resolved alert keeps its story)."""
    now = now or timezone.now()
    text = (text or "").strip()
    if not text:
        raise ValidationError("A note cannot be empty.", code="empty_note")
    return AlertEvent.objects.create(
        alert=alert, action=AlertEvent.Action.NOTE, actor=user, text=text, created_at=now
    )


OUTCOMES = [Alert.Resolution.COACHED, Alert.Resolution.NOT_A_PROBLEM, Alert.Resolution.TUTOR_LEFT]


def resolve(
    alert: Alert,
    *,
    user: User,
    note: str = "",
    outcome: str = Alert.Resolution.BY_HAND,
    now: datetime | None = None,
) -> AlertEvent:
    """Close an unresolved alert by hand with an outcome (OUTCOMES), optionally with a note."""
    now = now or timezone.now()
    with transaction.atomic():
        _transition(
            alert,
            allowed=UNRESOLVED,
            error="This alert is already resolved.",
            changes={
                "status": Alert.Status.RESOLVED,
                "resolved_at": now,
                "resolved_by": user,
                "resolution": outcome,
                "updated_at": now,
            },
        )
        return AlertEvent.objects.create(
            alert=alert,
            action=AlertEvent.Action.RESOLVED,
            actor=user,
            text=_resolved_text(outcome, note),
            created_at=now,
        )


def _resolved_text(outcome, note=""):
    label = "" if outcome == Alert.Resolution.BY_HAND else f"{Alert.Resolution(outcome).label}."
    return " ".join(part for part in (label, (note or "").strip()) if part)


def snooze(alert: Alert, *, until: datetime, user: User, now: datetime | None = None) -> AlertEvent:
    """Take an unresolved alert out of the queue until `until`; it comes back by itself then."""
    now = now or timezone.now()
    with transaction.atomic():
        _transition(
            alert,
            allowed=UNRESOLVED,
            error="A resolved alert cannot be snoozed.",
            changes={"snoozed_until": until, "updated_at": now},
        )
        return AlertEvent.objects.create(
            alert=alert,
            action=AlertEvent.Action.SNOOZED,
            actor=user,
            text=_snoozed_text(until),
            created_at=now,
        )


def _snoozed_text(until):
    return f"Snoozed until {until:%b %-d, %Y}."


# --- bulk actions (the queue's "selected" / "all matching the filter") ----------------------------

BULK_ACTIONS = ("acknowledge", "assign", "resolve", "snooze")


def bulk_act(
    alerts: QuerySet[Alert],
    action: str,
    *,
    user: User,
    now: datetime,
    assignee: User | None = None,
    outcome: str = Alert.Resolution.BY_HAND,
    until: datetime | None = None,
) -> int:
    """Apply `action` to every alert of the queryset it still fits, in one transaction: one UPDATE
    and one AlertEvent per changed alert. Returns how many changed (the others were skipped)."""
    allowed = [Alert.Status.OPEN] if action == "acknowledge" else UNRESOLVED
    if action == "acknowledge":
        changes = {"status": Alert.Status.ACKNOWLEDGED, "acknowledged_at": now, "acknowledged_by": user}
        event_action, text = AlertEvent.Action.ACKNOWLEDGED, ""
    elif action == "assign":
        changes = {"assignee": assignee}
        event_action = AlertEvent.Action.ASSIGNED
        text = f"Assigned to {assignee.get_username()}." if assignee else "Unassigned."
    elif action == "resolve":
        changes = {
            "status": Alert.Status.RESOLVED,
            "resolved_at": now,
            "resolved_by": user,
            "resolution": outcome,
        }
        event_action, text = AlertEvent.Action.RESOLVED, _resolved_text(outcome)
    elif action == "snooze":
        changes = {"snoozed_until": until}
        event_action, text = AlertEvent.Action.SNOOZED, _snoozed_text(until)
    else:
        raise ValueError(f"unknown bulk action {action!r}")
    with transaction.atomic():
        # Lock the rows first so the events name exactly the alerts the UPDATE changed.
        ids = list(
            alerts.filter(status__in=allowed).select_for_update().order_by().values_list("pk", flat=True)
        )
        if not ids:
            return 0
        Alert.objects.filter(pk__in=ids).update(**changes, updated_at=now)
        AlertEvent.objects.bulk_create(
            AlertEvent(alert_id=alert_id, action=event_action, actor=user, text=text, created_at=now)
            for alert_id in ids
        )
    return len(ids)
