"""Formatting for mails and report pages: rates, changes and risk colours (inline-styled mail)."""

from decimal import Decimal

from django import template

register = template.Library()

RISK_COLOURS = {"high": "#b91c1c", "medium": "#b45309", "low": "#15803d"}


def _number(value):
    """37.50 → "37.5", 15.00 → "15" (no trailing zeros to decode)."""
    text = f"{Decimal(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@register.filter
def percent(value):
    """A rate in percent, or "—" when there was nothing to measure (never a fake 0%)."""
    if value is None or value == "":
        return "—"
    return f"{_number(value)}%"


@register.filter
def signed(value, unit=""):
    """A change with its sign: +3, −2.5 pts; "—" when unknown."""
    if value is None or value == "":
        return "—"
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return f"{sign}{_number(abs(value))}{unit}"


@register.filter
def risk_colour(level):
    return RISK_COLOURS.get(str(level), "#374151")


@register.filter
def number(value):
    """72.50 → 72.5; "—" when unknown."""
    if value is None or value == "":
        return "—"
    return _number(value)
