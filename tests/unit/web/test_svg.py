"""The axes the dashboard's SVG charts share: round ticks, padded scales, the edges of the plot."""

from __future__ import annotations

from datetime import date, timedelta

from signal_monitor.web.svg import WIDTH, DateAxes, nice_ticks

FRIDAY = date(2025, 6, 6)


def test_ticks_are_round_and_within_the_range() -> None:
    assert nice_ticks(0.0, 1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(-13.0, 41.0) == [0, 20, 40]
    assert nice_ticks(3.0, 3.0) == [3.0]


def test_the_axes_span_the_dates_and_the_padded_values() -> None:
    dates = [FRIDAY + timedelta(weeks=i) for i in range(5)]
    axes = DateAxes.fit(dates, [10.0, 20.0], pad=0.1, height=200, left=60, right=20, top=10, bottom=30)
    assert (axes.lo, axes.hi) == (9.0, 21.0)
    assert axes.x(dates[0]) == 60 and axes.x(dates[-1]) == WIDTH - 20
    assert axes.y(21.0) == 10 and axes.y(9.0) == 200 - 30
    assert axes.y(15.0) == (10 + 170) / 2


def test_one_date_and_one_value_still_make_a_plot() -> None:
    axes = DateAxes.fit([FRIDAY], [4.0], pad=0.1, height=100, left=0, right=0, top=0, bottom=0)
    assert axes.last == axes.first + 1 and axes.x(FRIDAY) == 0
    assert (axes.lo, axes.hi) == (4.0 - 0.2, 4.0 + 0.2)
    zero = DateAxes.fit([FRIDAY], [0.0], pad=0.1, height=100, left=0, right=0, top=0, bottom=0)
    assert (zero.lo, zero.hi) == (-1.0, 1.0)


def test_the_grid_and_the_date_labels_escape_and_thin_out() -> None:
    dates = [FRIDAY + timedelta(weeks=i) for i in range(24)]
    axes = DateAxes.fit(dates, [0.0, 1.0], pad=0.05, height=100, left=50, right=10, top=0, bottom=20)
    grid = axes.value_grid(lambda v: f"<{v:g}>")
    assert [g.split('text-anchor="end">')[1] for g in grid] == ["&lt;0&gt;</text>", "&lt;0.5&gt;</text>", "&lt;1&gt;</text>"]
    assert all('x1="50" x2="750"' in g for g in grid)
    labels = axes.date_labels(dates, fmt="%Y-%m-%d", y=95)
    assert len(labels) == 6 and ">2025-06-06<" in labels[0] and 'y="95"' in labels[0]
