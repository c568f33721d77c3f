"""Evaluators' figures: periods, measures counted by the database, disclosure control, and
attacks on it (an adversary combining every figure released, and overlapping queries)."""

import itertools
import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from moderation.metrics import measures as metric_measures
from moderation.metrics.disclosure import (
    PRIMARY,
    SECONDARY,
    Grid,
    Rules,
    control,
    released,
    round_to,
)
from moderation.metrics.measures import ALL, BY_KEY
from moderation.metrics.periods import (
    MONTH,
    WEEK,
    Period,
    complete_months,
    complete_weeks,
    month_containing,
    weeks_of,
)
from moderation.metrics.report import Extent, counts_grid, families, figure_key, metrics_report
from moderation.models import Escalation, Screening
from peerchat.models import (
    Agreement,
    Message,
    Room,
    Shift,
    SupportRequest,
    User,
)
from tests.conftest import make_supporter
from tests.factories import london, make_request, make_session

# A Wednesday: the week of 30 Nov 2026 is under way, so 23-29 Nov is the last complete week.
# November 2026 (of whole weeks) is 2 Nov to 29 Nov; 30 Nov belongs to December.
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RULES = Rules(suppress_below=5, round_to=5, percentile_min_group=10)


def figures(report: dict, key: str) -> dict:
    measure = next(m for m in report["measures"] if m["key"] == key)
    return {row["period"]: row["cells"] for row in measure["rows"]}


# Periods ------------------------------------------------------------------------------------


def test_only_weeks_that_have_ended_are_reported():
    weeks = complete_weeks(NOW, 3)
    assert [w.key for w in weeks] == ["2026-W46", "2026-W47", "2026-W48"]
    assert weeks[-1].start == date(2026, 11, 23) and weeks[-1].last_day == date(2026, 11, 29)
    # On the Monday a week starts, the week before is the newest one.
    assert complete_weeks(datetime(2026, 11, 30, 0, 30, tzinfo=UTC), 1)[0].key == "2026-W48"


def test_a_month_is_the_weeks_whose_thursday_falls_in_it():
    november = month_containing(date(2026, 11, 9))
    assert (november.start, november.end) == (date(2026, 11, 2), date(2026, 11, 30))
    assert november.key == "2026-11" and november.weeks == 4
    # The week of 26 Oct (Thursday 29 Oct) is October's; the week of 30 Nov is December's.
    assert month_containing(date(2026, 10, 26)).key == "2026-10"
    assert month_containing(date(2026, 11, 30)).key == "2026-12"
    assert [w.start for w in weeks_of(november)] == [
        date(2026, 11, 2) + timedelta(days=7 * n) for n in range(4)
    ]
    # December is under way, so November is the newest complete month.
    assert [m.key for m in complete_months(NOW, 2)] == ["2026-10", "2026-11"]
    # Twelve months back to back: each starts where the last ended.
    months = complete_months(NOW, 12)
    assert all(a.end == b.start for a, b in itertools.pairwise(months))


def test_weeks_keep_local_midnight_edges_across_the_clock_change():
    # UK clocks went back on Sunday 25 October 2026: that week is an hour longer in UTC.
    week = Period(WEEK, date(2026, 10, 19), date(2026, 10, 26))
    start, end = week.bounds()
    assert start.astimezone(UTC).hour == 23  # midnight BST
    assert end.astimezone(UTC).hour == 0  # midnight GMT
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=7, hours=1)


# Measures from real rows ----------------------------------------------------------------------


@pytest.fixture
def agreement(db):
    return Agreement.objects.filter(kind="one_to_one", published_at__isnull=False).first()


