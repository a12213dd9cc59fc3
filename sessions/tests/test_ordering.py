"""sessions.ordering: which posted state of a session wins (pure functions, no database)."""

from datetime import timedelta

import pytest

from sessions.ordering import latest_state, supersedes
from sessions.schemas import SessionIn
from tutorscore.testing import NOW, iso, session_payload

EARLIER, LATER = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
HAPPENED = ["completed", "rescheduled", "no_show"]


def state(status, updated_at=None):
    extra = {"updated_at": iso(updated_at)} if updated_at else {}
    return SessionIn.model_validate(session_payload(status, **extra), strict=False)


@pytest.mark.parametrize("status", ["scheduled", *HAPPENED])
def test_a_first_state_always_applies(status):
    assert supersedes(status, None, current_status=None, current_updated_at=None)
    assert supersedes(status, EARLIER, current_status=None, current_updated_at=None)


@pytest.mark.parametrize("current", ["scheduled", *HAPPENED])
@pytest.mark.parametrize("status", ["scheduled", *HAPPENED])
def test_the_later_platform_time_wins_whatever_the_statuses(status, current):
    assert supersedes(status, LATER, current_status=current, current_updated_at=EARLIER)
    assert not supersedes(status, EARLIER, current_status=current, current_updated_at=LATER)


@pytest.mark.parametrize(
    ("updated_at", "current_updated_at"),
    [(None, None), (LATER, None), (None, LATER), (LATER, LATER)],
    ids=["no-times", "stored-has-none", "post-has-none", "equal-times"],
)
def test_without_an_order_a_session_that_happened_never_goes_back_to_scheduled(
    updated_at, current_updated_at
):
    for current in HAPPENED:
        assert not supersedes(
            "scheduled", updated_at, current_status=current, current_updated_at=current_updated_at
        )
        for status in HAPPENED:  # between two that happened, the last received wins
            assert supersedes(
                status, updated_at, current_status=current, current_updated_at=current_updated_at
            )
    assert supersedes(
        "scheduled", updated_at, current_status="scheduled", current_updated_at=current_updated_at
    )
    assert supersedes(
        "completed", updated_at, current_status="scheduled", current_updated_at=current_updated_at
    )


def test_out_of_order_states_end_in_the_newest():
    newest = state("completed", LATER)
    latest, updated_at = latest_state([newest, state("rescheduled", EARLIER)])
    assert (latest, updated_at) == (newest, LATER)


def test_every_state_older_than_the_current_one_is_stale():
    latest, updated_at = latest_state(
        [state("no_show", EARLIER), state("scheduled")], current_status="completed", current_updated_at=LATER
    )
    assert (latest, updated_at) == (None, LATER)


def test_a_state_without_time_keeps_the_newest_time_seen():
    undated = state("no_show")
    latest, updated_at = latest_state([state("completed", LATER), undated])
    assert (latest, updated_at) == (undated, LATER)
    # ...so a later post older than that time is still stale.
    assert (
        latest_state([state("completed", EARLIER)], current_status="no_show", current_updated_at=LATER)[0]
        is None
    )


def test_states_apply_one_after_the_other_not_pairwise():
    # A newer `scheduled` correction applies; an undated `scheduled` after it then applies too,
    # although it could not have replaced the stored completed session on its own.
    correction, undated = state("scheduled", LATER), state("scheduled")
    latest, updated_at = latest_state(
        [correction, undated], current_status="completed", current_updated_at=EARLIER
    )
    assert (latest, updated_at) == (undated, LATER)
