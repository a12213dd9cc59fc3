"""Live: the schedules the release step creates run under a real qcluster and score the tutors
nobody enqueued a task for (data loaded without scores, as after a bulk import)."""

import json
import time

import pytest

from testsupport.livestack import LiveStack

pytestmark = pytest.mark.live

# django-q2's scheduler first looks at the schedules about 30 s after the cluster starts.
WAIT_SECONDS = 120

SCHEDULE_STATE = """
import json
from django_q.models import Schedule
print(json.dumps({s.name: {"ran": bool(s.task)} for s in Schedule.objects.all()}))
"""


def test_release_schedules_score_unscored_tutors_under_qcluster():
    setup = [
        ("setup_schedules",),
        ("generate_data", "--tutors", "3", "--sessions", "60", "--days", "30", "--seed", "7", "--no-scores"),
    ]
    with LiveStack(setup=setup) as stack:
        key = stack.create_api_key()
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            status, body = stack.request("GET", "/api/tutors", key=key)
            assert status == 200, body
            scored = [tutor for tutor in body["results"] if tutor["last_calculated_at"]]
            if body["count"] == 3 and len(scored) == 3:
                break
            time.sleep(1)
        else:
            pytest.fail(f"tutors not scored within {WAIT_SECONDS}s: {body}\n{stack.logs()}")

        schedules = json.loads(stack.manage("shell", "--no-imports", "-c", SCHEDULE_STATE))
        assert schedules["scoring.rescore_stale"]["ran"]
        assert schedules["scoring.recompute_all"]["ran"]
        assert not schedules["scoring.snapshot_history"]["ran"]  # nightly, at 23:55 UTC
        status, health = stack.request("GET", "/healthz")
        assert health["checks"]["task_queue"]["last_task_finished_at"], health
