"""Scoring admin: one editable settings row, read-only computed data, alert actions with events."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from scoring.models import Alert, AlertEvent, ScoringSettings, TutorScore
from tutorscore.testing import NOW


@pytest.fixture
def ops(django_user_model):
    return django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-123456789")


@pytest.fixture
def admin_client(client, ops):
    client.force_login(ops)
    return client


def settings_url(view, *args):
    return reverse(f"admin:scoring_scoringsettings_{view}", args=args)


def test_settings_changelist_opens_the_single_row(admin_client):
    response = admin_client.get(settings_url("changelist"))
    settings = ScoringSettings.objects.get()
    assert response.status_code == 302 and response.url == settings_url("change", settings.pk)


def test_settings_cannot_be_added_twice_or_deleted(admin_client):
    settings = ScoringSettings.load()
    assert admin_client.get(settings_url("add")).status_code == 403
    assert admin_client.get(settings_url("delete", settings.pk)).status_code == 403
    assert ScoringSettings.objects.count() == 1


def test_settings_can_be_added_when_missing(admin_client):
    assert admin_client.get(settings_url("add")).status_code == 200


def test_editing_settings_saves_the_row(admin_client):
    settings = ScoringSettings.load()
    data = {
        "reschedule_rate_threshold": "20.00",
        "no_show_rate_threshold": "10.00",
        "first_session_retention_threshold": "60.00",
        "minimum_sessions": "6",
        "reschedule_weight": "0.5",
        "no_show_weight": "0.3",
        "first_session_weight": "0.2",
        "report_recipients": "lead@example.com\ncoach@example.com",
        "session_report_mode": "flagged",
        "digest_time": "07:30",
    }
    data["flag_evidence_ratio"] = "40"
    response = admin_client.post(settings_url("change", settings.pk), data)
    assert response.status_code == 200  # first the preview, nothing saved
    assert ScoringSettings.load().reschedule_rate_threshold == Decimal("15.00")
    response = admin_client.post(settings_url("change", settings.pk), {**data, "confirm": "on"})
    assert response.status_code == 302
    settings.refresh_from_db()
    assert settings.reschedule_rate_threshold == Decimal("20.00") and settings.minimum_sessions == 6
    assert settings.recipients == ["lead@example.com", "coach@example.com"]


def test_settings_reject_invalid_values(admin_client):
    settings = ScoringSettings.load()
    data = {
        "reschedule_rate_threshold": "150",
        "no_show_rate_threshold": "10",
        "first_session_retention_threshold": "60",
        "minimum_sessions": "0",
        "reschedule_weight": "0",
        "no_show_weight": "0",
        "first_session_weight": "0",
        "flag_evidence_ratio": "1",
        "session_report_mode": "flagged",
        "digest_time": "08:00",
    }
    response = admin_client.post(settings_url("change", settings.pk), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"reschedule_rate_threshold", "minimum_sessions", "flag_evidence_ratio"} <= set(errors)
    assert "__all__" in errors  # at least one weight must count (database constraint)
    settings.refresh_from_db()
    assert settings.reschedule_rate_threshold == Decimal("15.00")


def test_saving_settings_first_previews_how_many_tutors_it_flags_and_unflags(
    admin_client, make_tutor, make_session
):
    from scoring import engine

    settings = ScoringSettings.load()
    strong, borderline = make_tutor("Strong"), make_tutor("Borderline")
    for tutor, rescheduled in ((strong, 5), (borderline, 3)):  # 5 of 10 and 3 of 10 rescheduled
        for index in range(10):
            make_session(tutor, days_ago=1, status="rescheduled" if index < rescheduled else "completed")
    engine.recompute_all()
    data = {
        "reschedule_rate_threshold": "15.00",
        "no_show_rate_threshold": "10.00",
        "first_session_retention_threshold": "60.00",
        "minimum_sessions": "5",
        "reschedule_weight": "0.5",
        "no_show_weight": "0.3",
        "first_session_weight": "0.2",
        "flag_evidence_ratio": "5",  # looser: 3 of 10 flags too
        "session_report_mode": "flagged",
        "digest_time": "08:00",
    }
    response = admin_client.post(settings_url("change", settings.pk), data)
    assert "this change would flag 1 more tutor(s) and unflag 0 (1 flagged now, 2 after)" in (
        response.content.decode()
    )

    data.update(flag_evidence_ratio="40", reschedule_rate_threshold="50")  # stricter: nobody
    response = admin_client.post(settings_url("change", settings.pk), data)
    assert "flag 0 more tutor(s) and unflag 1 (1 flagged now, 0 after)" in response.content.decode()
    assert ScoringSettings.load().reschedule_rate_threshold == Decimal("15.00")  # only previewed

    data["report_recipients"] = "lead@example.com"
    data.update(flag_evidence_ratio="40", reschedule_rate_threshold="15")  # mail only: no preview
    assert admin_client.post(settings_url("change", settings.pk), data).status_code == 302


@pytest.fixture
def score(make_tutor):
    return TutorScore.objects.create(
        tutor=make_tutor(),
        reschedule_rate_threshold=Decimal("15"),
        no_show_rate_threshold=Decimal("10"),
        first_session_retention_threshold=Decimal("60"),
        minimum_sessions=5,
        risk_score=Decimal("42.00"),
        last_calculated_at=NOW,
    )


def test_scores_are_read_only(admin_client, score):
    url = reverse("admin:scoring_tutorscore_change", args=[score.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client.post(url, {"risk_score": "0"}).status_code == 403
    assert admin_client.get(reverse("admin:scoring_tutorscore_add")).status_code == 403
    assert admin_client.get(reverse("admin:scoring_tutorscore_delete", args=[score.pk])).status_code == 403
    score.refresh_from_db()
    assert score.risk_score == Decimal("42.00")


@pytest.fixture
def alert(make_tutor):
    alert = Alert.objects.create(
        tutor=make_tutor(), kind="reschedule_rate", message="Rescheduled 3 of 8", opened_at=NOW
    )
    AlertEvent.objects.create(alert=alert, action="opened", created_at=NOW)
    return alert


def test_alert_page_shows_its_events_read_only(admin_client, alert, ops):
    AlertEvent.objects.create(alert=alert, action="note", actor=ops, text="Called the tutor on Monday.")
    page = admin_client.get(reverse("admin:scoring_alert_change", args=[alert.pk]))
    assert page.status_code == 200
    assert "Called the tutor on Monday." in page.content.decode()
    inline = page.context["inline_admin_formsets"][0]
    assert (
        not inline.has_add_permission
        and not inline.has_change_permission
        and not inline.has_delete_permission
    )


def run_action(admin_client, action, alert):
    return admin_client.post(
        reverse("admin:scoring_alert_changelist"), {"action": action, "_selected_action": [alert.pk]}
    )


def test_alert_actions_go_through_the_lifecycle_and_record_events(admin_client, alert, ops):
    response = run_action(admin_client, "acknowledge", alert)
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Acknowledged 1 alert(s)."]
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", ops)

    run_action(admin_client, "resolve", alert)
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_by) == ("resolved", ops)
    assert list(alert.events.values_list("action", flat=True)) == ["opened", "acknowledged", "resolved"]


def test_an_invalid_alert_transition_is_reported_not_applied(admin_client, alert):
    run_action(admin_client, "resolve", alert)
    response = run_action(admin_client, "acknowledge", alert)
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Only an open alert can be acknowledged." in message for message in messages)
    assert messages[-1] == "Acknowledged 0 alert(s)."
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_alerts_cannot_be_added_or_edited_by_hand(admin_client, alert):
    assert admin_client.get(reverse("admin:scoring_alert_add")).status_code == 403
    url = reverse("admin:scoring_alert_change", args=[alert.pk])
    assert admin_client.post(url, {"status": "resolved"}).status_code == 403


def test_alert_admin_shows_and_filters_snoozed_until(admin_client, alert, make_tutor):
    snoozed = Alert.objects.create(
        tutor=make_tutor("Sleepy"),
        kind="no_show_rate",
        message="No-shows",
        opened_at=NOW,
        snoozed_until=NOW + timedelta(days=3),
    )
    changelist = reverse("admin:scoring_alert_changelist")
    page = admin_client.get(changelist)
    assert page.status_code == 200
    assert "Snoozed until" in page.content.decode()  # the column header
    assert [
        row.pk
        for row in admin_client.get(changelist, {"snoozed_until__isempty": "0"}).context["cl"].result_list
    ] == [snoozed.pk]
    assert [
        row.pk
        for row in admin_client.get(changelist, {"snoozed_until__isempty": "1"}).context["cl"].result_list
    ] == [alert.pk]
    detail = admin_client.get(reverse("admin:scoring_alert_change", args=[snoozed.pk])).content.decode()
    assert "Snoozed until" in detail
