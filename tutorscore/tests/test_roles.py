"""Roles: viewer reads, coach also acts on alerts, admin also exports, resends and runs the
scoring settings and API keys; superusers (the demo user) do everything. Each role per action."""

import io

import pytest
from django.core.management import call_command

from reports.models import EmailReport
from scoring.models import AlertEvent
from tutorscore import testing
from tutorscore.testing import make_alert

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
ROLES = ["plain staff", "Viewer", "Coach", "Admin", "superuser"]


@pytest.fixture
def user_with(django_user_model):
    def user_with(role):
        user = django_user_model.objects.create_user(
            role.replace(" ", "-"), password="x", is_staff=True, is_superuser=role == "superuser"
        )
        if role in ("Viewer", "Coach", "Admin"):
            user.groups.add(testing.role(role))
        return user

    return user_with


@pytest.fixture
def alert(make_tutor):
    return make_alert(make_tutor("Ada Tutor"))


@pytest.fixture
def failed_mail(db):
    return EmailReport.objects.create(
        kind="digest", event_key="digest:x", recipient_email="lead@example.com", status="failed", attempts=5
    )


def as_role(client, user_with, role):
    client.force_login(user_with(role))
    return client


CAN = {  # action: roles that may do it
    "read": {"plain staff", "Viewer", "Coach", "Admin", "superuser"},
    "act_on_alert": {"Coach", "Admin", "superuser"},
    "export": {"Admin", "superuser"},
    "resend": {"Admin", "superuser"},
    "scoring_settings": {"Admin", "superuser"},
    "api_keys": {"Admin", "superuser"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url", ["/", "/tutors/", "/alerts/", "/reports/", "/reports/preview/alert/"])
def test_every_role_reads_the_dashboard(client, user_with, alert, role, url):
    assert as_role(client, user_with, role).get(url).status_code == 200


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("action", "data"),
    [("acknowledge", {}), ("assign", {"assignee": ""}), ("note", {"text": "Called"}), ("resolve", {})],
)
def test_acting_on_alerts_needs_the_coach_role(client, user_with, alert, role, action, data):
    client = as_role(client, user_with, role)
    if action == "assign":
        data = {"assignee": client.session["_auth_user_id"]}
    response = client.post(f"/alerts/{alert.pk}/{action}/", data, **HTMX)
    allowed = role in CAN["act_on_alert"]
    assert response.status_code == (200 if allowed else 403)
    assert AlertEvent.objects.filter(alert=alert).count() == (2 if allowed else 1)
    if not allowed:
        assert "Your role does not allow you to act on alerts." in response.text


@pytest.mark.parametrize("role", ROLES)
def test_alert_controls_show_only_to_those_who_may_act(client, user_with, alert, role):
    html = as_role(client, user_with, role).get("/alerts/").text
    assert ("Acknowledge</button>" in html) == (role in CAN["act_on_alert"])


def test_only_people_who_may_act_can_be_assigned(client, user_with, alert):
    viewer, coach = user_with("Viewer"), user_with("Coach")
    client.force_login(user_with("Admin"))
    html = client.get("/alerts/").text
    assert f'<option value="{coach.pk}"' in html and f'<option value="{viewer.pk}"' not in html
    response = client.post(f"/alerts/{alert.pk}/assign/", {"assignee": viewer.pk}, **HTMX)
    assert "Choose a staff member to assign." in response.text
    alert.refresh_from_db()
    assert alert.assignee is None


@pytest.mark.parametrize("role", ROLES)
def test_exporting_tutors_needs_the_admin_role(client, user_with, alert, role):
    client = as_role(client, user_with, role)
    response = client.get("/tutors/", {"format": "csv"})
    allowed = role in CAN["export"]
    assert response.status_code == (200 if allowed else 403)
    assert ("Export CSV" in client.get("/tutors/").text) == allowed
    if not allowed:
        assert "Your role does not allow you to export the tutor list." in response.text


@pytest.mark.parametrize("role", ROLES)
def test_resending_mail_needs_the_admin_role(client, user_with, failed_mail, role):
    client = as_role(client, user_with, role)
    allowed = role in CAN["resend"]
    assert ("Resend</button>" in client.get("/reports/").text) == allowed
    response = client.post(f"/reports/{failed_mail.pk}/resend/")
    assert response.status_code == (302 if allowed else 403)
    failed_mail.refresh_from_db()
    assert (failed_mail.status == "failed") == (not allowed)


@pytest.mark.parametrize("role", ROLES)
def test_resend_in_the_admin_needs_the_admin_role(client, user_with, failed_mail, role):
    client = as_role(client, user_with, role)
    response = client.post(
        "/admin/reports/emailreport/", {"action": "resend_failed", "_selected_action": [failed_mail.pk]}
    )
    assert response.status_code in (200, 302, 403)
    failed_mail.refresh_from_db()
    assert (failed_mail.status == "failed") == (role not in CAN["resend"])


@pytest.mark.parametrize("role", ROLES)
def test_acting_on_alerts_in_the_admin_needs_the_coach_role(client, user_with, alert, role):
    client = as_role(client, user_with, role)
    client.post("/admin/scoring/alert/", {"action": "resolve", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert (alert.status == "resolved") == (role in CAN["act_on_alert"])


@pytest.mark.parametrize("role", ROLES)
def test_scoring_settings_and_api_keys_need_the_admin_role(client, user_with, role):
    from scoring.models import ScoringSettings

    settings_row = ScoringSettings.load()
    client = as_role(client, user_with, role)
    allowed = role in CAN["scoring_settings"]
    change = client.get(f"/admin/scoring/scoringsettings/{settings_row.pk}/change/").text
    assert ('name="_save"' in change) == allowed  # viewers and coaches see it read-only, or not at all
    assert client.get("/admin/tutoring/apikey/add/").status_code == (200 if role in CAN["api_keys"] else 403)


def test_the_demo_user_keeps_everything(client, alert):
    call_command("create_demo_user", stdout=io.StringIO())
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="admin"))
    assert client.post(f"/alerts/{alert.pk}/resolve/", **HTMX).status_code == 200
    assert client.get("/tutors/", {"format": "csv"}).status_code == 200


def test_the_roles_hold_their_permissions():
    def codenames(name):
        return set(testing.role(name).permissions.values_list("codename", flat=True))

    viewer, coach, admin = codenames("Viewer"), codenames("Coach"), codenames("Admin")
    assert all(codename.startswith("view_") for codename in viewer)
    assert coach - viewer == {"act_on_alert"}
    assert admin - coach == {
        "export_tutors",
        "resend_email",
        "change_scoringsettings",
        "view_apikey",
        "add_apikey",
        "change_apikey",
    }
