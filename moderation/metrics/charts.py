"""Charts of the released figures as SVG geometry, drawn by the page's template.

No third-party script and no request elsewhere: the server works out every bar and line from
the figures already released (never from the true values), and the template writes them as
inline SVG styled by the page's own stylesheet.
"""

import math
from dataclasses import dataclass, field

from moderation.metrics.measures import ALL

WIDTH = 560
HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 40, 26, 14, 30
MAX_X_LABELS = 6
SERIES_CLASSES = 8


@dataclass
class Chart:
    kind: str  # "bar" or "line"
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)
    points: list[dict] = field(default_factory=list)
    marks: list[dict] = field(default_factory=list)  # "*" above a bar with a withheld part
    y_ticks: list[dict] = field(default_factory=list)
    x_labels: list[dict] = field(default_factory=list)
    legend: list[dict] = field(default_factory=list)
    plot: dict = field(default_factory=dict)
    # Nothing drawn because every figure there is is withheld (too few people).
    all_withheld: bool = False


def _nice_top(value: float) -> tuple[float, float]:
    """A round top for the y axis and the step between its four ticks."""
    if value <= 0:
        return 4.0, 1.0
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step * 4, step


def _frame(chart: Chart, top_value: float, periods: list[dict]) -> tuple:
    top, step = _nice_top(top_value)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    chart.plot = {"x": LEFT, "y": TOP, "w": plot_w, "h": plot_h, "bottom": TOP + plot_h}
    for i in range(5):
        value = step * i
        y = TOP + plot_h - plot_h * value / top
        chart.y_ticks.append({"y": round(y, 1), "label": f"{value:g}"})
    band = plot_w / max(len(periods), 1)
    every = max(1, math.ceil(len(periods) / MAX_X_LABELS))
    for i, period in enumerate(periods):
        if i % every == 0:
            chart.x_labels.append(
                {"x": round(LEFT + band * (i + 0.5), 1), "label": period["short_label"]}
            )
    return top, band, plot_h


def _y(value: float, top: float, plot_h: float) -> float:
    return round(TOP + plot_h - plot_h * value / top, 1)


def chart_for(measure: dict, periods: list[dict]) -> Chart:
    chart = (_line_chart if measure["kind"] == "times" else _bar_chart)(measure, periods)
    cells = [cell for row in measure["rows"] for cell in row["cells"].values()]
    chart.all_withheld = not (chart.bars or chart.points) and any(c["withheld"] for c in cells)
    return chart


def _bar_chart(measure: dict, periods: list[dict]) -> Chart:
    columns = [c for c in measure["columns"] if c["key"] != ALL] or measure["columns"]
    chart = Chart(
        kind="bar",
        description=(
            f"Stacked bars of {measure['title'].lower()} per period, by "
            f"{(measure['breakdown'] or 'total').lower()}; the table below has every figure."
        ),
    )
    labels = {p["key"]: p["label"] for p in periods}
    stacks = []
    for row in measure["rows"]:
        values = [row["cells"][c["key"]]["value"] or 0 for c in columns]
        withheld = any(row["cells"][c["key"]]["withheld"] for c in columns)
        stacks.append((row, values, withheld))
    top, band, plot_h = _frame(chart, max((sum(v) for _, v, _ in stacks), default=0), periods)
    bar_w = round(band * 0.72, 1)
    for i, (row, values, withheld) in enumerate(stacks):
        x = round(LEFT + band * i + (band - bar_w) / 2, 1)
        base = 0.0
        for series, (column, value) in enumerate(zip(columns, values, strict=True)):
            if value <= 0:
                continue
            y_top, y_base = _y(base + value, top, plot_h), _y(base, top, plot_h)
            chart.bars.append(
                {
                    "x": x,
                    "y": y_top,
                    "w": bar_w,
                    "h": round(y_base - y_top, 1),
                    "series": series % SERIES_CLASSES,
                    "title": f"{labels[row['period']]}: {column['label']} "
                    f"{row['cells'][column['key']]['shown']}",
                }
            )
            base += value
        if withheld:
            chart.marks.append({"x": round(x + bar_w / 2, 1), "y": _y(base, top, plot_h) - 3})
    if len(columns) > 1:
        chart.legend = [
            {"label": c["label"], "series": i % SERIES_CLASSES} for i, c in enumerate(columns)
        ]
    return chart


def _line_chart(measure: dict, periods: list[dict]) -> Chart:
    chart = Chart(
        kind="line",
        description=(
            f"Lines of the median and 90th percentile {measure['title'].lower()} in minutes "
            "per period; gaps where too few to show. The table below has every figure."
        ),
    )
    labels = {p["key"]: p["label"] for p in periods}
    values = [
        cell["value"] for row in measure["rows"] for cell in row["cells"].values() if cell["value"]
    ]
    top, band, plot_h = _frame(chart, max(values, default=0), periods)
    for series, column in enumerate(measure["columns"]):
        runs, run = [], []
        for i, row in enumerate(measure["rows"]):
            cell = row["cells"][column["key"]]
            if cell["value"] is None:
                if run:
                    runs.append(run)
                run = []
                continue
            x, y = round(LEFT + band * (i + 0.5), 1), _y(cell["value"], top, plot_h)
            run.append(f"{x},{y}")
            chart.points.append(
                {
                    "x": x,
                    "y": y,
                    "series": series,
                    "title": f"{labels[row['period']]}: {column['label']} {cell['shown']} min",
                }
            )
        if run:
            runs.append(run)
        chart.lines.extend({"points": " ".join(r), "series": series} for r in runs)
        chart.legend.append({"label": column["label"], "series": series})
    return chart
