import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
    )


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 64 + "-production-like-secret-key-for-the-deploy-check",
    "ALLOWED_HOSTS": "tutorscore.example.com",
    "DATABASE_URL": "sqlite:////tmp/tutorscore-deploy-check.sqlite3",
    "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
    "POSTMARK_SERVER_TOKEN": "server-token",
}


def test_production_settings_pass_check_deploy():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("backend", ["", "django.core.mail.backends.locmem.EmailBackend"])
def test_check_deploy_refuses_a_development_mail_backend(backend):
    # "" leaves the default: the console backend.
    environment = {key: value for key, value in PRODUCTION.items() if key != "EMAIL_BACKEND"}
    if backend:
        environment["EMAIL_BACKEND"] = backend
    result = run_manage("check", "--deploy", "--fail-level", "ERROR", **environment)
    assert result.returncode != 0
    assert "reports.E001" in result.stderr
    assert "Set EMAIL_BACKEND to a provider's backend" in result.stderr


def test_a_development_mail_backend_is_fine_with_debug():
    result = run_manage("check", "--deploy", "--fail-level", "ERROR", DEBUG="true")
    assert "reports.E001" not in result.stderr


def test_missing_secret_key_is_one_clear_line_not_a_traceback():
    result = run_manage("check", DEBUG="false")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "SECRET_KEY is not set: set DEBUG=true for development or SECRET_KEY=... in production"
    ]
    assert result.stdout == ""


def test_an_empty_secret_key_is_missing_too():
    result = run_manage("migrate", "--check", DEBUG="false", SECRET_KEY="")

    assert result.returncode == 1
    assert result.stderr.startswith("SECRET_KEY is not set")


def setting(name, **env):
    result = run_manage("shell", "-c", f"from django.conf import settings; print(settings.{name})", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def site_url(**env):
    return setting("SITE_URL", **env)


def test_site_url_follows_the_port_and_host_the_web_process_binds():
    assert site_url(DEBUG="true") == "http://127.0.0.1:8000"
    assert site_url(DEBUG="true", PORT="9000") == "http://127.0.0.1:9000"
    # 0.0.0.0 (the Procfile's default) listens everywhere but is no address for a browser.
    assert site_url(DEBUG="true", HOST="0.0.0.0", PORT="9000") == "http://127.0.0.1:9000"
    assert site_url(DEBUG="true", HOST="localhost", PORT="9000") == "http://localhost:9000"
    assert site_url(DEBUG="true", PORT="9000", SITE_URL="https://scores.example.com/") == (
        "https://scores.example.com"
    )


def test_development_mail_is_one_console_line_each_unless_a_backend_is_chosen():
    assert setting("EMAIL_BACKEND", DEBUG="true") == "reports.backends.ConsoleSummaryBackend"
    chosen = "anymail.backends.postmark.EmailBackend"
    assert setting("EMAIL_BACKEND", DEBUG="true", EMAIL_BACKEND=chosen) == chosen


def test_with_redis_every_process_shares_one_cache():
    # The dashboard's weekly trend is computed once per period for all processes, not per process.
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    key = f"shared-cache-test-{uuid.uuid4()}"
    environment = {"DEBUG": "true", "REDIS_URL": redis_url}
    write = f"from django.core.cache import cache; cache.set('{key}', 'from process one', 60)"
    read = f"from django.core.cache import cache; print(cache.get('{key}')); cache.delete('{key}')"

    assert run_manage("shell", "-c", write, **environment).returncode == 0
    result = run_manage("shell", "-c", read, **environment)

    assert result.stdout.strip().splitlines()[-1] == "from process one", result.stderr


def test_every_external_call_is_bounded():
    # A hung Redis or an unreachable database fails a request in seconds (answered 503), and a
    # hung mail provider fails one attempt: no call waits for the operating system's timeouts.
    show = (
        "from django.conf import settings as s; import json; print(json.dumps(["
        "s.Q_CLUSTER['redis']['socket_timeout'], s.Q_CLUSTER['redis']['socket_connect_timeout'], "
        "s.CACHES['default']['OPTIONS'], s.DATABASES['default']['OPTIONS']['connect_timeout'], "
        "s.EMAIL_TIMEOUT, s.ANYMAIL['REQUESTS_TIMEOUT'], s.TASK_COALESCE_SECONDS]))"
    )
    result = run_manage(
        "shell",
        "-c",
        show,
        DEBUG="true",
        REDIS_URL="redis://127.0.0.1:6379/5",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/tutorscore_never_connected",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        2.0,
        2.0,
        {"socket_timeout": 2.0, "socket_connect_timeout": 2.0},
        5,
        10,
        [5, 10],
        30,
    ]


@pytest.mark.parametrize(("jit", "expected"), [("false", "-c jit=off"), ("true", None)])
def test_the_web_process_can_turn_postgresql_jit_off(jit, expected):
    show = "from django.conf import settings as s; print(s.DATABASES['default']['OPTIONS'].get('options'))"
    result = run_manage(
        "shell",
        "-c",
        show,
        DEBUG="true",
        DATABASE_JIT=jit,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/tutorscore_never_connected",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(expected)


def test_the_procfile_web_process_runs_without_jit():
    procfile = (Path(__file__).resolve().parents[2] / "Procfile").read_text()
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))
    assert "DATABASE_JIT=${DATABASE_JIT:-false}" in web
