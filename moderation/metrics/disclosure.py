"""Statistical disclosure control for the evaluators' figures (DESIGN.md §10).

In the style of NHS published statistics:

1. **Primary suppression.** A count of 1 to `SUPPRESS_BELOW - 1` people is not shown ("<5").
   Zero is shown: it describes nobody.
2. **Secondary suppression.** Figures that add up to a shown total form a group (the columns of a
   row add up to its "All"; the weeks of a month add up to the month). In a group where a
   suppressed figure could be worked out from the total and the figures shown beside it, more
   figures are withheld ("*"): the smallest non-zero ones first, until the withheld figures of
   every group are at least two and add up to at least the threshold (or the total itself is
   withheld). Every group of one month is settled together, and no group crosses a month, so a
   figure's treatment depends only on its own month: whatever weeks or months are asked for,
   the same figure always comes out the same way.
3. **Rounding.** Every shown figure, totals included, is rounded to the nearest `ROUND_TO` from
   its true value (never summed from rounded figures), so totals and differences of overlapping
   periods carry a rounding uncertainty of their own.
4. **Percentiles** (medians, 90th percentiles) only for groups of at least
   `PERCENTILE_MIN_GROUP`, rounded to a tenth of a minute below 10 minutes and to the minute
   above.

Everything here works on figures the database has already aggregated; nothing here sees a row.
"""

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from django.conf import settings

# Rounds of "withhold one more, check again" per part of the grid before withholding it all.
AUDIT_ROUNDS = 50

SHOWN = "shown"
PRIMARY = "primary"  # too few people
SECONDARY = "secondary"  # withheld so a suppressed figure can't be worked out
WHOLE = "whole"  # withheld with every figure of its part of the grid, zeros included


@dataclass(frozen=True)
class Rules:
    suppress_below: int
    round_to: int
    percentile_min_group: int

    @classmethod
    def from_settings(cls) -> "Rules":
        config = settings.METRICS
        return cls(
            suppress_below=config["SUPPRESS_BELOW"],
            round_to=config["ROUND_TO"],
            percentile_min_group=config["PERCENTILE_MIN_GROUP"],
        )

    def describe(self) -> list[str]:
        """The rules in plain words: shown on the page and written into every export."""
        n = self.suppress_below
        return [
            f"Counts of 1 to {n - 1} are not shown ('<{n}'). Zero is shown as 0.",
            "Where a hidden count could be worked out from a total and the counts beside it, "
            "further counts are withheld ('*'), smallest first; where even that would not hide "
            "it, every figure of those tables for that month is withheld ('*'), zeros too.",
            f"Every other count, totals included, is rounded to the nearest {self.round_to} "
            "from its true value, so figures may not add up exactly.",
            f"Medians and 90th percentiles are shown only for groups of at least "
            f"{self.percentile_min_group}, rounded to 0.1 of a minute under 10 minutes and to "
            "the minute above.",
            f"Supporter hours are withheld ('*') for a period with fewer than {n} supporters "
            f"on shift, and rounded to the nearest {self.round_to} hours.",
            "Only whole weeks that have ended are reported (a month is the weeks whose "
            "Thursday falls in it); no free text, ids, names or times finer than a week.",
        ]


@dataclass
class Cell:
    """One figure before release: its true value and the people it counts."""

    value: float
    people: int
    state: str = SHOWN

    @property
    def withheld(self) -> bool:
        return self.state != SHOWN


@dataclass
class Grid:
    """Figures keyed by anything hashable, and the groups of them that add up to a total."""

    cells: dict[Hashable, Cell] = field(default_factory=dict)
    # (members, total): the members' true values add up to the total's.
    groups: list[tuple[list[Hashable], Hashable]] = field(default_factory=list)

    def add(self, key: Hashable, value: float, people: int | None = None) -> None:
        self.cells[key] = Cell(value=value, people=int(value) if people is None else people)

    def group(self, members: Iterable[Hashable], total: Hashable) -> None:
        self.groups.append((list(members), total))


def control(grid: Grid, rules: Rules, *, audit: bool = True) -> Grid:
    """Mark every cell of `grid` shown, primary-suppressed or secondary-suppressed.

    The rules of thumb first; then, with `audit`, an adversary's check of each connected part
    of the grid (see `exposure`): while some withheld figure is narrowed to a single value,
    withhold more beside it; if that cannot settle it, every figure of that part is withheld
    (`WHOLE`).
    """
    for cell in grid.cells.values():
        cell.state = PRIMARY if 0 < cell.people < rules.suppress_below else SHOWN
    _settle_groups(grid, grid.groups, rules)
    if not audit:
        return grid
    for keys, groups in _components(grid):
        if not _audit(grid, keys, groups, rules):
            # Nothing left to withhold beside it (the zeros shown around a few small figures
            # can give them away): withhold the whole part, zeros too.
            for key in keys:
                grid.cells[key].state = WHOLE
    return grid


def _audit(grid: Grid, keys: list, groups: list, rules: Rules) -> bool:
    """Withhold more in one part of the grid until no withheld figure there is pinned to a
    single value; False when that cannot be done."""
    for _ in range(AUDIT_ROUNDS):
        ranges = exposure(grid, keys, groups, rules)
        pinned = [k for k in keys if grid.cells[k].withheld and ranges[k][1] <= ranges[k][0]]
        if not pinned:
            return True
        if not any(_protect(grid, groups, key) for key in pinned):
            return False
        _settle_groups(grid, groups, rules)
    return False


