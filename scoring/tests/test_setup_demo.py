"""manage.py setup_demo: `make demo` keeps the data it finds, `make demo-reset` reloads it."""

from io import StringIO

import pytest
from django.core.management import call_command

from scoring.management.commands import setup_demo
from scoring.models import Alert, ScoringSettings
from sessions.models import Tutor
from tutorscore.testing import make_alert


@pytest.fixture(autouse=True)
def small_demo_data(monkeypatch):
    monkeypatch.setattr(
        setup_demo, "DEMO_DATA", ["--tutors=5", "--sessions=60", "--days=30", "--seed=42", "--no-scores"]
    )
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)


def run(*args):
    out = StringIO()
    call_command("setup_demo", *args, stdout=out)
    return out.getvalue().splitlines()


def test_loads_the_data_into_an_empty_database_and_ends_with_the_login(db):
    lines = run()

    assert Tutor.objects.count() == 5
    assert ScoringSettings.load().recipients == ["admin@example.com"]  # set before the data: alerts mail
    assert lines[-3:] == [
        "  Dashboard: http://testserver/",
        "  Admin:     http://testserver/admin/",
        "  Log in as: admin / tutorscore-demo",
    ]


def test_a_second_run_keeps_the_data_and_what_staff_did_with_it(db):
    run()
    tutor_ids = set(Tutor.objects.values_list("pk", flat=True))
    alert = make_alert(Tutor.objects.first(), status=Alert.Status.ACKNOWLEDGED)

    lines = run()

    assert set(Tutor.objects.values_list("pk", flat=True)) == tutor_ids
    assert Alert.objects.get(pk=alert.pk).status == Alert.Status.ACKNOWLEDGED
    assert "Keeping the data already loaded (5 tutors)" in "\n".join(lines)
    assert lines[-1] == "  Log in as: admin / tutorscore-demo"


def test_reset_loads_the_demo_data_afresh(db, make_tutor):
    make_tutor(name="Someone added by hand")
    run()
    assert Tutor.objects.count() == 1  # not empty: nothing loaded

    lines = run("--reset")

    assert Tutor.objects.count() == 5
    assert not Tutor.objects.filter(name="Someone added by hand").exists()
    assert lines[-1] == "  Log in as: admin / tutorscore-demo"
