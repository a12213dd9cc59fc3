"""Daily score history: one snapshot row per tutor and day, for trends and audit."""

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.utils import timezone

from .engine import compute_scores
from .models import ScoringSettings, TutorScore, TutorScoreHistory

SNAPSHOT_FIELDS = [
    "total_sessions_7d",
    "total_sessions_30d",
    "total_sessions_90d",
    "reschedule_rate_7d",
    "reschedule_rate_30d",
    "reschedule_rate_90d",
    "no_show_rate_30d",
    "first_session_retention_90d",
    "risk_score",
    "risk_level",
    "is_high_risk",
]


def _upsert(rows: Iterable[dict[str, Any]], *, day: date, now: datetime) -> int:
    history = [
        TutorScoreHistory(tutor_id=row["tutor_id"], date=day, created_at=now, updated_at=now, **row["fields"])
        for row in rows
    ]
    TutorScoreHistory.objects.bulk_create(
        history,
        update_conflicts=True,
        unique_fields=["tutor", "date"],
        update_fields=[*SNAPSHOT_FIELDS, "updated_at"],
    )
    return len(history)


def snapshot_scores(*, now: datetime | None = None) -> int:
    """Copy every current TutorScore into the history row of now's (UTC) date; re-running the
    same day overwrites that day's rows (idempotent). Returns the number of rows written."""
    now = now or timezone.now()
    rows = [
        {"tutor_id": values.pop("tutor_id"), "fields": values}
        for values in TutorScore.objects.values("tutor_id", *SNAPSHOT_FIELDS).order_by()
    ]
    return _upsert(rows, day=now.astimezone(UTC).date(), now=now)


def backfill_history(
    *, days: int, now: datetime | None = None, settings: ScoringSettings | None = None
) -> int:
    """Fill the last `days` days of history by scoring every tutor as of each past day's end.

    For demos and for a fresh deployment, so trend charts have data on day one. Existing rows of
    those days are overwritten with the recomputed figures. Returns the number of rows written.
    """
    now = now or timezone.now()
    settings = settings or ScoringSettings.load()
    written = 0
    for offset in range(days, 0, -1):
        moment = now - timedelta(days=offset)
        scores = compute_scores(now=moment, settings=settings)
        rows = [
            {"tutor_id": score.tutor_id, "fields": {name: getattr(score, name) for name in SNAPSHOT_FIELDS}}
            for score in scores
        ]
        written += _upsert(rows, day=moment.astimezone(UTC).date(), now=now)
    return written
