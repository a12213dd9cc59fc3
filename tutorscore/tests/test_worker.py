"""`python -m tutorscore.worker` stops gracefully on a SIGTERM to its whole process group."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60  # bounded: a second or two when idle; generous for a loaded 2-core CI


def wait_for(condition, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def group_alive(pid):
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_to_the_whole_group_stops_the_cluster_gracefully(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    log = tmp_path / "worker.log"
    with open(log, "w") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tutorscore.worker"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
    cluster_pid = None
    try:
        wait_for(lambda: "running." in log.read_text(), "the cluster to run")
        cluster_pid = int(children.read_text().split()[0])

        os.killpg(worker.pid, signal.SIGTERM)  # as honcho, Heroku or systemd stop a process

        assert worker.wait(timeout=WAIT_SECONDS) == 0, log.read_text()
        assert "has stopped." in log.read_text()  # django-q2's graceful stop, to its last line
        assert not group_alive(cluster_pid)  # sentinel, workers, pusher and monitor all gone
    finally:
        for pid in (worker.pid, cluster_pid):
            if pid and group_alive(pid):
                os.killpg(pid, signal.SIGKILL)
        worker.wait(timeout=5)
