"""Server-rendered SVG charts: plain functions from numbers to markup, no JavaScript, no network.

Each chart carries its own text alternative (role="img", <title>, <desc>); pages also print a
visually-hidden summary sentence next to it (see `describe_*`).
"""

import json
import math
from collections.abc import Sequence
from decimal import Decimal
from itertools import count

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

Number = Decimal | float | int
Bar = tuple[str, int, str]  # (label, count, css_key)

Series = tuple[str, str, Sequence[Number | None]]  # (name, css_key, values)
Mark = tuple[int, str, str, str]  # (point index, css class, glyph, text)

_ids = count(1)


def _chart_id(prefix):
    # Unique per process so two charts on one page never share <title>/<desc> ids.
    return f"{prefix}-{next(_ids)}"


def _number(value):
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(bars: Sequence[Bar], *, title: str, description: str) -> SafeString:
    """Horizontal bars. bars: [(label, value, css_key)]; css_key picks the colour (bar-<key>)."""
    chart_id = _chart_id("bar")
    row_height, label_width, bar_space, width = 34, 96, 300, 440
    height = row_height * len(bars) + 8
    largest = max((value for _, value, _ in bars), default=0) or 1
    rows = []
    for index, (label, value, css_key) in enumerate(bars):
        y = 4 + index * row_height
        bar_width = round(bar_space * value / largest, 1) if value else 0
        rows.append(
            format_html(
                '<g class="bar bar-{}"><text class="axis-label" x="{}" y="{}" text-anchor="end">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" rx="3"></rect>'
                '<text class="bar-value" x="{}" y="{}">{}</text></g>',
                css_key,
                label_width - 8,
                y + 19,
                label,
                label_width,
                y + 4,
                max(bar_width, 1.5),  # a zero still shows as a sliver on the axis
                row_height - 10,
                label_width + bar_width + 6,
                y + 19,
                value,
            )
        )
    return _svg("bars", width, height, chart_id, title, description, rows)


def _svg(kind, width, height, chart_id, title, description, parts, data=""):
    """The chart's <svg> with its title and description as the text alternative."""
    return format_html(
        '<svg class="chart chart-{}" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-t {}-d"{} '
        'preserveAspectRatio="xMinYMin meet"><title id="{}-t">{}</title><desc id="{}-d">{}</desc>{}</svg>',
        kind,
        width,
        height,
        chart_id,
        chart_id,
        data,
        chart_id,
        title,
        chart_id,
        description,
        mark_safe("".join(parts)),
    )


def _nice_ceiling(value):
    """Round a chart's top up to 10, 20, 25, 50 or a multiple of 10 (percentages)."""
    for step in (10, 20, 25, 50):
        if value <= step:
            return step
    return min(100, int(math.ceil(value / 10.0)) * 10)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    x_labels: Sequence[str],
    threshold: Number | None = None,
    threshold_label: str = "Threshold",
    point_titles: dict[str, list[str]] | None = None,
    marks: Sequence[Mark] = (),
    unit: str = "%",
) -> SafeString:
    """Percent lines over evenly spaced points. series: [(name, css_key, [value or None, ...])].

    A None value (no sessions in that window) breaks the line instead of drawing a false 0%.
    point_titles: {css_key: [text per point]}, shown on hover (SVG <title>); the page gives the
    same values in a table. marks: [(point index, css class, glyph, text)], vertical lines for
    events (an alert opened, a note). static/js/chart.js reads the data-* attributes (x of each
    date, the dates, each point's index) and the points' titles for its cursor and readout.
    """
    chart_id = _chart_id("line")
    width, height = 640, 260
    left, right, top, bottom = 44, 16, 14, 34
    plot_width, plot_height = width - left - right, height - top - bottom
    values = [float(v) for _, _, points in series for v in points if v is not None]
    if threshold is not None:
        values.append(float(threshold) * 1.3)
    y_max = _nice_ceiling(max(values, default=10))
    n_points = max((len(points) for _, _, points in series), default=0)

    def x_at(index: int) -> float:
        return round(left + (plot_width * index / max(n_points - 1, 1)), 1)

    def y_at(value: Number) -> float:
        return round(top + plot_height * (1 - float(value) / y_max), 1)

    parts = []
    for tick in range(0, 5):
        tick_value = y_max * tick / 4
        y = y_at(tick_value)
        parts.append(
            format_html(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"></line>'
                '<text class="axis-label" x="{}" y="{}" text-anchor="end">{}{}</text>',
                left,
                width - right,
                y,
                y,
                left - 6,
                y + 4,
                _number(tick_value),
                unit,
            )
        )
    label_every = max(1, math.ceil(len(x_labels) / 7))  # at most ~7 dates on the axis
    last = len(x_labels) - 1
    for index, label in enumerate(x_labels):
        # Every k-th date plus the last one (right-aligned so it stays inside the picture).
        if index == last or (index % label_every == 0 and last - index >= label_every):
            parts.append(
                format_html(
                    '<text class="axis-label" x="{}" y="{}" text-anchor="{}">{}</text>',
                    x_at(index),
                    height - 10,
                    "end" if index == last and index else "middle",
                    label,
                )
            )
    if threshold is not None:
        y = y_at(min(float(threshold), y_max))
        parts.append(
            format_html(
                '<g class="threshold"><line x1="{}" x2="{}" y1="{}" y2="{}"></line>'
                '<text x="{}" y="{}" text-anchor="end">{} {}%</text></g>',
                left,
                width - right,
                y,
                y,
                width - right - 4,
                y - 5,
                threshold_label,
                _number(float(threshold)),
            )
        )
    for index, css_class, glyph, text in marks:
        parts.append(
            format_html(
                '<g class="mark {}" data-i="{}"><title>{}</title>'
                '<line x1="{}" x2="{}" y1="{}" y2="{}"></line>'
                '<text x="{}" y="{}" text-anchor="middle">{}</text></g>',
                css_class,
                index,
                text,
                x_at(index),
                x_at(index),
                top + 10,
                height - bottom,
                x_at(index),
                top + 6,
                glyph,
            )
        )
    # The keyboard and pointer cursor of static/js/chart.js, hidden until it picks a date.
    parts.append(
        format_html('<line class="cursor" x1="0" x2="0" y1="{}" y2="{}"></line>', top, height - bottom)
    )
    radius = 3 if n_points <= 60 else 2
    for name, css_key, points in series:
        titles = (point_titles or {}).get(css_key) or [""] * len(points)
        segments: list[list[tuple[float, float, str, int]]] = []
        current: list[tuple[float, float, str, int]] = []
        for index, value in enumerate(points):
            if value is None:
                if current:
                    segments.append(current)
                current = []
            else:
                # Without a given title: "Mar 3: 7-day rate 12.50%" (the readout drops the date).
                shown = _fmt(value) if unit == "%" else f"{_number(float(value))}{unit}"
                text = titles[index] or f"{x_labels[index]}: {name} {shown}"
                current.append((x_at(index), y_at(value), text, index))
        if current:
            segments.append(current)
        paths = format_html_join(
            "",
            '<path d="{}"></path>',
            (("M" + " L".join(f"{x},{y}" for x, y, *_ in segment),) for segment in segments),
        )
        dots = format_html_join(
            "",
            '<circle cx="{}" cy="{}" r="{}" data-i="{}"><title>{}</title></circle>',
            ((x, y, radius, index, text) for segment in segments for x, y, text, index in segment),
        )
        # No aria-label here: a <g> without a role may not carry one (axe aria-allowed-attr); the
        # chart's name and summary are on the <svg>, the values in the page's table.
        parts.append(
            format_html('<g class="series series-{}" data-name="{}">{}{}</g>', css_key, name, paths, dots)
        )
    data = format_html(
        ' data-x="{}" data-dates="{}"',
        " ".join(str(x_at(index)) for index in range(n_points)),
        json.dumps(list(x_labels)),
    )
    return _svg("lines", width, height, chart_id, title, description, parts, data)