@pytest.mark.django_db
def test_requests_are_counted_by_local_week_topic_and_outcome(agreement):
    # Sunday 23:30 in London (BST) is 22:30 UTC: still the week of 1 June, not the next one.
    for _ in range(8):
        make_request(agreement, london(2026, 6, 7, 23, 30), topic="feelings")
    for _ in range(3):
        make_request(agreement, london(2026, 6, 8, 0, 30), topic="feelings")
    for _ in range(5):
        make_request(agreement, london(2026, 6, 16), topic="feelings")
    for _ in range(12):
        make_request(agreement, london(2026, 11, 10), topic="self_harm")
    for _ in range(2):
        make_request(agreement, london(2026, 11, 11), state=SupportRequest.State.LEFT)
    report = metrics_report(period=WEEK, count=52, now=NOW)
    requests = figures(report, "requests")
    assert requests["2026-W23"]["feelings"] == {"value": 10, "shown": "10", "withheld": None}
    assert requests["2026-W24"]["feelings"]["shown"] == "<5"
    # June's one hidden week would be June minus its other weeks: the smallest other goes too.
    assert requests["2026-W25"]["feelings"] == {"value": None, "shown": "*", "withheld": SECONDARY}
    # 12 and 2 make 14: "All" minus 12 would give the 2 away, so the 12 is withheld too.
    assert requests["2026-W46"]["not_given"]["withheld"] == PRIMARY
    assert requests["2026-W46"]["self_harm"]["withheld"] == SECONDARY
    assert requests["2026-W46"][ALL]["value"] == 15  # 14, rounded from the true total
    assert requests["2026-W47"][ALL] == {"value": 0, "shown": "0", "withheld": None}
    outcomes = figures(report, "request_outcomes")
    assert outcomes["2026-W46"]["left"]["shown"] == "<5"
    # "All" of both tables is one figure, protected once.
    assert outcomes["2026-W46"][ALL] == requests["2026-W46"][ALL]


@pytest.mark.django_db
def test_the_week_under_way_is_never_reported(agreement):
    for _ in range(20):
        make_request(agreement, NOW - timedelta(hours=1))
    for period in (WEEK, MONTH):
        report = metrics_report(period=period, count=12, now=NOW)
        assert all(
            cell["value"] in (0, None)
            for m in report["measures"]
            for row in m["rows"]
            for cell in row["cells"].values()
        )


@pytest.mark.django_db
def test_waits_give_medians_and_90th_percentiles_only_for_large_enough_groups(agreement):
    supporter = make_supporter()
    for minutes in range(1, 11):  # 10 matched requests in the week of 9 Nov
        request = make_request(agreement, london(2026, 11, 10, 20))
        make_session(request, supporter, wait=timedelta(minutes=minutes), length=timedelta(45))
    for minutes in range(1, 10):  # 9 in the week of 16 Nov: too few
        request = make_request(agreement, london(2026, 11, 17, 20))
        make_session(request, supporter, wait=timedelta(minutes=minutes))
    report = metrics_report(period=WEEK, count=4, now=NOW)
    wait = figures(report, "queue_wait")
    assert wait["2026-W46"]["median"] == {"value": 5.5, "shown": "5.5", "withheld": None}
    assert wait["2026-W46"]["p90"]["value"] == 9.1
    assert wait["2026-W47"]["median"] == {
        "value": None,
        "shown": "too few",
        "withheld": "small_group",
    }
    assert wait["2026-W48"]["median"]["shown"] == "none"
    # Over November's 19 requests together, the month has a median.
    month = figures(metrics_report(period=MONTH, count=1, now=NOW), "queue_wait")
    assert month["2026-11"]["median"]["value"] == 5.0


def worked_shift(supporter: User, *, day: int, start: int, end: int) -> Shift:
    """A shift on that day of November 2026, worked from its start to its end."""
    starts, ends = london(2026, 11, day, start), london(2026, 11, day, end)
    return Shift.objects.create(
        supporter=supporter, starts_at=starts, ends_at=ends, started_at=starts, ended_at=ends
    )


