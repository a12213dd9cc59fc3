import subprocess
import sys
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
