"""The platform's session payload (SPEC §7), validated with pydantic v2.

pydantic parses the JSON body and validates it in one pass (strict types, aware timestamps,
field-level error locations), so the API never hand-parses dictionaries. Cross-field rules are
field validators that read the fields declared before them, so every error names its field.
Rules about the present read the time from the validation context (`context={"now": now}`).
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

MAX_BULK_SESSIONS = 1000

# Far-off years overflow when converted to UTC or stored; no real session lives outside this.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

REASON_CODES = ("personal", "emergency", "scheduling_conflict", "family", "technical", "health", "other")


def _storable_text(value: str) -> str:
    # PostgreSQL refuses NUL characters in text, and lone surrogates cannot be encoded as UTF-8.
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "Text must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("invalid_unicode", "Text must be valid Unicode.") from None
    return value


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise PydanticCustomError("datetime_range", "Timestamp must lie between the years 2000 and 2099.")
    return value.astimezone(UTC)


def _email(value: str) -> str:
    try:
        validate_email(value)
    except DjangoValidationError:
        raise PydanticCustomError("email", "Enter a valid e-mail address.") from None
    return value


def latest_plausible(info: ValidationInfo) -> datetime:
    """The latest time a record may claim: the context's `now` (else the clock) plus the allowed
    clock skew between the platform and us."""
    now = (info.context or {}).get("now") or timezone.now()
    return now + timedelta(seconds=settings.INGEST_CLOCK_SKEW_SECONDS)


Text = Annotated[str, AfterValidator(_storable_text)]
Timestamp = Annotated[AwareDatetime, AfterValidator(_in_range)]


class RescheduleIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    initiator: Literal["tutor", "student"]
    reason: Annotated[Text, Field(max_length=2000)] = ""
    original_time: Timestamp
    new_time: Timestamp | None = None  # null: cancelled outright
    reason_code: Literal[REASON_CODES] | None = None  # derived from the reason text when absent
    cancelled_at: Timestamp | None = None  # defaults to the time the API received it

    @field_validator("new_time")
    @classmethod
    def _after_original(cls, value, info: ValidationInfo):
        original_time = info.data.get("original_time")
        if value is not None and original_time is not None and value <= original_time:
            raise PydanticCustomError("new_time_order", "new_time must be later than original_time.")
        return value


class SessionIn(BaseModel):
    """One session in the original contract, plus the optional extras."""

    # Unknown keys are ignored so the platform can add fields without breaking ingestion.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    session_id: uuid.UUID
    tutor_id: uuid.UUID
    student_id: Annotated[Text, Field(min_length=1, max_length=100)]
    scheduled_time: Timestamp
    # Declared before the fields whose rules depend on it (validators read earlier fields).
    status: Literal["scheduled", "completed", "rescheduled", "no_show"]
    completed_time: Timestamp | None = None
    duration_minutes: Annotated[int, Field(ge=1, le=300)] | None = None
    student_rating: Annotated[int, Field(ge=1, le=5)] | None = None
    no_show_by: Literal["tutor", "student"] | None = None
    reschedule_info: RescheduleIn | None = Field(default=None, validate_default=True)
    tutor_name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    tutor_email: Annotated[Text, Field(max_length=254), AfterValidator(_email)] | None = None
    # The platform's own modification time of the session: a state older than the stored one is
    # stale (acknowledged, changes nothing; sessions/ordering.py).
    updated_at: Timestamp | None = None

    @field_validator("completed_time")
    @classmethod
    def _completed_only_when_completed(cls, value, info: ValidationInfo):
        if value is None:
            return value
        status = info.data.get("status")
        if status is not None and status != "completed":
            raise PydanticCustomError(
                "completed_time_status", "completed_time is only allowed when status is completed."
            )
        scheduled_time = info.data.get("scheduled_time")
        if scheduled_time is not None and value < scheduled_time:
            raise PydanticCustomError(
                "completed_time_order", "completed_time must not be earlier than scheduled_time."
            )
        return value

    @field_validator("no_show_by")
    @classmethod
    def _no_show_by_only_for_no_show(cls, value, info: ValidationInfo):
        status = info.data.get("status")
        if value is not None and status is not None and status != "no_show":
            raise PydanticCustomError(
                "no_show_by_status", "no_show_by is only allowed when status is no_show."
            )
        return value

    @field_validator("reschedule_info")
    @classmethod
    def _reschedule_info_iff_rescheduled(cls, value, info: ValidationInfo):
        status = info.data.get("status")
        if status == "rescheduled" and value is None:
            raise PydanticCustomError(
                "reschedule_info_required", "reschedule_info is required when status is rescheduled."
            )
        if status is not None and status != "rescheduled" and value is not None:
            raise PydanticCustomError(
                "reschedule_info_status", "reschedule_info is only allowed when status is rescheduled."
            )
        return value

    @field_validator("updated_at")
    @classmethod
    def _updated_at_not_in_future(cls, value, info: ValidationInfo):
        # A time in the future would make every later real update of the session look stale.
        if value is not None and value > latest_plausible(info):
            raise PydanticCustomError("updated_at_future", "updated_at must not be in the future.")
        return value


class BulkIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    sessions: Annotated[list[SessionIn], Field(min_length=1, max_length=MAX_BULK_SESSIONS)]


# Friendlier wording than pydantic's defaults where a platform developer will read it.
EXPECTED_TIMESTAMP = "Expected an ISO 8601 timestamp with a timezone, e.g. 2026-01-15T14:00:00Z."
MESSAGES = {
    "missing": "This field is required.",
    "timezone_aware": "Timestamp has no timezone: send ISO 8601 with an offset, e.g. 2026-01-15T14:00:00Z.",
    "datetime_type": EXPECTED_TIMESTAMP,
    "datetime_parsing": EXPECTED_TIMESTAMP,
    "datetime_from_date_parsing": EXPECTED_TIMESTAMP,
}


def error_path(loc):
    """('sessions', 3, 'status') → 'sessions[3].status'; the root is '__all__'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "__all__"


def error_details(exc: ValidationError):
    """pydantic errors as {field path: [messages]}."""
    details = {}
    for error in exc.errors(include_url=False, include_input=False):
        loc = error["loc"]
        # A union (`X | None`) reports its branch name (e.g. 'function-after[...]'); drop it.
        loc = tuple(part for part in loc if not (isinstance(part, str) and "[" in part))
        details.setdefault(error_path(loc), []).append(MESSAGES.get(error["type"], error["msg"]))
    return details


def is_unparseable(exc: ValidationError):
    """True when the body is not a JSON object at all (a 400, not a 422)."""
    return any(error["type"] in ("json_invalid", "json_type") for error in exc.errors()) or any(
        error["loc"] == () and error["type"] == "model_type" for error in exc.errors()
    )