@pytest.mark.django_db
def test_session_lengths_and_supporter_hours(agreement):
    supporters = [make_supporter() for _ in range(5)]
    for i in range(10):
        request = make_request(agreement, london(2026, 11, 3, 21))
        make_session(
            request, supporters[i % 5], wait=timedelta(minutes=2), length=timedelta(minutes=30 + i)
        )
    for supporter in supporters:
        worked_shift(supporter, day=3, start=18, end=22)
        worked_shift(supporter, day=17, start=18, end=22)  # and the same two weeks later
    # Two supporters in the week between: too few people to show their hours.
    for supporter in supporters[:2]:
        worked_shift(supporter, day=10, start=18, end=20)
    report = metrics_report(period=WEEK, count=4, now=NOW)
    # 30 to 39 minutes: a median of 34.5, shown to the minute above 10 minutes.
    assert figures(report, "session_duration")["2026-W45"]["median"]["value"] == 35
    hours = figures(report, "supporter_hours")
    assert hours["2026-W46"][ALL] == {"value": None, "shown": "*", "withheld": PRIMARY}
    # One week withheld in November would be the month minus the others: another goes too.
    assert hours["2026-W45"][ALL]["withheld"] == SECONDARY
    assert hours["2026-W47"][ALL]["value"] == 20  # 5 shifts of 4 hours


@pytest.mark.django_db
def test_filter_figures_agree_across_tables_and_feedback_has_no_text(agreement):
    supporter = make_supporter()
    room = Room.objects.create(kind=Room.Kind.ONE_TO_ONE)
    actions = ["hold"] * 6 + ["block"] * 2 + ["mask"] * 7 + ["content_warning"] * 1
    for i, action in enumerate(actions):
        message = Message.objects.create(
            room=room,
            sender=supporter,
            sender_role="supporter",
            client_msg_id=f"00000000-0000-0000-0000-{i:012d}",
            body="placeholder",
        )
        screening = Screening.objects.create(
            message=message,
            room=room,
            room_kind="one_to_one",
            action=action,
            categories=["contact"] if action == "mask" else ["method", "links"],
            policy_version="test",
            review="released"
            if action == "hold"
            else ("kept" if action == "block" else "not_needed"),
        )
        Screening.objects.filter(pk=screening.pk).update(created_at=london(2026, 11, 18))
    report = metrics_report(period=WEEK, count=2, now=NOW)
    categories = figures(report, "filter_categories")["2026-W47"]
    actions_ = figures(report, "filter_actions")["2026-W47"]
    review = figures(report, "filter_review")["2026-W47"]
    assert categories["method"]["value"] == 10  # 8, by the first category named
    assert categories["contact"]["value"] == 5  # 7
    assert categories[ALL]["value"] == actions_[ALL]["value"] == 15  # 16
    kinds = figures(report, "filter_room_kinds")["2026-W47"]
    assert kinds["one_to_one"]["value"] == 15 and kinds["group"]["shown"] == "0"
    assert kinds[ALL] == categories[ALL]
    assert actions_["reviewed"] == review[ALL]  # held + not delivered is what was reviewed
    # 2 kept back is too few to show, and 6 released would give it away beside the total.
    assert review["kept"]["withheld"] == PRIMARY and review["released"]["withheld"] == SECONDARY


@pytest.mark.django_db
def test_escalations_by_trigger_outcome_and_time_to_acknowledge(agreement):
    for i in range(12):
        room = Room.objects.create(kind=Room.Kind.ONE_TO_ONE)
        opened = london(2026, 11, 24, 2)
        Escalation.objects.create(
            room=room,
            kind="filter" if i < 7 else "seeker",
            state=Escalation.State.RESOLVED,
            opened_at=opened,
            last_trigger_at=opened,
            acknowledged_at=opened + timedelta(seconds=30 * (i + 1)),
            resolved_at=opened + timedelta(hours=1),
            outcome="supported",
        )
    report = metrics_report(period=WEEK, count=1, now=NOW)
    assert figures(report, "escalations")["2026-W48"]["filter"]["value"] == 5
    assert figures(report, "escalation_outcomes")["2026-W48"]["supported"]["value"] == 10
    assert figures(report, "escalation_acknowledged")["2026-W48"]["median"]["value"] == 3.3


