"""CSV exports of the dashboard: the tutor list and the coaching results, streamed row by row."""

import csv
from collections.abc import Iterable
from datetime import datetime

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from . import coaching


class _Echo:
    """A file whose write() returns the line, so csv.writer yields lines to a streaming response."""

    def write(self, value):
        return value


def csv_text(value: str) -> str:
    """Platform-supplied text, defused: a spreadsheet runs a cell starting with = + - @ as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _blank_if_none(value):
    return "" if value is None else value  # unknown, not 0


def csv_response(header: list[str], rows: Iterable[list], *, filename: str) -> StreamingHttpResponse:
    """A CSV download whose rows are read while it is sent (a tutor list can be 10,000 rows)."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def tutor_row(tutor, window: int) -> dict:
    """The values one tutor list row (and one CSV line) shows."""
    score = getattr(tutor, "score", None)
    return {
        "tutor": tutor,
        "score": score,
        "rate": getattr(score, f"reschedule_rate_{window}d", None),
        "sessions": getattr(score, f"total_sessions_{window}d", None),
        "threshold": getattr(score, "reschedule_rate_threshold", None),
        "no_show_rate": getattr(score, "no_show_rate_30d", None),
        "no_show_threshold": getattr(score, "no_show_rate_threshold", None),
        "risk_score": getattr(score, "risk_score", None),
    }


def tutor_csv(queryset: QuerySet, window: int, *, now: datetime) -> StreamingHttpResponse:
    """Every row of the filtered, sorted list (all pages), with the columns the table shows."""

    def rows():
        for tutor in queryset.iterator(chunk_size=2000):
            row = tutor_row(tutor, window)
            score = row["score"]
            yield [
                csv_text(tutor.name),
                csv_text(tutor.email or ""),
                _blank_if_none(row["rate"]),
                score.risk_level if score else "",
                score.state if score else "",
                score.why if score else "",
                _blank_if_none(row["sessions"]),
                _blank_if_none(row["no_show_rate"]),
                _blank_if_none(row["risk_score"]),
                score.last_calculated_at.isoformat() if score else "",
            ]

    header = [
        "Name",
        "Email",
        f"Reschedule rate {window}d (%)",
        "Risk level",
        "State",
        "Why",
        f"Sessions {window}d",
        "No-show rate 30d (%)",
        "Risk score",
        "Last updated (UTC)",
    ]
    return csv_response(header, rows(), filename=f"tutors-{now:%Y%m%d-%H%M}.csv")


def coaching_csv(*, now: datetime) -> StreamingHttpResponse:
    """Every acted-on alert's comparison, as the coaching page lists them."""

    def rows():
        for outcome in coaching.coaching_outcomes(now=now):
            yield [
                csv_text(outcome.alert.tutor.name),
                outcome.alert.get_kind_display(),
                outcome.alert.opened_at.isoformat(),
                outcome.first_action_at.isoformat(),
                outcome.sessions_before,
                _blank_if_none(outcome.rate_before),
                outcome.sessions_after if outcome.ready else "",
                _blank_if_none(outcome.rate_after),
                _blank_if_none(outcome.change),
                outcome.verdict,
            ]

    header = [
        "Tutor",
        "Alert",
        "Alert opened (UTC)",
        "First action (UTC)",
        "Sessions before",
        "Rate before (%)",
        "Sessions after",
        "Rate after (%)",
        "Change (points)",
        "Result",
    ]
    return csv_response(header, rows(), filename=f"coaching-{now:%Y%m%d-%H%M}.csv")
