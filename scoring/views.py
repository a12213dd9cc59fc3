"""Dashboard pages (SPEC §8). Thin: input is parsed by scoring.forms, queries live in selectors,
alert transitions in scoring.alerts, CSV in scoring.exports.

Each page view serves the full page, or only the fragment it swaps when the request comes from
htmx (`request.htmx`), so every page also works as a plain page load without JavaScript.
"""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from sessions.models import Tutor
from tutorscore.lib.views import (
    StaffRequest,
    permission_required,
    render_page,
    require_permission,
    staff_required,
    wants_fragment,
)
from tutorscore.text import safe_next_url

from . import charts, coaching, exports, selectors, timeseries, trends
from .evidence import flag_tables
from .forms import (
    ACTION_FORMS,
    OUTCOME_CHOICES,
    RISK_FILTERS,
    SNOOZE_MAX_DAYS,
    STATUS_FILTERS,
    WINDOW_CHOICES,
    BulkActionForm,
    QueueFilterForm,
    TutorListForm,
)
from .models import Alert, ScoringSettings
from .rates import WINDOWS

TUTORS_PER_PAGE = 25
SESSIONS_PER_PAGE = 20
ALERTS_PER_PAGE = 25
FALSE_ALARM_DAYS = 90


def _poll_seconds() -> int:
    return settings.DASHBOARD_POLL_SECONDS


# --- Overview ---------------------------------------------------------------------------------


@staff_required
def overview(request: StaffRequest) -> HttpResponse:
    now = timezone.now()
    stats = selectors.overview_stats(now=now)
    trend = timeseries.platform_weekly_trend(now=now)
    trend_labels = [f"{point.end:%b %-d}" for point in trend]
    trend_rates = [point.rate for point in trend]
    trend_series = [("Platform tutor reschedule rate", "rate7", trend_rates)]
    distribution_summary = charts.describe_distribution(stats["risk_distribution"])
    trend_summary = charts.describe_trend(trend_labels, trend_rates)
    context = {
        "now": now,
        "stats": stats,
        "distribution_chart": charts.bar_chart(
            stats["risk_distribution"],
            title="Active tutors by risk level",
            description=distribution_summary,
        ),
        "distribution_summary": distribution_summary,
        "has_sessions": any(point.sessions for point in trend),
        "trend_chart": charts.line_chart(
            trend_series,
            title=f"Platform-wide tutor reschedule rate, last {len(trend)} weeks",
            description=trend_summary,
            x_labels=trend_labels,
            threshold=ScoringSettings.load().reschedule_rate_threshold,
            threshold_label="Tutor threshold",
        ),
        "trend_summary": trend_summary,
        "trend": trend,
        "at_risk": selectors.most_at_risk(),
        "recent_alerts": selectors.recent_alerts(),
        "poll_seconds": _poll_seconds(),
    }
    return render_page(request, "scoring/overview.html", "scoring/_overview_panels.html", context)


# --- Tutor list -------------------------------------------------------------------------------


