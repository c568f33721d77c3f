"""Reporting periods: whole weeks, and months made of whole weeks.

Evaluators never see anything finer than a week. A week runs Monday to Sunday in the
deployment's time zone. A month is the weeks whose Thursday falls in that calendar month (the
ISO 8601 rule), so every month is exactly the sum of its weeks and no combination of a month
and its weeks can reveal part of a week. Only complete periods are reported: a week still under
way would change from day to day, and two exports a day apart would then give away a day.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from django.conf import settings

WEEK = "week"
MONTH = "month"
# A week belongs to the month its Thursday falls in (ISO 8601).
THURSDAY = timedelta(days=3)


@dataclass(frozen=True)
class Period:
    kind: str
    start: date  # a Monday
    end: date  # the Monday after its last day

    @cached_property
    def key(self) -> str:
        if self.kind == WEEK:
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        year, month = month_of_week(self.start)
        return f"{year}-{month:02d}"

    @property
    def label(self) -> str:
        if self.kind == WEEK:
            return f"w/c {self.start.day} {self.start:%b %Y}"
        return f"{self.start + THURSDAY:%b %Y}"

    @property
    def short_label(self) -> str:
        """For a chart's axis: "8 Jun", or "Jun 26" for a month."""
        if self.kind == WEEK:
            return f"{self.start.day} {self.start:%b}"
        return f"{self.start + THURSDAY:%b %y}"

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def weeks(self) -> int:
        return (self.end - self.start).days // 7

    def bounds(self) -> tuple[datetime, datetime]:
        return local_midnight(self.start), local_midnight(self.end)

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "short_label": self.short_label,
            "first_day": self.start.isoformat(),
            "last_day": self.last_day.isoformat(),
            "weeks": self.weeks,
        }


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(settings.TIME_ZONE))


def local_today(now: datetime) -> date:
    return now.astimezone(ZoneInfo(settings.TIME_ZONE)).date()


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_of_week(monday: date) -> tuple[int, int]:
    thursday = monday + THURSDAY
    return thursday.year, thursday.month


def month_containing(monday: date) -> Period:
    """The month (of whole weeks) that the week starting `monday` belongs to."""
    year, month = month_of_week(monday)
    first = monday
    while month_of_week(first - timedelta(days=7)) == (year, month):
        first -= timedelta(days=7)
    end = monday + timedelta(days=7)
    while month_of_week(end) == (year, month):
        end += timedelta(days=7)
    return Period(MONTH, first, end)


def complete_weeks(now: datetime, count: int) -> list[Period]:
    """The last `count` weeks that have ended, oldest first."""
    this_week = week_start(local_today(now))
    return [
        Period(WEEK, this_week - timedelta(days=7 * n), this_week - timedelta(days=7 * (n - 1)))
        for n in range(count, 0, -1)
    ]


def complete_months(now: datetime, count: int) -> list[Period]:
    """The last `count` months whose weeks have all ended, oldest first."""
    this_week = week_start(local_today(now))
    current = month_containing(this_week)
    months: list[Period] = []
    end = current.start
    while len(months) < count:
        month = month_containing(end - timedelta(days=7))
        months.append(month)
        end = month.start
    return months[::-1]


def weeks_of(month: Period) -> list[Period]:
    return [
        Period(WEEK, month.start + timedelta(days=7 * n), month.start + timedelta(days=7 * (n + 1)))
        for n in range(month.weeks)
    ]