# Disclosure control -------------------------------------------------------------------------


def test_rounding_and_primary_suppression():
    assert [round_to(v, 5) for v in (0, 5, 7, 8, 12, 13, 102)] == [0, 5, 5, 10, 10, 15, 100]
    grid = Grid()
    for key, value in {"a": 0, "b": 1, "c": 4, "d": 5}.items():
        grid.add(key, value)
    control(grid, RULES)
    assert [grid.cells[k].state for k in "abcd"] == ["shown", PRIMARY, PRIMARY, "shown"]


def test_one_hidden_figure_in_a_row_takes_the_smallest_other_with_it():
    grid = Grid()
    for key, value in {"a": 3, "b": 40, "c": 9, "all": 52}.items():
        grid.add(key, value)
    grid.group(["a", "b", "c"], "all")
    control(grid, RULES)
    assert grid.cells["a"].state == PRIMARY
    assert grid.cells["c"].state == SECONDARY
    assert grid.cells["b"].state == grid.cells["all"].state == "shown"


def test_two_hidden_ones_are_not_enough_when_together_they_are_still_small():
    grid = Grid()
    for key, value in {"a": 1, "b": 1, "c": 30, "d": 12, "all": 44}.items():
        grid.add(key, value)
    grid.group(["a", "b", "c", "d"], "all")
    control(grid, RULES)
    # 1 + 1 = 2 could be told from the total, and both are at least 1: both would be known.
    assert grid.cells["d"].state == SECONDARY


def _attacker_bounds(grid: Grid, shown: dict, rules: Rules) -> dict:
    """What someone holding every released figure can prove about each withheld one: the least
    and greatest whole value it can take (an exact integer programme, written here apart from
    the service's own check so that one cannot hide the other's mistake).

    Each released figure bounds its true value (a rounded r: r - 2 to r + 2, and not 1-4,
    which would have been hidden; "<5": 1 to 4; "*": at least 5, by the public rules); the
    groups add up exactly. A month whose every figure is withheld says nothing.
    """
    keys = list(grid.cells)
    index = {k: i for i, k in enumerate(keys)}
    lows, highs = [], []
    for key in keys:
        cell = shown[key]
        if cell["withheld"] == PRIMARY:
            low, high = 1, rules.suppress_below - 1
        elif cell["withheld"] == "whole":  # its whole month withheld: could be anything
            low, high = 0, np.inf
        elif cell["withheld"]:
            low, high = rules.suppress_below, np.inf
        elif cell["value"] == 0:
            low, high = 0, 0
        else:
            half = rules.round_to // 2
            low, high = max(cell["value"] - half, rules.suppress_below), cell["value"] + half
        lows.append(low)
        highs.append(high)
    matrix = np.zeros((len(grid.groups), len(keys)))
    for row, (members, total) in enumerate(grid.groups):
        for member in members:
            matrix[row, index[member]] += 1
        matrix[row, index[total]] -= 1
    found = {}
    for key in keys:
        if not shown[key]["withheld"]:
            continue
        limits = []
        for sign in (1, -1):
            objective = np.zeros(len(keys))
            objective[index[key]] = sign
            result = milp(
                objective,
                constraints=[LinearConstraint(matrix, 0, 0)],
                integrality=np.ones(len(keys)),
                bounds=Bounds(lows, highs),
            )
            # Unbounded above (HiGHS may say "infeasible or unbounded": the least value of the
            # same problem was found just before, so it is feasible).
            if sign == -1 and result.status in (3, 4):
                limits.append(np.inf)
                continue
            assert result.status == 0, result.message
            limits.append(round(sign * result.fun))
        found[key] = tuple(limits)
    return found