def _settle_groups(grid: Grid, groups: list, rules: Rules) -> None:
    changed = True
    while changed:
        changed = False
        for members, total in groups:
            if grid.cells[total].withheld:
                continue
            if _exposed(grid, members, rules):
                changed = True
                _withhold_one_more(grid, members, total)


def _protect(grid: Grid, groups: list, key: Hashable) -> bool:
    """Withhold one more figure in a group that `key` is part of: the smallest shown member,
    or else the group's total. False when every such figure is withheld already."""
    for members, total in groups:
        if key not in members and key != total:
            continue
        if any(not grid.cells[m].withheld and grid.cells[m].people > 0 for m in members):
            _withhold_one_more(grid, members, total)
            return True
        if not grid.cells[total].withheld and grid.cells[total].people > 0:
            grid.cells[total].state = SECONDARY
            return True
    return False


def _exposed(grid: Grid, members: list[Hashable], rules: Rules) -> bool:
    withheld = [grid.cells[key] for key in members if grid.cells[key].withheld]
    if not withheld:
        return False
    return len(withheld) < 2 or sum(c.people for c in withheld) < rules.suppress_below


def _withhold_one_more(grid: Grid, members: list[Hashable], total: Hashable) -> None:
    candidates = [
        key for key in members if not grid.cells[key].withheld and grid.cells[key].people > 0
    ]
    if candidates:
        key = min(candidates, key=lambda k: (grid.cells[k].people, str(k)))
        grid.cells[key].state = SECONDARY
    else:
        grid.cells[total].state = SECONDARY


def round_to(value: float, base: int) -> int:
    """Round half up to the nearest `base` (0 stays 0)."""
    if base <= 1:
        return int(value + 0.5)
    return int((value + base / 2) // base) * base


def released(cell: Cell, rules: Rules, *, unit: str = "count") -> dict:
    """What leaves the server for one figure: a rounded value, or none and a marker."""
    if cell.state == PRIMARY and unit == "count":
        return {"value": None, "shown": f"<{rules.suppress_below}", "withheld": PRIMARY}
    if cell.withheld:
        return {"value": None, "shown": "*", "withheld": cell.state}
    value = round_to(cell.value, rules.round_to)
    return {"value": value, "shown": str(value), "withheld": None}


def released_minutes(seconds: float | None, group_size: int, rules: Rules) -> dict:
    """A percentile of times, in minutes, when its group is large enough."""
    if not group_size or seconds is None:
        return {"value": None, "shown": "none", "withheld": None}
    if group_size < rules.percentile_min_group:
        return {"value": None, "shown": "too few", "withheld": "small_group"}
    # Whole milliseconds first: SQLite's julianday arithmetic is off by microseconds.
    minutes = round(max(seconds, 0.0), 3) / 60
    value = round_to(minutes * 10, 1) / 10 if minutes < 10 else float(round_to(minutes, 1))
    return {"value": value, "shown": f"{value:g}", "withheld": None}


# The adversary ------------------------------------------------------------------------------


def known_range(cell: Cell, rules: Rules) -> tuple[float, float]:
    """What the released form of `cell` tells anyone about its true value (low, high).

    The rules are public, so a "*" is known to hide a figure that was not small, unless its
    whole part of the grid is withheld (then it could be anything, zero included).
    """
    threshold, base = rules.suppress_below, max(rules.round_to, 1)
    if cell.state == PRIMARY:
        return 1, threshold - 1
    if cell.state == WHOLE:
        return 0, math.inf
    if cell.withheld:
        return threshold, math.inf
    shown = round_to(cell.value, base)
    if shown == 0:
        return 0, 0
    low = math.ceil(shown - base / 2)
    high = math.ceil(shown + base / 2) - 1
    return max(low, threshold), high


def exposure(grid: Grid, keys: list, groups: list, rules: Rules) -> dict:
    """The least and greatest whole value each figure of one part of the grid can take, given
    what every figure's released form says and that each group adds up to its total.

    Bounds propagation to a fixed point: cheap, and never narrower than the truth allows (an
    exact integer programme in tests/test_metrics.py checks it does not miss an exposure).
    """
    ranges = {key: list(known_range(grid.cells[key], rules)) for key in keys}
    for _ in range(100):
        changed = False
        for members, total in groups:
            low_sum = sum(ranges[m][0] for m in members)
            high_sum = sum(ranges[m][1] for m in members)
            t = ranges[total]
            if low_sum > t[0] or high_sum < t[1]:
                t[0], t[1] = max(t[0], low_sum), min(t[1], high_sum)
                changed = True
            for member in members:
                r = ranges[member]
                low = t[0] - (high_sum - r[1])
                high = t[1] - (low_sum - r[0])
                if low > r[0] or high < r[1]:
                    r[0], r[1] = max(r[0], low), min(r[1], high)
                    changed = True
        if not changed:
            break
    return {key: (low, high) for key, (low, high) in ranges.items()}


def _components(grid: Grid) -> list[tuple[list[Hashable], list[tuple[list, Hashable]]]]:
    """The grid split into parts that share no group (connected by the groups)."""
    parent = {key: key for key in grid.cells}

    def root(key):
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for members, total in grid.groups:
        for member in members:
            parent[root(member)] = root(total)
    parts: dict[Hashable, tuple[list, list]] = {}
    for key in grid.cells:
        parts.setdefault(root(key), ([], []))[0].append(key)
    for members, total in grid.groups:
        parts[root(total)][1].append((members, total))
    return list(parts.values())
