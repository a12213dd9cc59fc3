"""The platform's session payload (SPEC §7), validated with pydantic v2.

pydantic parses the JSON body and validates it in one pass (strict types, aware timestamps,
field-level error locations), so the API never hand-parses dictionaries. Cross-field rules are
field validators that read the fields declared before them, so every error names its field.
Rules about the present read the time from the validation context (`context={"now": now}`).
"""

import re
import uuid
from collections.abc import Sequence
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

from .models import REASON_CODES, SESSION_STATUSES

MAX_BULK_SESSIONS = 1000

# Far-off years overflow when converted to UTC or stored; no real session lives outside this.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

# A completed session starts at most this early or late against its scheduled_time: its
# duration_minutes must agree with completed_time − scheduled_time within these bounds.
EARLIEST_START = timedelta(minutes=15)
LATEST_START = timedelta(minutes=60)
# A reschedule asked for this long after the session should have begun is a data error (the
# session was missed, or it is another session), not a very last-minute reschedule.
LATEST_RESCHEDULE_AFTER_START = timedelta(hours=24)


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


# Unicode category Cc, exactly: C0, DEL and C1 (a regex: testing each character's category cost
# more than the rest of the field's validation).
CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")


def _identifier(value: str, info: ValidationInfo) -> str:
    # An id that differs by invisible characters splits one student into two pairs.
    field = {"field": info.field_name}
    if not value.strip():
        raise PydanticCustomError("blank", "{field} must not be blank.", field)
    if value != value.strip():
        raise PydanticCustomError("whitespace", "{field} must not start or end with whitespace.", field)
    if CONTROL_CHARACTER.search(value):
        raise PydanticCustomError("control_character", "{field} must not contain control characters.", field)
    return value


def _not_nil(value: uuid.UUID) -> uuid.UUID:
    if value.int == 0:
        raise PydanticCustomError("nil_uuid", "The all-zero UUID is not a valid id.")
    return value


def _email(value: str) -> str:
    try:
        validate_email(value)
    except DjangoValidationError:
        raise PydanticCustomError("email", "Enter a valid e-mail address.") from None
    return value


def latest_plausible(info: ValidationInfo) -> datetime:
    """The latest time a record may claim: the context's `now` (else the clock) plus the allowed
    clock skew between the platform and us."""
    context = info.context
    if context is None:
        return timezone.now() + timedelta(seconds=settings.INGEST_CLOCK_SKEW_SECONDS)
    # Worked out once per validation, kept in its context: reading the setting for every
    # timestamp of a 1,000-session batch cost 6 ms.
    if "latest_plausible" not in context:
        now = context.get("now") or timezone.now()
        context["latest_plausible"] = now + timedelta(seconds=settings.INGEST_CLOCK_SKEW_SECONDS)
    return context["latest_plausible"]


def _not_in_future(value: datetime | None, info: ValidationInfo) -> datetime | None:
    if value is not None and value > latest_plausible(info):
        raise PydanticCustomError("future", "{field} must not be in the future.", {"field": info.field_name})
    return value


Text = Annotated[str, AfterValidator(_storable_text)]
Timestamp = Annotated[AwareDatetime, AfterValidator(_in_range)]
Id = Annotated[uuid.UUID, AfterValidator(_not_nil)]


class RescheduleIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    initiator: Literal["tutor", "student"]
    reason: Annotated[Text, Field(max_length=2000)] = ""
    original_time: Timestamp
    new_time: Timestamp | None = None  # null: cancelled outright
    # Literal of the tuple, expanded at run time (mypy wants the values spelled out).
    reason_code: Literal[REASON_CODES] | None = None  # type: ignore[valid-type]
    # Defaults to the time the API received it. A future one would count as asked "now" forever.
    cancelled_at: Annotated[Timestamp | None, AfterValidator(_not_in_future)] = None

    @field_validator("new_time")
    @classmethod
    def _after_original(cls, value, info: ValidationInfo):
        original_time = info.data.get("original_time")
        if value is not None and original_time is not None and value <= original_time:
            raise PydanticCustomError("new_time_order", "new_time must be later than original_time.")
        return value

    @field_validator("cancelled_at")
    @classmethod
    def _not_long_after_original(cls, value, info: ValidationInfo):
        original_time = info.data.get("original_time")
        if (
            value is not None
            and original_time is not None
            and value > original_time + LATEST_RESCHEDULE_AFTER_START
        ):
            raise PydanticCustomError(
                "cancelled_at_order", "cancelled_at must not be more than 24 hours after original_time."
            )
        return value


