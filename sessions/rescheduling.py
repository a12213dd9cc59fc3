"""Derived reschedule fields, computed in one place for every write path."""

import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # models imports this module
    from .models import Reschedule

LAST_MINUTE_HOURS = 24

# First matching rule wins; the order puts the most specific causes first.
# Every keyword starts at a word boundary ("er" must not match "another", "ill" not "will").
REASON_KEYWORDS = [
    ("emergency", r"\b(emergenc|urgent|accident|hospital|er\b)"),
    ("health", r"\b(sick|ill\b|illness|flu\b|covid|doctor|dentist|medical|health|fever|migraine)"),
    ("family", r"\b(family|child|kids?\b|son\b|daughter|parent|mom\b|dad\b|wedding|funeral)"),
    (
        "technical",
        r"\b(internet|wifi|wi-fi|connection|computer|laptop|power outage|zoom|technical|audio|camera)",
    ),
    (
        "scheduling_conflict",
        r"\b(conflict|double.?book|overlap|another (session|class|meeting)|schedul|meeting|exam|class)",
    ),
    ("personal", r"\b(personal|errand|appointment|travel|trip\b|moving|car\b|traffic)"),
]
_COMPILED = [(code, re.compile(pattern, re.IGNORECASE)) for code, pattern in REASON_KEYWORDS]


def classify_reason(text: str | None) -> str:
    """Map free-text reschedule reasons to a reason code by keyword rules; `other` when none match."""
    for code, pattern in _COMPILED:
        if text and pattern.search(text):
            return code
    return "other"


def hours_before_session(original_time: datetime, cancelled_at: datetime) -> Decimal:
    """(original_time − cancelled_at) in hours, 2 decimals; negative when asked after the start."""
    seconds = Decimal((original_time - cancelled_at).total_seconds())
    return (seconds / Decimal(3600)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def fill_derived_fields(reschedule: "Reschedule", *, received_at: datetime) -> "Reschedule":
    """Fill reason_code (when the platform sent none), cancelled_at and hours_before_session."""
    if not reschedule.reason_code:
        reschedule.reason_code = classify_reason(reschedule.reason)
    if reschedule.cancelled_at is None:
        reschedule.cancelled_at = received_at
    reschedule.hours_before_session = hours_before_session(reschedule.original_time, reschedule.cancelled_at)
    return reschedule
