"""The rate vocabulary every reader shares: the windows, how a rate is rounded, said and coloured.

The engine stores rates with `percentage`; the dashboard, the API, the mail and the template tags
compute theirs with it too, so a figure shown anywhere matches the stored one.
"""

import functools
from decimal import ROUND_HALF_UP, Decimal

WINDOWS = (7, 30, 90)
ACTIVE_WINDOW_DAYS = 30  # no session in this window: the tutor is inactive
# Reschedule patterns (last-minute share, weekday, reason) are read over the widest window.
PATTERN_WINDOW_DAYS = 90
AMBER_MARGIN = Decimal("5")
HUNDRED = Decimal("100")
CENT = Decimal("0.01")
WEEKDAYS = {  # ISO weekday: how a sentence names it
    1: "Mondays",
    2: "Tuesdays",
    3: "Wednesdays",
    4: "Thursdays",
    5: "Fridays",
    6: "Saturdays",
    7: "Sundays",
}


# A recompute works out ~50,000 rates of 10,000 tutors from far fewer distinct counts.
@functools.lru_cache(maxsize=1 << 16)
def percentage(part: int | Decimal, whole: int | Decimal | None) -> Decimal | None:
    """100 × part / whole rounded half-up to 2 decimals; None when whole is 0 (an empty window)."""
    if not whole:
        return None
    return (HUNDRED * Decimal(part) / Decimal(whole)).quantize(CENT, rounding=ROUND_HALF_UP)


def plural(count: int, noun: str) -> str:
    """'1 session', '3 sessions': reasons are read by people."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


# Rates take few distinct values, and a recompute writes ~8 of them per tutor into sentences.
@functools.lru_cache(maxsize=4096)
def format_percent(value: Decimal | int | str) -> str:
    """37.50 → '37.5', 15.00 → '15', 33.33 → '33.33' (how rates read in sentences)."""
    text = f"{Decimal(value).quantize(CENT):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def rate_colour(
    rate: Decimal | int | str | None, threshold: Decimal | int | str | None, *, lower_is_worse: bool = False
) -> str:
    """Display colour of a rate: 'red' past the threshold, 'amber' within 5 points of it, else 'green'.

    Returns '' for an empty window (rate None). For retention pass lower_is_worse=True: red below
    the threshold, amber within 5 points above it.
    """
    if rate is None or threshold is None:
        return ""
    rate, threshold = Decimal(rate), Decimal(threshold)
    if lower_is_worse:
        rate, threshold = -rate, -threshold
    if rate > threshold:
        return "red"
    if rate >= threshold - AMBER_MARGIN:
        return "amber"
    return "green"