def _with_trends(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's risk-score sparkline (weekly snapshots, then now) and change on 7 days ago:
    one query for the whole page."""
    today = timezone.now().astimezone(UTC).date()  # snapshots are keyed by UTC day
    snapshots = selectors.snapshot_scores([row["tutor"].pk for row in rows], days=trends.spark_dates(today))
    for row in rows:
        if row["score"] is None:
            continue
        values = trends.sparkline_values(snapshots.get(row["tutor"].pk, {}), row["risk_score"], today)
        label = "Risk score, weekly over the last 8 weeks: " + ", ".join(
            "no data" if value is None else f"{value:.0f}" for value in values
        )
        row["sparkline"] = charts.sparkline(values, label=label)
        row["change"] = trends.week_change(values)
    return rows


@staff_required
def tutor_list(request: StaffRequest) -> HttpResponse | StreamingHttpResponse:
    form = TutorListForm(request.GET)
    state = form.state()
    queryset = selectors.tutor_list(**form.selector_filters())
    if request.GET.get("format") == "csv":
        require_permission(request, "scoring.export_tutors", "export the tutor list")
        return exports.tutor_csv(queryset, state["window"], now=timezone.now())

    page = selectors.TutorPaginator(queryset, TUTORS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "state": state,
        "page": page,
        "rows": _with_trends([exports.tutor_row(tutor, state["window"]) for tutor in page.object_list]),
        "columns": form.sort_columns(),
        "risk_filters": RISK_FILTERS,
        "status_filters": STATUS_FILTERS,
        "window_choices": WINDOW_CHOICES,
        "poll_seconds": _poll_seconds(),
    }
    return render_page(request, "scoring/tutor_list.html", "scoring/_tutor_table.html", context)


# --- Tutor detail -----------------------------------------------------------------------------


@staff_required
def tutor_detail(request: StaffRequest, tutor_id: uuid.UUID) -> HttpResponse:
    try:
        tutor = selectors.tutor_with_score(tutor_id)
    except Tutor.DoesNotExist:
        raise Http404("No tutor with this id.") from None
    sessions_page = Paginator(selectors.session_history(tutor), SESSIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    if wants_fragment(request) and request.htmx.target == "session-history":
        # Paging through the history swaps only the history panel.
        return render_page(
            request, None, "scoring/_session_history.html", {"tutor": tutor, "sessions": sessions_page}
        )

    now = timezone.now()
    thresholds = selectors.thresholds_for(tutor)
    rolling = timeseries.rolling_rates(tutor, now=now)
    x_labels = [f"{point:%b %-d}" for point, _, _ in rolling[7]]
    series = [(f"{days}-day rate", f"rate{days}", [rate for _, rate, _ in rolling[days]]) for days in WINDOWS]
    # Each point's hover/readout text carries the sample size behind the rate.
    point_titles = {
        f"rate{days}": [
            trends.point_label(point, f"{days}-day rate", rate, total) for point, rate, total in rolling[days]
        ]
        for days in WINDOWS
    }
    rolling_summary = charts.describe_rolling(series, thresholds["reschedule"])
    context = {
        "tutor": tutor,
        "score": getattr(tutor, "score", None),
        "thresholds": thresholds,
        "cards": selectors.window_cards(tutor),
        "rolling_chart": charts.line_chart(
            series,
            title=f"Rolling tutor reschedule rates of {tutor.name}",
            description=rolling_summary,
            x_labels=x_labels,
            threshold=thresholds["reschedule"],
            point_titles=point_titles,
        ),
        "rolling_legend": charts.legend(series),
        "rolling_summary": rolling_summary,
        **_history_context(request, tutor, now=now, threshold=thresholds["reschedule"]),
        "has_rolling_data": any(rate is not None for _, _, rates in series for rate in rates),
        "reschedules": selectors.recent_reschedules(tutor),
        "sessions": sessions_page,
        "alerts": selectors.tutor_alerts(tutor),
        "coaching": coaching.coaching_outcomes(now=now, tutor=tutor),
        **_alert_card_context(now),
        "emails": selectors.emails_about(tutor),
    }
    return render_page(request, "scoring/tutor_detail.html", "scoring/tutor_detail.html", context)


# What each alert event looks like on the history chart: (css class, glyph, verb).
EVENT_MARKS = {
    "opened": ("mark-opened", "!", "alert opened"),
    "resolved": ("mark-resolved", "✓", "alert resolved"),
    "acknowledged": ("mark-coaching", "✎", "alert acknowledged"),
    "note": ("mark-coaching", "✎", "note"),
}


def _history_context(
    request: HttpRequest, tutor: Tutor, *, now: datetime, threshold: Decimal | int
) -> dict[str, Any]:
    """The risk-score and rate history chart of the chosen date range, with alert events marked."""
    today = now.astimezone(UTC).date()  # snapshots are keyed by UTC day
    form = trends.HistoryRangeForm(request.GET, today=today)
    start, end = form.date_range()
    score = getattr(tutor, "score", None)
    current = {field: getattr(score, field) for field in trends.HISTORY_FIELDS} if score else None
    days = trends.history_days(
        selectors.score_history(tutor, start=start, end=end, fields=trends.HISTORY_FIELDS),
        start=start,
        end=end,
        today=today,
        current=current,
    )
    series, titles = [], {}
    for css_key, field, label, sample in trends.HISTORY_SERIES:
        values = [point.values[field] for point in days]
        series.append((label, css_key, values))
        titles[css_key] = [
            ""
            if value is None
            else trends.point_label(point.day, label, value, point.values[sample] if sample else None)
            for point, value in zip(days, values, strict=True)
        ]
    events: list[dict[str, Any]] = []
    for event in selectors.chart_events(tutor, start=start, end=end):
        css_class, glyph, verb = EVENT_MARKS[event.action]
        day = event.created_at.astimezone(UTC).date()
        who = event.actor.get_full_name() or event.actor.get_username() if event.actor else "the system"
        text = f"{day:%b} {day.day}: {event.alert.get_kind_display()} {verb} by {who}"
        events.append({"event": event, "day": day, "glyph": glyph, "css": css_class, "text": text})
    has_data = any(value is not None for _, _, values in series for value in values)
    # The same values as a table, newest first: for the keyboard and screen readers.
    rows = [
        {
            "day": point.day,
            "cells": [
                trends.value_text(point.values[field], point.values[sample] if sample else None)
                for _, field, _, sample in trends.HISTORY_SERIES
            ],
            "events": [item for item in events if item["day"] == point.day],
        }
        for point in reversed(days)
        if point.values["risk_score"] is not None or any(item["day"] == point.day for item in events)
    ]
    range_text = f"{start:%b} {start.day}, {start.year} – {end:%b} {end.day}, {end.year}"
    return {
        "history_form": form,
        "history_range": (start, end),
        "history_range_text": range_text,
        "history_presets": trends.HISTORY_PRESETS,
        "history_rows": rows,
        "history_columns": [label for _, _, label, _ in trends.HISTORY_SERIES],
        "history_events": events,
        "has_history": has_data,
        "history_chart": charts.line_chart(
            series,
            title=f"Risk score and reschedule rates of {tutor.name}, {range_text}",
            description=f"Daily snapshots; alert events marked: {len(events)}.",
            x_labels=[f"{point.day:%b} {point.day.day}" for point in days],
            threshold=threshold,
            threshold_label="Reschedule threshold",
            point_titles=titles,
            marks=[((item["day"] - start).days, item["css"], item["glyph"], item["text"]) for item in events],
            unit="",
        )
        if has_data
        else None,
        "history_legend": charts.legend(series),
    }


# --- Alerts -----------------------------------------------------------------------------------


@staff_required
def how_scores_work(request: StaffRequest) -> HttpResponse:
    """The flag rule and the risk score, with the "flags at k of n" tables of the current settings."""
    scoring = ScoringSettings.load()
    context = {
        "settings": scoring,
        "tables": flag_tables(scoring),
        "false_alarm_days": FALSE_ALARM_DAYS,
        "not_a_problem": selectors.not_a_problem_counts(now=timezone.now(), days=FALSE_ALARM_DAYS),
    }
    return render(request, "scoring/how_scores_work.html", context)


def _alert_card_context(now: datetime, *, staff: list[User] | None = None) -> dict[str, Any]:
    """What an alert card's actions offer (_alert.html)."""
    return {
        "now": now,
        "staff": list(selectors.alert_assignees()) if staff is None else staff,
        "outcomes": OUTCOME_CHOICES,
        "snooze_min": now.date() + timedelta(days=1),
        "snooze_max": now.date() + timedelta(days=SNOOZE_MAX_DAYS),
    }


@staff_required
def alert_list(request: StaffRequest) -> HttpResponse:
    now = timezone.now()
    staff = list(selectors.alert_assignees())
    filters = QueueFilterForm(request.GET, staff=staff)
    matching = selectors.queue_alerts(now=now, **filters.filters(user=request.user))
    sort = filters.cleaned_data.get("sort") or "newest"
    page = Paginator(selectors.alert_queue(matching, sort=sort), ALERTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "filters": filters,
        "filter_items": filters.query_items(),
        "poll_seconds": _poll_seconds(),
        **_alert_card_context(now, staff=staff),
    }
    return render_page(request, "scoring/alert_list.html", "scoring/_alert_queue.html", context)


@permission_required("scoring.act_on_alert", "act on alerts")
@require_POST
def alert_bulk(request: StaffRequest) -> HttpResponse:
    """A bulk action on the selected alerts or all matching the filter, then back to the queue."""
    now = timezone.now()
    filters = QueueFilterForm(request.POST, staff=list(selectors.alert_assignees()))
    back = reverse("scoring:alert_list") + "?" + urlencode(filters.query_items())
    form = BulkActionForm(request.POST, now=now)
    if not form.is_valid():
        for message in form.error_messages():
            messages.error(request, message)
        return redirect(back)
    matching = selectors.queue_alerts(now=now, **filters.filters(user=request.user))
    messages.success(request, form.apply(matching, user=request.user))
    return redirect(back)


@staff_required
def coaching_results(request: StaffRequest) -> HttpResponse:
    """Did coaching work: the summary per kind and every acted-on alert's before/after."""
    outcomes = coaching.coaching_outcomes(now=timezone.now())
    context = {
        "outcomes": outcomes,
        "summaries": coaching.summarize(outcomes),
        "days": coaching.COMPARISON_DAYS,
        "min_sessions": coaching.MIN_SESSIONS,
    }
    return render(request, "scoring/coaching.html", context)


@permission_required("scoring.export_tutors", "export coaching results")
def coaching_csv(request: StaffRequest) -> StreamingHttpResponse:
    """Every acted-on alert's comparison, as the page lists them (formula-safe like the tutor CSV)."""
    return exports.coaching_csv(now=timezone.now())


@permission_required("scoring.act_on_alert", "act on alerts")
@require_POST
def alert_action(request: StaffRequest, alert_id: uuid.UUID, action: str) -> HttpResponse:
    """acknowledge / assign / note / resolve: the updated alert card for htmx, a redirect otherwise."""
    now = timezone.now()
    alert = get_object_or_404(Alert.objects.select_related("tutor"), pk=alert_id)
    form = ACTION_FORMS[action](request.POST, alert=alert, now=now)
    errors: list[str] = []
    try:
        form.act(user=request.user)
    except ValidationError as error:
        errors = error.messages

    if not request.htmx:
        for message in errors:
            messages.error(request, message)
        if not errors:
            messages.success(request, f"{alert}: {form.done}.")
        return redirect(safe_next_url(request, alert.get_absolute_url()))

    fresh = selectors.alerts_with_events(Alert.objects.filter(pk=alert.pk)).get()
    show_tutor = request.POST.get("show_tutor") == "1"  # the card sits in the queue, not a tutor's page
    response = render(
        request,
        "scoring/_alert.html",
        {
            "alert": fresh,
            "errors": errors,
            "show_tutor": show_tutor,
            "expanded": True,  # the card's details stay open, so the added note shows
            **_alert_card_context(now),
            "queue_count": selectors.queue_alerts(now=now).count() if show_tutor else None,
            "next": safe_next_url(request, fresh.get_absolute_url()),
        },
    )
    if not errors:
        # For any script on the page that follows alerts; the queue's counter is swapped out of band.
        trigger_client_event(response, "alertChanged", {"id": str(fresh.pk), "status": fresh.status})
    return response
