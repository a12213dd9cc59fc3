"""Display helpers for the dashboard: rate colours (SPEC §5) and "—" for unknown values."""

from datetime import timedelta
from decimal import Decimal

from django import template

from scoring.explain import KIND_CHIPS, kind_why
from scoring.rates import rate_colour

register = template.Library()

# The colour rule lives with the scoring rules (SPEC §5); these filters map it to CSS classes.
CSS_CLASS = {"red": "rate-high", "amber": "rate-warn", "green": "rate-ok", "": "rate-none"}


def _clean(value):
    return None if value is None or value == "" else value


@register.filter
def rate_class(rate, threshold):
    """CSS class for a rate: red above the threshold, amber within 5 points below, green under."""
    return CSS_CLASS[rate_colour(_clean(rate), _clean(threshold))]


@register.filter
def rate_class_below(rate, threshold):
    """Like rate_class for metrics where low is bad (first-session retention)."""
    return CSS_CLASS[rate_colour(_clean(rate), _clean(threshold), lower_is_worse=True)]


@register.filter
def pct(value):
    """12.5 → "12.50%"; None → "—" (an unknown rate is never 0%)."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(value):.2f}%"


@register.filter
def dash(value):
    """None → "—", anything else unchanged."""
    return "—" if value is None or value == "" else value


@register.filter
def duration(value):
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
def alert_why(alert):
    """The tutor's current evidence for the alert's kind: '3 of 12 missed, 30 d' ('' without any)."""
    score = getattr(alert.tutor, "score", None)
    return kind_why(score.evidence, alert.kind) if score is not None else ""


@register.filter
def kind_chip(kind):
    """'no_show_rate' → 'No-shows'."""
    return KIND_CHIPS.get(kind, kind)