class SessionIn(BaseModel):
    """One session in the original contract, plus the optional extras."""

    # Unknown keys are ignored so the platform can add fields without breaking ingestion.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    session_id: Id
    tutor_id: Id
    student_id: Annotated[Text, Field(min_length=1, max_length=100), AfterValidator(_identifier)]
    # Declared before the fields whose rules depend on it (validators read earlier fields).
    status: Literal[SESSION_STATUSES]  # type: ignore[valid-type]
    scheduled_time: Timestamp
    completed_time: Annotated[Timestamp | None, AfterValidator(_not_in_future)] = None
    duration_minutes: Annotated[int, Field(ge=1, le=300)] | None = None
    student_rating: Annotated[int, Field(ge=1, le=5)] | None = None
    no_show_by: Literal["tutor", "student"] | None = None
    reschedule_info: RescheduleIn | None = Field(default=None, validate_default=True)
    tutor_name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    tutor_email: Annotated[Text, Field(max_length=254), AfterValidator(_email)] | None = None
    # The platform's own modification time of the session: a state older than the stored one is
    # stale (acknowledged, changes nothing; sessions/ordering.py). A future one would make every
    # later real update of the session look stale.
    updated_at: Annotated[Timestamp | None, AfterValidator(_not_in_future)] = None

    @field_validator("scheduled_time")
    @classmethod
    def _held_sessions_are_past(cls, value, info: ValidationInfo):
        if info.data.get("status") in ("completed", "no_show") and value > latest_plausible(info):
            raise PydanticCustomError(
                "scheduled_time_future", "A completed or no-show session must not be scheduled in the future."
            )
        return value

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

    @field_validator("duration_minutes")
    @classmethod
    def _duration_matches_the_times(cls, value, info: ValidationInfo):
        scheduled_time, completed_time = info.data.get("scheduled_time"), info.data.get("completed_time")
        if value is None or scheduled_time is None or completed_time is None:
            return value
        started = completed_time - timedelta(minutes=value)
        if not scheduled_time - EARLIEST_START <= started <= scheduled_time + LATEST_START:
            elapsed = round((completed_time - scheduled_time).total_seconds() / 60, 1)
            raise PydanticCustomError(
                "duration_times",
                f"duration_minutes contradicts completed_time − scheduled_time ({elapsed:g} minutes): "
                "a session starts at most 15 minutes early and 60 minutes late.",
            )
        return value

    @field_validator("student_rating")
    @classmethod
    def _rating_only_when_completed(cls, value, info: ValidationInfo):
        status = info.data.get("status")
        if value is not None and status is not None and status != "completed":
            raise PydanticCustomError(
                "student_rating_status", "student_rating is only allowed when status is completed."
            )
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


def error_path(loc: Sequence[int | str]) -> str:
    """('sessions', 3, 'status') → 'sessions[3].status'; the root is '__all__'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "__all__"


def error_details(exc: ValidationError) -> dict[str, list[str]]:
    """pydantic errors as {field path: [messages]}."""
    details: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        loc = error["loc"]
        # A union (`X | None`) reports its branch name (e.g. 'function-after[...]'); drop it.
        loc = tuple(part for part in loc if not (isinstance(part, str) and "[" in part))
        details.setdefault(error_path(loc), []).append(MESSAGES.get(error["type"], error["msg"]))
    return details


def is_unparseable(exc: ValidationError) -> bool:
    """True when the body is not a JSON object at all (a 400, not a 422)."""
    return any(error["type"] in ("json_invalid", "json_type") for error in exc.errors()) or any(
        error["loc"] == () and error["type"] == "model_type" for error in exc.errors()
    )
