"""manage.py create_api_key NAME."""

import pytest
from django.core.management import CommandError, call_command

from sessions.models import ApiKey, hash_api_key

pytestmark = pytest.mark.django_db


def test_prints_the_raw_key_once_and_stores_only_its_hash(capsys):
    call_command("create_api_key", "rails-production")

    out, err = capsys.readouterr()
    raw_key = out.strip()
    api_key = ApiKey.objects.get()
    assert api_key.name == "rails-production"
    assert api_key.key_hash == hash_api_key(raw_key)
    assert raw_key.startswith(api_key.prefix)
    assert raw_key not in err and "shown only this once" in err


def test_the_printed_key_authenticates(client, capsys):
    call_command("create_api_key", "platform")
    raw_key = capsys.readouterr().out.strip()
    assert client.get("/api/tutors", HTTP_AUTHORIZATION=f"Bearer {raw_key}").status_code == 200


def test_existing_name_is_a_clear_error():
    ApiKey.create_key("platform")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_api_key", "platform")
    assert ApiKey.objects.count() == 1


def test_blank_name_is_refused():
    with pytest.raises(CommandError, match="must not be empty"):
        call_command("create_api_key", "  ")
