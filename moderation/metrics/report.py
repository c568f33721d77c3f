"""The evaluators' figures: every measure for a run of weeks or months, disclosure-controlled.

`metrics_report` is the one way figures leave the server: the page, the CSV and the JSON
export all render what it returns, so they can never disagree or differ in what they reveal.
"""

from datetime import datetime

from django.utils import timezone

from moderation.metrics import queries
from moderation.metrics.disclosure import Grid, Rules, control, released, released_minutes
from moderation.metrics.measures import ALL, BY_KEY, MEASURES, Counts, Hours, Measure, Times
from moderation.metrics.periods import (
    MONTH,
    WEEK,
    Period,
    complete_months,
    complete_weeks,
    local_today,
    month_containing,
    week_start,
    weeks_of,
)

DEFAULT_COUNT = {WEEK: 26, MONTH: 12}
MAX_COUNT = {WEEK: 104, MONTH: 24}
TITLE = "peerchat: anonymised figures for evaluators"


class Extent:
    """The shown periods, and the whole months (of ended weeks) their figures are settled in.

    Secondary suppression settles each month with all its weeks together, so a week's figures
    come out the same whichever run of weeks or months it is asked for in.
    """

    def __init__(self, *, kind: str, count: int, now: datetime):
        self.shown = (complete_weeks if kind == WEEK else complete_months)(now, count)
        this_week = week_start(local_today(now))
        months: list[Period] = []
        for period in self.shown:
            month = period if kind == MONTH else month_containing(period.start)
            if not months or months[-1] != month:
                months.append(month)
        self.complete_months = [m for m in months if m.end <= this_week]
        self.weeks = [w for m in months for w in weeks_of(m) if w.end <= this_week]


def metrics_report(
    *, period: str = WEEK, count: int | None = None, now: datetime | None = None
) -> dict:
    """Every measure for the last `count` complete weeks or months, ready to release."""
    if period not in (WEEK, MONTH):
        raise ValueError(f"period must be {WEEK!r} or {MONTH!r}")
    count = min(max(count or DEFAULT_COUNT[period], 1), MAX_COUNT[period])
    now = now or timezone.now()
    rules = Rules.from_settings()
    extent = Extent(kind=period, count=count, now=now)
    rows: dict[str, list[dict]] = {}
    for family in families(MEASURES):
        figures = {m.key: queries.counts(m, extent.weeks, now) for m in family}
        grid = control(counts_grid(family, figures, extent), rules)
        for measure in family:
            rows[measure.key] = [
                {
                    "period": p.key,
                    "cells": {
                        c: released(grid.cells[figure_key(measure, c), p.key], rules)
                        for c, _ in measure.columns
                    },
                }
                for p in extent.shown
            ]
    for measure in MEASURES:
        if isinstance(measure, Times):
            rows[measure.key] = _times_rows(measure, extent, rules, now)
        elif isinstance(measure, Hours):
            rows[measure.key] = _hours_rows(measure, extent, rules, now)
    return {
        "title": TITLE,
        "period": period,
        "periods": [p.as_dict() for p in extent.shown],
        "rules": {
            "suppress_below": rules.suppress_below,
            "round_to": rules.round_to,
            "percentile_min_group": rules.percentile_min_group,
            "text": rules.describe(),
        },
        "measures": [_measure(m, rows[m.key]) for m in MEASURES],
    }


def _measure(measure: Measure, rows: list[dict]) -> dict:
    kind = {Counts: "counts", Times: "times", Hours: "hours"}[type(measure)]
    breakdown = measure.breakdown if isinstance(measure, Counts) else None
    return {
        "key": measure.key,
        "section": measure.section,
        "title": measure.title,
        "definition": measure.definition,
        "kind": kind,
        "unit": measure.unit,
        "breakdown": breakdown.title if breakdown else None,
        "columns": [{"key": key, "label": label} for key, label in measure.columns],
        "rows": rows,
    }


# Counts: measures that share a figure are protected together ---------------------------------


def figure_key(measure: Counts, column: str) -> tuple[str, str]:
    """The one name of a figure that two measures may both show (see `Counts.total_of`)."""
    if column == ALL and measure.total_of:
        return figure_key(BY_KEY[measure.total_of[0]], measure.total_of[1])
    return measure.key, column


def families(measures) -> list[list[Counts]]:
    """Counts measures grouped so that measures sharing a figure are in one family."""

    def root(measure: Counts) -> str:
        return root(BY_KEY[measure.total_of[0]]) if measure.total_of else measure.key

    roots: dict[str, list[Counts]] = {}
    for measure in measures:
        if isinstance(measure, Counts):
            roots.setdefault(root(measure), []).append(measure)
    return list(roots.values())


def counts_grid(family: list[Counts], figures: dict[str, dict], extent: "Extent") -> Grid:
    """The family's figures for every week of the extent and every complete month, and the
    groups that add up: each period's columns to its "All", each month's weeks to the month.

    `figures[measure key][(week index, column)]` are the true counts from `queries.counts`.
    """
    grid = Grid()
    keys: list[tuple[str, str]] = []
    for measure in family:
        for column, _ in measure.columns:
            key = figure_key(measure, column)
            if key in keys:
                continue
            keys.append(key)
            for i, week in enumerate(extent.weeks):
                grid.add((key, week.key), figures[measure.key].get((i, column), 0))
    week_index = {week: i for i, week in enumerate(extent.weeks)}
    for month in extent.complete_months:
        weeks = weeks_of(month)
        for key in keys:
            grid.add((key, month.key), sum(grid.cells[key, w.key].value for w in weeks))
            grid.group([(key, w.key) for w in weeks if w in week_index], (key, month.key))
    for measure in family:
        for period in [*extent.weeks, *extent.complete_months]:
            members = [(figure_key(measure, c), period.key) for c, _ in measure.columns if c != ALL]
            grid.group(members, (figure_key(measure, ALL), period.key))
    return grid


def _times_rows(measure: Times, extent: Extent, rules: Rules, now: datetime) -> list[dict]:
    figures = queries.times(measure, extent.shown, now)
    rows = []
    for i, period in enumerate(extent.shown):
        n, median, p90 = figures.get(i, (0, None, None))
        rows.append(
            {
                "period": period.key,
                "cells": {
                    "median": released_minutes(median, n, rules),
                    "p90": released_minutes(p90, n, rules),
                },
            }
        )
    return rows


def _hours_rows(measure: Hours, extent: Extent, rules: Rules, now: datetime) -> list[dict]:
    weekly = queries.hours(measure, extent.weeks, now)
    monthly = queries.hours(measure, extent.complete_months, now) if extent.complete_months else {}
    grid = Grid()
    week_index = {week: i for i, week in enumerate(extent.weeks)}
    for week, i in week_index.items():
        seconds, people = weekly.get(i, (0.0, 0))
        grid.add((week.key, ALL), seconds / 3600, people)
    for i, month in enumerate(extent.complete_months):
        seconds, people = monthly.get(i, (0.0, 0))
        grid.add((month.key, ALL), seconds / 3600, people)
        grid.group([(w.key, ALL) for w in weeks_of(month)], (month.key, ALL))
    # Hours are withheld by the people behind them, not by their own size, so the group rules
    # protect them and the counting adversary of `control`'s audit does not apply.
    control(grid, rules, audit=False)
    return [
        {"period": p.key, "cells": {ALL: released(grid.cells[p.key, ALL], rules, unit="hours")}}
        for p in extent.shown
    ]