def _random_figures(rng: random.Random, family, extent) -> dict:
    """Small random weekly counts for a family: each measure's columns split its "All", and a
    shared total is the figure it shares (so the tables agree as real ones do)."""
    figures = {measure.key: {} for measure in family}
    for i, _week in enumerate(extent.weeks):
        for measure in family:
            if measure.total_of:
                other, column = measure.total_of
                total = figures[other][i, column]
            else:
                total = rng.choice([0, 1, 2, 3, 4, 5, 6, 8, 9, 14, 22])
            columns = [c for c, _ in measure.columns if c != ALL]
            used = rng.sample(columns, k=min(len(columns), rng.choice([1, 2, 3])))
            split = dict.fromkeys(columns, 0)
            for _ in range(total):
                split[rng.choice(used)] += 1
            for column, n in split.items():
                figures[measure.key][i, column] = n
            figures[measure.key][i, ALL] = total
    return figures


FAMILIES = ("requests", "filter_categories", "escalations")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("root", FAMILIES)
def test_no_withheld_figure_can_be_worked_out_from_everything_released(root, seed):
    """Every released figure of two months (weeks, months, every table of a family sharing a
    total) against each withheld one: the attacker can never narrow it to a single value."""
    rng = random.Random(seed)
    family = next(f for f in families(metric_measures.MEASURES) if f[0].key == root)
    extent = Extent(kind=MONTH, count=2, now=NOW)
    truth = _random_figures(rng, family, extent)
    grid = control(counts_grid(family, truth, extent), RULES)
    shown = {key: released(cell, RULES) for key, cell in grid.cells.items()}
    bounds = _attacker_bounds(grid, shown, RULES)
    assert any(s["withheld"] for s in shown.values()), "the data should have small cells"
    for key, (low, high) in bounds.items():
        true = grid.cells[key].value
        assert low <= true <= high, (key, true, low, high)
        assert high > low, f"{key} (true {true}) can be worked out: exactly {low}"


def test_the_families_share_what_their_tables_share():
    by_root = {f[0].key: [m.key for m in f] for f in families(metric_measures.MEASURES)}
    assert by_root["requests"] == ["requests", "request_outcomes"]
    assert by_root["filter_categories"] == [
        "filter_categories",
        "filter_actions",
        "filter_room_kinds",
        "filter_review",
    ]
    assert by_root["escalations"] == ["escalations", "escalation_outcomes"]


@pytest.mark.django_db
def test_overlapping_queries_give_identical_figures_so_differencing_gains_nothing(agreement):
    rng = random.Random(3)
    start = london(2026, 5, 4)
    for day in range(0, 7 * 30):
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            make_request(
                agreement,
                start + timedelta(days=day, hours=rng.randrange(24)),
                topic=rng.choice(["", "feelings", "self_harm"]),
            )
    twelve = metrics_report(period=WEEK, count=12, now=NOW)
    thirteen = metrics_report(period=WEEK, count=13, now=NOW)
    later = metrics_report(period=WEEK, count=26, now=NOW)
    for key in ("requests", "request_outcomes"):
        a, b, c = (figures(r, key) for r in (twelve, thirteen, later))
        for period, cells in a.items():
            assert cells == b[period] == c[period], (key, period)
    # The month view settles the same figures: a month's weeks are protected with it.
    months = figures(metrics_report(period=MONTH, count=6, now=NOW), "requests")
    weeks = figures(later, "requests")
    assert set(months) >= {"2026-07", "2026-10", "2026-11"}
    november = [w for w in weeks if w in {"2026-W45", "2026-W46", "2026-W47", "2026-W48"}]
    withheld = [w for w in november if weeks[w][ALL]["withheld"]]
    assert len(withheld) != 1  # never a single week that the month would give away


def test_every_figure_is_defined_once_with_words():
    keys = [m.key for m in metric_measures.MEASURES]
    assert len(keys) == len(set(keys))
    for measure in metric_measures.MEASURES:
        assert len(measure.definition) > 40 and measure.title
        if getattr(measure, "total_of", None):
            other, column = measure.total_of
            assert column in dict(BY_KEY[other].columns)
            assert figure_key(measure, ALL) != (measure.key, ALL)
