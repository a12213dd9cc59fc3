import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
    )


def test_production_settings_pass_check_deploy():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="x" * 64 + "-production-like-secret-key-for-the-deploy-check",
        ALLOWED_HOSTS="tutorscore.example.com",
        DATABASE_URL="sqlite:////tmp/tutorscore-deploy-check.sqlite3",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_secret_key_is_required_without_debug():
    result = run_manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


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
