"""SVG charts and the display filters of the dashboard."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from scoring import charts
from scoring.templatetags.dashboard import duration, pct, rate_class, rate_class_below


def test_bar_chart_scales_bars_and_carries_its_text_alternative():
    svg = charts.bar_chart(
        [("High", 10, "high"), ("Low", 5, "low"), ("Not <scored>", 0, "none")],
        title="Tutors by risk",
        description="High: 10, Low: 5.",
    )
    assert svg.startswith('<svg class="chart chart-bars"') and 'role="img"' in svg
    ids = re.search(r'aria-labelledby="([\w-]+) ([\w-]+)"', svg).groups()
    assert f'<title id="{ids[0]}">Tutors by risk</title>' in svg
    assert f'<desc id="{ids[1]}">High: 10, Low: 5.</desc>' in svg
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([\d.]+)"', svg)]
    assert widths == [300.0, 150.0, 1.5]  # largest fills the space; zero is a sliver
    assert "Not &lt;scored&gt;" in svg  # labels are escaped


def test_line_chart_breaks_lines_at_unknown_values_and_draws_the_threshold():
    svg = charts.line_chart(
        [("7-day rate", "rate7", [Decimal("10"), None, Decimal("20"), Decimal("30")])],
        title="Rates",
        description="desc",
        x_labels=["A", "B", "C", "D"],
        threshold=Decimal("15.00"),
    )
    paths = re.findall(r'<path d="([^"]+)"', svg)
    assert len(paths) == 2 and paths[0].count("L") == 0 and paths[1].count("L") == 1
    assert svg.count("<circle") == 3
    assert "Threshold 15%" in svg and 'class="threshold"' in svg
    # y axis tops out at 50% (threshold × 1.3 = 19.5 < 30 → next nice step is 50).
    assert ">50%</text>" in svg and ">0%</text>" in svg
    assert 'text-anchor="end">D</text>' in svg  # the last date stays inside the picture


def test_two_charts_on_one_page_have_distinct_ids():
    first = charts.bar_chart([("A", 1, "low")], title="t", description="d")
    second = charts.bar_chart([("A", 1, "low")], title="t", description="d")
    assert re.search(r'id="([\w-]+)"', first).group(1) != re.search(r'id="([\w-]+)"', second).group(1)


def test_descriptions():
    assert charts.describe_distribution([("High", 2, "high"), ("Low", 0, "low")]) == "High: 2, Low: 0."
    assert charts.describe_trend(["Nov 4", "Nov 11", "Nov 18"], [None, Decimal("20"), Decimal("12.5")]) == (
        "Week to Nov 11: 20.00%; week to Nov 18: 12.50%; highest 20.00% in the week to Nov 11."
    )
    assert charts.describe_trend(["Nov 4"], [None]) == "No sessions in this period yet."
    series = [("7-day rate", "rate7", [None]), ("30-day rate", "rate30", [Decimal("12.5")])]
    assert charts.describe_rolling(series, Decimal("15")) == (
        "Latest rolling rates — 7-day rate: no sessions; 30-day rate: 12.50%. Threshold 15.00%."
    )


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (None, "rate-none"),
        ("", "rate-none"),
        (Decimal("15.01"), "rate-high"),
        (Decimal("15.00"), "rate-warn"),  # at the threshold is not above it
        (Decimal("10.00"), "rate-warn"),  # 5 points below
        (Decimal("9.99"), "rate-ok"),
        (Decimal("0.00"), "rate-ok"),  # a real 0% is green, not unknown
    ],
)
def test_rate_colours(rate, expected):
    assert rate_class(rate, Decimal("15.00")) == expected


def test_retention_colours_are_mirrored():
    assert rate_class_below(Decimal("59.99"), Decimal("60")) == "rate-high"
    assert rate_class_below(Decimal("65.00"), Decimal("60")) == "rate-warn"
    assert rate_class_below(Decimal("65.01"), Decimal("60")) == "rate-ok"
    assert rate_class_below(None, Decimal("60")) == "rate-none"


def test_pct_and_duration():
    assert pct(None) == "—" and pct(Decimal("0")) == "0.00%" and pct(Decimal("37.5")) == "37.50%"
    assert duration(None) == "—"
    assert duration(timedelta(seconds=42)) == "42 s"
    assert duration(timedelta(minutes=12, seconds=59)) == "12 min"
    assert duration(timedelta(hours=3)) == "3 h"
    assert duration(timedelta(hours=3, minutes=5)) == "3 h 5 min"
    assert duration(timedelta(days=2, hours=4, minutes=1)) == "2 d 4 h"


def test_line_chart_carries_the_data_its_keyboard_cursor_reads():
    svg = charts.line_chart(
        [
            ("Risk score", "risk", [Decimal("70"), Decimal("72")]),
            ("30-day rate", "rate30", [None, Decimal("20")]),
        ],
        title="History",
        description="desc",
        x_labels=["Mar 2", "Mar 3"],
        point_titles={"rate30": ["", "Mar 3: 30-day rate 20.00% (4 of 20 sessions)"]},
        marks=[(1, "mark-opened", "!", "Mar 3: alert opened")],
        unit="",
    )
    assert 'data-x="44.0 624.0" data-dates="[&quot;Mar 2&quot;, &quot;Mar 3&quot;]"' in svg
    assert '<g class="series series-risk" data-name="Risk score">' in svg
    # Without a given title a point's title says its date, series and value, as point_label does.
    assert 'r="3" data-i="0"><title>Mar 2: Risk score 70</title>' in svg
    assert 'data-i="1"><title>Mar 3: 30-day rate 20.00% (4 of 20 sessions)</title>' in svg
    assert '<g class="mark mark-opened" data-i="1">' in svg
    assert '<line class="cursor"' in svg
