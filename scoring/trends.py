"""Trends over time from the daily snapshots (TutorScoreHistory, one row per tutor and UTC day).

The tutor page's date range and history chart, the tutor list's sparklines and week-on-week
change. Plain functions of rows and dates; the queries are in scoring.selectors.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

HISTORY_PRESETS = [(30, "30 days"), (90, "90 days"), (180, "180 days")]
DEFAULT_DAYS = 90
MAX_DAYS = 366
SPARK_WEEKS = 8  # the tutor list's sparkline: the risk score at 7 weekly snapshots, then now

# Snapshot fields the tutor page draws: (css key, field, label, sample-size field or None).
HISTORY_SERIES = [
    ("risk", "risk_score", "Risk score", None),
    ("rate30", "reschedule_rate_30d", "30-day reschedule rate", "total_sessions_30d"),
    ("rate7", "reschedule_rate_7d", "7-day reschedule rate", "total_sessions_7d"),
]
HISTORY_FIELDS = (
    [field for _, field, _, sample in HISTORY_SERIES]
    + [sample for *_, sample in HISTORY_SERIES if sample]
    + ["risk_level"]
)


class HistoryRangeForm(forms.Form):
    """?days=30|90|180 (a preset), or ?from=&to= (dates, either may be left out); default 90 days.

    Dates are the snapshots' UTC days; a range ends today at the latest and spans at most MAX_DAYS.
    """

    days = forms.TypedChoiceField(choices=HISTORY_PRESETS, coerce=int, required=False, empty_value=None)

    def __init__(self, data: Mapping[str, Any] | None, *, today: date) -> None:
        super().__init__(data)
        self.today = today
        # "from" is a Python keyword, so these two are added here rather than declared above.
        self.fields["from"] = forms.DateField(required=False, label="From")
        self.fields["to"] = forms.DateField(required=False, label="To")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("from"), data.get("to")
        if start is None and end is None:
            if self.data.get("from") or self.data.get("to"):
                return data  # a date that did not parse: its field already has the error
            days = data.get("days") or DEFAULT_DAYS
            data["range"] = (self.today - timedelta(days=days - 1), self.today)
            return data
        end = end or self.today
        start = start or end - timedelta(days=DEFAULT_DAYS - 1)
        if end > self.today:
            raise ValidationError("The end date is in the future: there is no score for it yet.")
        if start > end:
            raise ValidationError("The start date is after the end date.")
        if (end - start).days + 1 > MAX_DAYS:
            raise ValidationError(f"Choose at most {MAX_DAYS} days at once.")
        data["range"] = (start, end)
        return data

    def date_range(self) -> tuple[date, date]:
        """The chosen (first, last) day, or the default range when the input is invalid."""
        if self.is_valid() and "range" in self.cleaned_data:
            return self.cleaned_data["range"]
        return self.today - timedelta(days=DEFAULT_DAYS - 1), self.today

    def error_messages(self) -> list[str]:
        return [str(message) for messages in self.errors.values() for message in messages]

    @property
    def preset(self) -> int | None:
        """The preset in force (for the links' aria-current), None for custom dates."""
        if self.data.get("from") or self.data.get("to"):
            return None
        return (self.cleaned_data.get("days") if self.is_valid() else None) or DEFAULT_DAYS


def events_of(rate: Decimal | float | None, total: int | None) -> int | None:
    """The count behind a stored rate: rates are rounded to 2 decimals, so this is exact for any
    window under 10,000 sessions."""
    if rate is None or not total:
        return None
    return int((Decimal(rate) * total / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class DayPoint:
    day: date
    values: dict  # field → value, None where there is no snapshot


def history_days(
    rows: list[dict], *, start: date, end: date, today: date, current: dict | None
) -> list[DayPoint]:
    """One point per day from start to end; the live score stands in for today's snapshot, which
    is only written at the end of the day."""
    by_day = {row["date"]: row for row in rows}
    if current is not None and end == today and today not in by_day:
        by_day[today] = current
    empty = dict.fromkeys(HISTORY_FIELDS)
    return [
        DayPoint(
            day, {**empty, **{f: by_day[day].get(f) for f in HISTORY_FIELDS}} if day in by_day else empty
        )
        for day in (start + timedelta(days=offset) for offset in range((end - start).days + 1))
    ]


def value_text(value: Decimal | float | None, total: int | None = None) -> str:
    """ "72" for a score; "20.00% (4 of 20 sessions)" for a rate with its sample size; "—" unknown."""
    if value is None:
        return "—"
    if total is None:
        return f"{Decimal(value):.0f}"
    return f"{Decimal(value):.2f}% ({events_of(value, total)} of {total} session{'s' if total != 1 else ''})"


def point_label(day: date, label: str, value: Decimal | float | None, total: int | None = None) -> str:
    """ "Mar 3: 30-day reschedule rate 20.00% (4 of 20 sessions)" / "Mar 3: Risk score 72"."""
    return f"{day:%b} {day.day}: {label} {value_text(value, total)}"


def spark_dates(today: date, weeks: int = SPARK_WEEKS) -> list[date]:
    """A sparkline's snapshot days, oldest first: today − 7k for k = weeks−1 … 1 (then the live score)."""
    return [today - timedelta(days=7 * k) for k in range(weeks - 1, 0, -1)]


def sparkline_values(
    snapshots: dict, current: Decimal | float | None, today: date, weeks: int = SPARK_WEEKS
) -> list:
    """snapshots: {date: risk score} of one tutor; the live score ends the line."""
    return [snapshots.get(day) for day in spark_dates(today, weeks)] + [current]


def week_change(values: list) -> Decimal | None:
    """Now minus 7 days ago (points), None when either is unknown."""
    if len(values) < 2 or values[-1] is None or values[-2] is None:
        return None
    return Decimal(values[-1]) - Decimal(values[-2])