def sparkline(values: Sequence[Number | None], *, label: str) -> SafeString:
    """A tiny line of a few numbers 0–100 (None breaks it); `label` is its text alternative."""
    width, height, pad = 80, 22, 2
    n_points = len(values)

    def x_at(index: int) -> float:
        return round(pad + (width - 2 * pad) * index / max(n_points - 1, 1), 1)

    def y_at(value: Number) -> float:
        return round(height - pad - (height - 2 * pad) * float(value) / 100, 1)

    segments: list[list[str]] = []
    current: list[str] = []
    for index, value in enumerate(values):
        if value is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(f"{x_at(index)},{y_at(value)}")
    if current:
        segments.append(current)
    last = values[-1] if values else None
    end_dot = (
        format_html('<circle cx="{}" cy="{}" r="2"></circle>', x_at(n_points - 1), y_at(last))
        if last is not None
        else ""
    )
    return format_html(
        '<svg class="sparkline" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}">'
        "<title>{}</title>{}{}</svg>",
        width,
        height,
        width,
        height,
        label,
        label,
        format_html_join("", '<path d="M{}"></path>', ((" L".join(segment),) for segment in segments)),
        end_dot,
    )


def legend(series: Sequence[Series]) -> SafeString:
    """An HTML legend matching line_chart's series colours."""
    return format_html(
        '<ul class="legend">{}</ul>',
        format_html_join(
            "",
            '<li><span class="swatch series-{}" aria-hidden="true"></span>{}</li>',
            ((c, n) for n, c, _ in series),
        ),
    )


def _fmt(value):
    return "no sessions" if value is None else f"{Decimal(value):.2f}%"


def describe_distribution(bars: Sequence[Bar]) -> str:
    """ "High: 12, Medium: 30, Low: 50, Not scored: 2." """
    return ", ".join(f"{label}: {value}" for label, value, _ in bars) + "."


def describe_trend(labels: Sequence[str], rates: Sequence[Number | None]) -> str:
    """Sentence for a weekly rate series: first, last, highest."""
    known = [(label, rate) for label, rate in zip(labels, rates, strict=True) if rate is not None]
    if not known:
        return "No sessions in this period yet."
    highest = max(known, key=lambda item: item[1])
    return (
        f"Week to {known[0][0]}: {_fmt(known[0][1])}; week to {known[-1][0]}: {_fmt(known[-1][1])}; "
        f"highest {_fmt(highest[1])} in the week to {highest[0]}."
    )


def describe_rolling(series: Sequence[Series], threshold: Number) -> str:
    """Sentence for a tutor's rolling rates: the latest value of each window against the threshold."""
    latest = "; ".join(f"{name}: {_fmt(points[-1] if points else None)}" for name, _, points in series)
    return f"Latest rolling rates — {latest}. Threshold {Decimal(threshold):.2f}%."
