"""SQL building blocks the measures share: seconds between two times, percentiles, periods.

Every figure is computed by the database with aggregate queries; no rows are loaded into
Python. PostgreSQL has `percentile_cont`; the embedded SQLite default gets the same aggregate
registered on each connection (`register_sqlite_functions`).
"""

import math
from collections.abc import Sequence
from datetime import datetime

from django.db.models import Aggregate, F, FloatField, Func, IntegerField


class Seconds(Func):
    """Seconds from `start` to `end` (two datetime columns), as a float."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "

    def __init__(self, end, start, **extra):
        super().__init__(end, start, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


class Percentile(Aggregate):
    """The continuous percentile (linear interpolation, like PostgreSQL's percentile_cont)."""

    name = "Percentile"
    function = "percentile_cont"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        fraction = float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("A percentile's fraction is between 0 and 1.")
        # A float from our own code, written into the SQL as a literal (never user input).
        super().__init__(expression, fraction=repr(fraction), **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            function=SQLITE_PERCENTILE,
            template="%(function)s(%(expressions)s, %(fraction)s)",
            **extra,
        )


SQLITE_PERCENTILE = "peerchat_percentile"


class _SqlitePercentile:
    """SQLite aggregate with percentile_cont's answer (nulls ignored, None for no rows)."""

    def __init__(self):
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value, fraction):
        if value is not None:
            self.values.append(float(value))
            self.fraction = float(fraction)

    def finalize(self):
        return interpolated_percentile(sorted(self.values), self.fraction)


def interpolated_percentile(ordered: Sequence[float], fraction: float) -> float | None:
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def register_sqlite_functions(sender, connection, **kwargs):
    """`connection_created` receiver: give SQLite the percentile aggregate."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate(SQLITE_PERCENTILE, 2, _SqlitePercentile)


class PeriodIndex(Func):
    """The index of the period that a datetime column falls in, given the periods' edges.

    `edges` are n + 1 aware datetimes (local midnights) bounding n back-to-back periods, so a
    week or month keeps its wall-clock edges across daylight-saving changes on every database.
    Written as a binary search of nested CASEs (a handful of comparisons a row, whatever the
    number of periods); rows outside the edges are filtered out by the caller.
    """

    output_field = IntegerField()

    def __init__(self, field: str, edges: Sequence[datetime]):
        if len(edges) < 2:
            raise ValueError("At least one period is needed.")
        super().__init__(F(field))
        self.edges = list(edges)

    def as_sql(self, compiler, connection, **extra):
        column, column_params = compiler.compile(self.source_expressions[0])
        values = [connection.ops.adapt_datetimefield_value(edge) for edge in self.edges]
        params: list = []

        def node(low: int, high: int) -> str:
            if high - low == 1:
                return str(low)
            middle = (low + high) // 2
            params.extend([*column_params, values[middle]])
            return f"CASE WHEN {column} < %s THEN {node(low, middle)} ELSE {node(middle, high)} END"

        return node(0, len(self.edges) - 1), params
