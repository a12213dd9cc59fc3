"""Read endpoints of the platform API: /api/tutors, /api/tutors/{id}, /api/tutors/{id}/history.

They live in `scoring` because they read scores (`sessions` never imports `scoring`); the key
authentication and the JSON error shape come from `sessions.api`.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sessions.api import api_endpoint, error_response
from sessions.models import Reschedule, Tutor
from sessions.schemas import Text, error_details

from . import selectors, timeseries
from .explain import evidence_why
from .models import Alert, TutorScore, score_state

MAX_PAGE_SIZE = 200

# The API's sort keys, and the dashboard list's sort (selectors.SORTS) each one is, in 30-day windows.
SORT_KEYS = {
    "risk_score": "risk",
    "reschedule_rate_30d": "rate",
    "total_sessions_30d": "sessions",
    "name": "name",
}
SORT_PARAMS = tuple(key for name in SORT_KEYS for key in (name, f"-{name}"))


class TutorListQuery(BaseModel):
    """Query string of GET /api/tutors (lax mode: query values arrive as strings)."""

    model_config = ConfigDict(extra="ignore")

    risk_level: Literal["low", "medium", "high", "inactive"] | None = None
    is_active: bool | None = None
    search: Annotated[Text, Field(max_length=200)] | None = None  # no NUL: PostgreSQL refuses it
    sort: Literal[SORT_PARAMS] = "-risk_score"  # type: ignore[valid-type]  # built from SORT_KEYS
    page: Annotated[int, Field(ge=1)] = 1
    page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 50


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: Annotated[int, Field(ge=1, le=100)] = 20


Query = TypeVar("Query", bound=BaseModel)


def _query(schema: type[Query], request: HttpRequest) -> Query | JsonResponse:
    """The parsed query string, or the 422 response saying what is wrong with it."""
    try:
        return schema.model_validate(request.GET.dict())
    except ValidationError as exc:
        return error_response(422, "validation_error", "Invalid query parameters.", error_details(exc))


def _number(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _tutor_or_404(tutor_id: uuid.UUID, queryset: QuerySet[Tutor] | None = None) -> Tutor | JsonResponse:
    # `queryset or …` would evaluate the QuerySet (every tutor) just to test its truthiness;
    # get() rather than first(), which would also sort the one row by id.
    try:
        return (Tutor.objects if queryset is None else queryset).get(pk=tutor_id)
    except Tutor.DoesNotExist:
        return error_response(404, "not_found", f"No tutor with id {tutor_id}.")


def _score_of(tutor: Tutor) -> TutorScore | None:
    try:
        return tutor.score
    except TutorScore.DoesNotExist:
        return None


# The list's score columns (null until first scored), read as plain values: building 50 tutors and
# their 50-column scores as model instances was most of the list's CPU.
SUMMARY_SCORE_FIELDS = (
    "risk_level",
    "risk_score",
    "is_high_risk",
    "is_watching",
    "reschedule_rate_7d",
    "reschedule_rate_30d",
    "reschedule_rate_90d",
    "total_sessions_30d",
    "no_show_rate_30d",
    "last_calculated_at",
)
SUMMARY_FIELDS = (
    "id",
    "name",
    "email",
    "is_active",
    "score__evidence",
    *(f"score__{name}" for name in SUMMARY_SCORE_FIELDS),
)
PLACEHOLDER_ID = uuid.UUID(int=0)


def tutor_summary(row: dict[str, Any], url: str) -> dict[str, Any]:
    """The list representation of a tutor, from a `.values(*SUMMARY_FIELDS)` row."""
    summary = {name: row[name] for name in ("name", "email", "is_active")}
    for name in SUMMARY_SCORE_FIELDS:
        value = row[f"score__{name}"]
        summary[name] = _number(value) if isinstance(value, Decimal) else value
    calculated = summary["last_calculated_at"]
    summary["last_calculated_at"] = calculated.isoformat() if calculated else None
    scored = calculated is not None
    summary["state"] = (
        score_state(summary["risk_level"], summary["is_high_risk"], summary["is_watching"])
        if scored
        else None
    )
    summary["why"] = evidence_why(row["score__evidence"]) if scored else None
    return {"id": str(row["id"]), **summary, "url": url}


def score_detail(score: TutorScore) -> dict[str, Any]:
    """Everything a score says: windows, rates, flags, risk, reasons, and its thresholds."""
    return {
        "risk_score": _number(score.risk_score),
        "risk_level": score.risk_level,
        "is_high_risk": score.is_high_risk,
        "flags": {
            "reschedule_rate": score.reschedule_flag,
            "no_show_rate": score.no_show_flag,
            "first_session": score.first_session_flag,
        },
        "state": score.state,
        "is_watching": score.is_watching,
        # Per flag: the window that says most, its counts, and how strong the evidence is.
        "evidence": score.evidence,
        "windows": {
            f"{days}d": {
                "total_sessions": getattr(score, f"total_sessions_{days}d"),
                "tutor_reschedules": getattr(score, f"tutor_reschedules_{days}d"),
                "reschedule_rate": _number(getattr(score, f"reschedule_rate_{days}d")),
            }
            for days in (7, 30, 90)
        },
        "no_shows_30d": score.no_shows_30d,
        "no_show_rate_30d": _number(score.no_show_rate_30d),
        "first_sessions_90d": score.first_sessions_90d,
        "retained_first_sessions_90d": score.retained_first_sessions_90d,
        "first_session_retention_90d": _number(score.first_session_retention_90d),
        "average_rating_90d": _number(score.average_rating_90d),
        "rated_sessions_90d": score.rated_sessions_90d,
        "reasons": score.reasons,
        "recommendations": score.recommendations,
        "thresholds": {
            "reschedule_rate": _number(score.reschedule_rate_threshold),
            "no_show_rate": _number(score.no_show_rate_threshold),
            "first_session_retention": _number(score.first_session_retention_threshold),
            "minimum_sessions": score.minimum_sessions,
            "flag_evidence_ratio": _number(score.flag_evidence_ratio),
        },
        "last_calculated_at": score.last_calculated_at.isoformat(),
    }


@api_endpoint("GET")
def tutor_list(request: HttpRequest) -> JsonResponse:
    """GET /api/tutors?risk_level=&is_active=&search=&sort=&page=&page_size= (two queries)."""
    query = _query(TutorListQuery, request)
    if isinstance(query, JsonResponse):
        return query
    tutors = selectors.tutor_list(
        search=query.search or "",
        risk=query.risk_level or "",
        window=30,
        sort=SORT_KEYS[query.sort.lstrip("-")],
        order="desc" if query.sort.startswith("-") else "asc",
        active=query.is_active,
    )

    count = tutors.count()
    offset = (query.page - 1) * query.page_size
    if query.page > 1 and offset >= count:  # also keeps a huge page number out of the SQL OFFSET
        last = max(1, -(-count // query.page_size))
        return error_response(404, "not_found", f"No page {query.page}: the last page is {last}.")
    page = selectors.page_of(tutors, offset, offset + query.page_size).values(*SUMMARY_FIELDS)
    # One reverse() for the page, not one per tutor.
    template = request.build_absolute_uri(reverse("scoring_api:tutor_detail", args=[PLACEHOLDER_ID]))

    def page_url(number: int) -> str:
        params = request.GET.copy()
        params["page"] = str(number)
        return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

    return JsonResponse(
        {
            "count": count,
            "page": query.page,
            "page_size": query.page_size,
            "next": page_url(query.page + 1) if offset + query.page_size < count else None,
            "previous": page_url(query.page - 1) if query.page > 1 else None,
            "results": [
                tutor_summary(row, template.replace(str(PLACEHOLDER_ID), str(row["id"]))) for row in page
            ],
        }
    )


@api_endpoint("GET")
def tutor_detail(request: HttpRequest, tutor_id: uuid.UUID) -> JsonResponse:
    """GET /api/tutors/{id}: the tutor, the full current score and the unresolved alerts."""
    tutor = _tutor_or_404(tutor_id, Tutor.objects.select_related("score"))
    if isinstance(tutor, JsonResponse):
        return tutor
    score = _score_of(tutor)
    alerts = Alert.objects.filter(tutor=tutor).exclude(status=Alert.Status.RESOLVED).order_by("-opened_at")
    return JsonResponse(
        {
            "id": str(tutor.pk),
            "name": tutor.name,
            "email": tutor.email,
            "is_active": tutor.is_active,
            "score": score_detail(score) if score else None,
            "open_alerts": [
                {
                    "id": str(alert.pk),
                    "kind": alert.kind,
                    "status": alert.status,
                    "message": alert.message,
                    "opened_at": alert.opened_at.isoformat(),
                    # Set while someone has put the alert aside: it is back in the queue from then.
                    "snoozed_until": alert.snoozed_until.isoformat() if alert.snoozed_until else None,
                }
                for alert in alerts
            ],
            "history_url": request.build_absolute_uri(reverse("scoring_api:tutor_history", args=[tutor.pk])),
        }
    )


@api_endpoint("GET")
def tutor_history(request: HttpRequest, tutor_id: uuid.UUID) -> JsonResponse:
    """GET /api/tutors/{id}/history: recent reschedules and the weekly trend (three queries)."""
    query = _query(HistoryQuery, request)
    if isinstance(query, JsonResponse):
        return query
    tutor = _tutor_or_404(tutor_id)
    if isinstance(tutor, JsonResponse):
        return tutor
    now = timezone.now()
    reschedules = (
        Reschedule.objects.filter(session__tutor=tutor)
        .select_related("session")
        .order_by("-original_time")[: query.limit]
    )
    return JsonResponse(
        {
            "tutor_id": str(tutor.pk),
            "name": tutor.name,
            "recent_reschedules": [
                {
                    "session_id": str(reschedule.session_id),
                    "student_id": reschedule.session.student_id,
                    "initiator": reschedule.initiator,
                    "original_time": reschedule.original_time.isoformat(),
                    "new_time": reschedule.new_time.isoformat() if reschedule.new_time else None,
                    # Null only before the first save, which sets it (a CheckConstraint says so).
                    "cancelled_at": reschedule.cancelled_at.isoformat(),  # type: ignore[union-attr]
                    "hours_before_session": _number(reschedule.hours_before_session),
                    "is_last_minute": reschedule.is_last_minute,
                    "reason": reschedule.reason,
                    "reason_code": reschedule.reason_code,
                }
                for reschedule in reschedules
            ],
            "weekly_trend": weekly_trend(tutor.pk, now=now),
        }
    )


def weekly_trend(
    tutor_id: uuid.UUID, *, now: datetime, weeks: int = timeseries.TREND_WEEKS
) -> list[dict[str, Any]]:
    """Per ISO week (Monday, UTC), oldest first, the last `weeks` weeks up to `now` (one query).

    sessions: held sessions (completed, rescheduled, no-show) scheduled that week;
    tutor_reschedules: those rescheduled by the tutor; reschedule_rate = 100 × tutor_reschedules /
    sessions (2 decimals, null without sessions); tutor_no_shows: no-shows by the tutor.
    """
    return [
        {
            "week_start": week.start.date().isoformat(),
            "sessions": week.sessions,
            "tutor_reschedules": week.tutor_reschedules,
            "reschedule_rate": _number(week.rate),
            "tutor_no_shows": week.tutor_no_shows,
        }
        for week in timeseries.tutor_weekly_trend(tutor_id, now=now, weeks=weeks)
    ]
