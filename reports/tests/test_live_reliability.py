"""Live: a mail provider that hangs never delays a score. Real gunicorn, the scoring qcluster and
the mail qcluster (worker-mail) as separate processes; the provider hangs for EMAIL_TIMEOUT."""

import json
import time
import uuid
from datetime import UTC, datetime

import pytest

from testsupport.livestack import LiveStack
from tutorscore.testing import session_payload

pytestmark = pytest.mark.live

HANG_SECONDS = 60  # each send blocks the mail worker this long
WAIT_SECONDS = 45  # bounded wait for the scores, well inside one hung send

SETUP = (
    "from scoring.models import ScoringSettings; s = ScoringSettings.load(); "
    "s.report_recipients = 'lead@example.com'; s.session_report_mode = 'all'; s.save()"
)
MAIL_STATE = (
    "import json; from reports.models import EmailReport; "
    "print(json.dumps(sorted(EmailReport.objects.values_list('status', flat=True))))"
)


def test_a_hanging_provider_never_delays_a_score():
    tutor_ids = [uuid.uuid4() for _ in range(3)]
    with LiveStack(
        email_backend="reports.tests.backends.HangingBackend",
        environment={"EMAIL_TIMEOUT": str(HANG_SECONDS)},
        setup=[("setup_schedules",), ("shell", "-c", SETUP)],
        name="hang",
    ) as stack:
        key = stack.create_api_key()
        scored = set()
        deadline = time.monotonic() + WAIT_SECONDS
        for tutor_id in tutor_ids:  # one after the other: the first one's mail hangs the provider
            payload = session_payload("completed", tutor_id=tutor_id, days_ago=0.1, now=datetime.now(UTC))
            assert stack.request("POST", "/api/sessions", payload, key=key)[0] == 202
            while tutor_id not in scored and time.monotonic() < deadline:
                status, body = stack.request("GET", f"/api/tutors/{tutor_id}", key=key)
                if status == 200 and body["score"]:
                    scored.add(tutor_id)
                else:
                    time.sleep(0.25)
        assert scored == set(tutor_ids), stack.logs()
        # ... while the mail worker is still stuck in its first send: nothing sent, one in flight.
        statuses = json.loads(stack.manage("shell", "-c", MAIL_STATE).splitlines()[-1])
        assert "sent" not in statuses
        assert statuses.count("sending") == 1, statuses
        status, health = stack.request("GET", "/healthz")
        assert status == 200
