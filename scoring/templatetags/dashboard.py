"""Display helpers for the dashboard: rate colours (SPEC §5) and "—" for unknown values."""

from datetime import timedelta
from decimal import Decimal
from typing import TypeVar

from django import template

from scoring.explain import KIND_CHIPS, kind_why
from scoring.models import Alert
from scoring.rates import rate_colour

register = template.Library()

T = TypeVar("T")
Rate = Decimal | int | str | None  # what a template hands a rate filter ('' for unknown)

# The colour rule lives with the scoring rules (SPEC §5); these filters map it to CSS classes.
CSS_CLASS = {"red": "rate-high", "amber": "rate-warn", "green": "rate-ok", "": "rate-none"}


def _clean(value: Rate) -> Rate:
    return None if value is None or value == "" else value


@register.filter
def rate_class(rate: Rate, threshold: Rate) -> str:
    """CSS class for a rate: red above the threshold, amber within 5 points below, green under."""
    return CSS_CLASS[rate_colour(_clean(rate), _clean(threshold))]


@register.filter
def rate_class_below(rate: Rate, threshold: Rate) -> str:
    """Like rate_class for metrics where low is bad (first-session retention)."""
    return CSS_CLASS[rate_colour(_clean(rate), _clean(threshold), lower_is_worse=True)]


@register.filter
def pct(value: Decimal | float | str | None) -> str:
    """12.5 → "12.50%"; None → "—" (an unknown rate is never 0%)."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(value):.2f}%"


@register.filter
def dash(value: T | None) -> T | str:
    """None → "—", anything else unchanged."""
    return "—" if value is None or value == "" else value


@register.filter
def duration(value: timedelta | T | None) -> T | str:
    """A timedelta as a short human duration: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    if value is None:
        return "—"
    if not isinstance(value, timedelta):
        return value
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@register.filter
def alert_why(alert: Alert) -> str:
    """The tutor's current evidence for the alert's kind: '3 of 12 missed, 30 d' ('' without any)."""
    score = getattr(alert.tutor, "score", None)
    return kind_why(score.evidence, alert.kind) if score is not None else ""


@register.filter
def kind_chip(kind: str) -> str:
    """'no_show_rate' → 'No-shows'."""
    return KIND_CHIPS.get(kind, kind)
