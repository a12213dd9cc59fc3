"""Alert lifecycle: system open / auto-resolve / reopen, user actions, invalid transitions."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from scoring import alerts, engine
from scoring.models import Alert, AlertEvent
from scoring.signals import alert_opened
from tutorscore.testing import NOW

HOUR = timedelta(hours=1)


@pytest.fixture
def flagged_tutor(make_tutor, make_session):
    """A tutor who rescheduled 4 of 6 sessions (66.67%): enough evidence, the flag is raised."""
    tutor = make_tutor()
    for _ in range(2):
        make_session(tutor, days_ago=2)
    for _ in range(4):
        make_session(tutor, days_ago=2, status="rescheduled", reason="double booked")
    return tutor


def events(alert):
    return list(alert.events.values_list("action", "actor", "text"))


def test_flag_opens_one_alert_and_sends_the_signal_after_commit(
    flagged_tutor, django_capture_on_commit_callbacks
):
    received = []

    def receiver(sender, alert, **kwargs):
        received.append(alert.pk)

    alert_opened.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            engine.score_tutor(flagged_tutor, now=NOW)
            assert received == []  # not before commit
        engine.score_tutor(flagged_tutor, now=NOW + HOUR)  # still flagged: no second alert
    finally:
        alert_opened.disconnect(receiver)

    alert = Alert.objects.get()
    assert received == [alert.pk]
    assert (alert.kind, alert.status, alert.opened_at) == ("reschedule_rate", "open", NOW)
    assert alert.message.startswith(
        "Rescheduled 4 of 6 sessions in the last 30 days (66.67%, threshold 15%); "
        "4 of 6 is enough evidence to flag."
    )
    assert events(alert) == [("opened", None, alert.message)]


def test_alert_auto_resolves_when_the_flag_clears_and_reopens_as_a_new_alert(flagged_tutor, make_session):
    engine.score_tutor(flagged_tutor, now=NOW)
    first = Alert.objects.get()

    # 20 more completed sessions: 4 of 26 = 15.38%, the evidence no longer favours a bad rate.
    for _ in range(20):
        make_session(flagged_tutor, days_ago=1)
    engine.score_tutor(flagged_tutor, now=NOW + HOUR)
    first.refresh_from_db()
    assert (first.status, first.resolved_at, first.resolved_by) == ("resolved", NOW + HOUR, None)
    assert first.resolved_by_system
    assert events(first)[-1] == ("resolved", None, alerts.CLEARED_TEXT["reschedule_rate"])

    for _ in range(4):  # 8 of 30
        make_session(flagged_tutor, days_ago=1, status="rescheduled")
    engine.score_tutor(flagged_tutor, now=NOW + 2 * HOUR)
    second = Alert.objects.exclude(pk=first.pk).get()
    assert (second.status, second.opened_at) == ("open", NOW + 2 * HOUR)
    assert Alert.objects.count() == 2


def test_acknowledged_alert_is_also_auto_resolved(flagged_tutor, make_session, staff_user):
    engine.score_tutor(flagged_tutor, now=NOW)
    alert = Alert.objects.get()
    alerts.acknowledge(alert, user=staff_user, now=NOW)
    for _ in range(20):
        make_session(flagged_tutor, days_ago=1)
    engine.score_tutor(flagged_tutor, now=NOW + HOUR)
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_user_actions_record_events(flagged_tutor, staff_user, django_user_model):
    engine.score_tutor(flagged_tutor, now=NOW)
    alert = Alert.objects.get()
    helper = django_user_model.objects.create_user("helper", is_staff=True)

    alerts.acknowledge(alert, user=staff_user, now=NOW + HOUR)
    alerts.assign(alert, assignee=helper, user=staff_user, now=NOW + 2 * HOUR)
    alerts.add_note(alert, text="  Called the tutor.  ", user=helper, now=NOW + 3 * HOUR)
    alerts.resolve(alert, user=helper, note="Calendar fixed.", now=NOW + 4 * HOUR)

    alert.refresh_from_db()
    assert alert.status == "resolved"
    assert (alert.acknowledged_by, alert.acknowledged_at) == (staff_user, NOW + HOUR)
    assert alert.assignee == helper
    assert (alert.resolved_by, alert.resolved_at) == (helper, NOW + 4 * HOUR)
    assert not alert.resolved_by_system
    assert events(alert)[1:] == [
        ("acknowledged", staff_user.pk, ""),
        ("assigned", staff_user.pk, "Assigned to helper."),
        ("note", helper.pk, "Called the tutor."),
        ("resolved", helper.pk, "Calendar fixed."),
    ]
    assert list(alert.events.values_list("created_at", flat=True)) == [NOW + n * HOUR for n in range(5)]


def test_invalid_transitions_raise_validation_error(flagged_tutor, staff_user):
    engine.score_tutor(flagged_tutor, now=NOW)
    alert = Alert.objects.get()
    alerts.acknowledge(alert, user=staff_user)
    with pytest.raises(ValidationError):
        alerts.acknowledge(alert, user=staff_user)  # already acknowledged
    with pytest.raises(ValidationError):
        alerts.add_note(alert, text="   ", user=staff_user)
    alerts.resolve(alert, user=staff_user)
    for action in (
        lambda: alerts.acknowledge(alert, user=staff_user),
        lambda: alerts.assign(alert, assignee=staff_user, user=staff_user),
        lambda: alerts.resolve(alert, user=staff_user),
    ):
        with pytest.raises(ValidationError):
            action()
    alerts.add_note(alert, text="Post-mortem: fine now.", user=staff_user)  # notes stay allowed
    assert AlertEvent.objects.filter(alert=alert).count() == 4  # opened, acknowledged, resolved, note


def test_stale_in_memory_alert_cannot_be_resolved_twice(flagged_tutor, staff_user):
    engine.score_tutor(flagged_tutor, now=NOW)
    copy_one, copy_two = Alert.objects.get(), Alert.objects.get()
    alerts.resolve(copy_one, user=staff_user)
    with pytest.raises(ValidationError):
        alerts.resolve(copy_two, user=staff_user)
    assert AlertEvent.objects.filter(action="resolved").count() == 1


def test_user_resolution_closes_the_episode_until_the_flag_clears(flagged_tutor, make_session, staff_user):
    engine.score_tutor(flagged_tutor, now=NOW)
    alerts.resolve(Alert.objects.get(), user=staff_user, note="Talked it through.")

    engine.score_tutor(flagged_tutor, now=NOW + HOUR)  # still flagged, same episode: no new alert
    assert Alert.objects.count() == 1

    for _ in range(20):
        make_session(flagged_tutor, days_ago=1)
    engine.score_tutor(flagged_tutor, now=NOW + 2 * HOUR)  # cleared: 4 of 26 favours a good rate
    for _ in range(6):
        make_session(flagged_tutor, days_ago=1, status="rescheduled")
    engine.score_tutor(flagged_tutor, now=NOW + 3 * HOUR)  # raised again: a new episode
    assert Alert.objects.filter(status="open").count() == 1
    assert Alert.objects.count() == 2


def test_sync_alerts_ignores_a_concurrently_opened_alert(flagged_tutor, monkeypatch):
    score = engine.score_tutor(flagged_tutor, now=NOW)
    # Another worker opened the episode between our read and our insert: make the read miss it.
    monkeypatch.setattr(alerts, "UNRESOLVED", ["not-a-status"])
    opened, resolved = alerts.sync_alerts([score], now=NOW + HOUR)
    assert (opened, resolved) == ([], [])
    assert Alert.objects.count() == 1
    assert AlertEvent.objects.count() == 1


def test_a_failing_alert_receiver_does_not_undo_scoring(
    flagged_tutor, django_capture_on_commit_callbacks, caplog
):
    def broken(sender, alert, **kwargs):
        raise RuntimeError("mail queue down")

    alert_opened.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            engine.score_tutor(flagged_tutor, now=NOW)
    finally:
        alert_opened.disconnect(broken)
    assert Alert.objects.get().status == "open"
    assert "mail queue down" in caplog.text
