from django.contrib.auth import get_user_model
from django.core.management import call_command

from scoring.models import ScoringSettings


def test_creates_the_demo_login_and_a_report_recipient(db, capsys, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)

    call_command("create_demo_user")

    user = get_user_model().objects.get(username="admin")
    assert user.is_staff and user.is_superuser and user.check_password("tutorscore-demo")
    assert ScoringSettings.load().recipients == ["admin@example.com"]
    assert "admin / tutorscore-demo" in capsys.readouterr().out


def test_is_idempotent_and_keeps_chosen_recipients(db, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "another-demo-password")
    call_command("create_demo_user")
    scoring_settings = ScoringSettings.load()
    scoring_settings.report_recipients = "lead@example.com"
    scoring_settings.save()

    call_command("create_demo_user")

    assert get_user_model().objects.filter(username="admin").count() == 1
    assert get_user_model().objects.get(username="admin").check_password("another-demo-password")
    assert ScoringSettings.load().recipients == ["lead@example.com"]
