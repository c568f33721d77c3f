"""The aggregate queries behind the measures: one GROUP BY per measure and set of periods.

Rows never come back to Python: each query returns one line per period (and column), with a
count, a sum or percentiles computed by the database.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.db.models import Count, QuerySet, Sum

from moderation.metrics.measures import ALL, Counts, Hours, Times
from moderation.metrics.periods import Period
from moderation.metrics.sql import Percentile, PeriodIndex


def _in_periods(queryset: QuerySet, when: str, periods: Sequence[Period]) -> QuerySet:
    edges = [period.bounds()[0] for period in periods] + [periods[-1].bounds()[1]]
    return (
        queryset.filter(**{f"{when}__gte": edges[0], f"{when}__lt": edges[-1]})
        .annotate(_period=PeriodIndex(when, edges))
        .order_by()
    )


def counts(measure: Counts, periods: Sequence[Period], now: datetime) -> dict:
    """{(period index, column key): count}, with the "all" column, zeros left out."""
    queryset = _in_periods(measure.rows(now), measure.when, periods)
    figures: dict = defaultdict(int)
    queryset = queryset.annotate(_column=measure.breakdown.expression(now))
    for row in queryset.values("_period", "_column").annotate(n=Count("pk")):
        figures[row["_period"], row["_column"]] += row["n"]
        figures[row["_period"], ALL] += row["n"]
    return figures


def times(measure: Times, periods: Sequence[Period], now: datetime) -> dict:
    """{period index: (group size, median seconds, 90th percentile seconds)}."""
    queryset = _in_periods(measure.rows(now), measure.when, periods).annotate(
        _seconds=measure.seconds()
    )
    rows = queryset.values("_period").annotate(
        n=Count("pk"),
        median=Percentile("_seconds", 0.5),
        p90=Percentile("_seconds", 0.9),
    )
    return {row["_period"]: (row["n"], row["median"], row["p90"]) for row in rows}


def hours(measure: Hours, periods: Sequence[Period], now: datetime) -> dict:
    """{period index: (seconds on shift, distinct people)}."""
    queryset = _in_periods(measure.rows(now), measure.when, periods)
    rows = queryset.values("_period").annotate(
        seconds=Sum(measure.seconds()), people=Count(measure.who, distinct=True)
    )
    return {row["_period"]: (row["seconds"] or 0.0, row["people"]) for row in rows}
