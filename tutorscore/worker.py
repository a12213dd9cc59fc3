"""`python -m tutorscore.worker`: the Procfile's worker, `manage.py qcluster` made safe to stop.

Process managers (honcho, Heroku, systemd by default) send SIGTERM to every process of the
worker's process group. django-q2 stops gracefully when only the cluster's main process gets it;
when its sentinel gets it too, the sentinel dies on the spot (its workers with it, mid-task) and
the main process hangs until it is killed. So the cluster runs in a process group of its own, and
this process hands it SIGTERM, on SIGTERM or on Ctrl-C (SIGINT).
"""

import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

MANAGE_PY = Path(__file__).resolve().parent.parent / "manage.py"


def main() -> int:
    """Run the cluster until it exits; returns its exit status."""
    cluster = None
    stop_requested = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True
        if cluster is not None:
            cluster.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    cluster = subprocess.Popen([sys.executable, str(MANAGE_PY), "qcluster"], start_new_session=True)
    if stop_requested:  # the signal came while it was starting
        cluster.send_signal(signal.SIGTERM)
    return cluster.wait()


if __name__ == "__main__":
    sys.exit(main())
