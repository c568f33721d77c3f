"""The evaluators' figures as CSV and JSON files, with the definitions and the disclosure rules
written into each file, so a figure never travels without what it means and how it was
protected.
"""

import csv
import io
import json

FORMAT_VERSION = 1
CSV_COLUMNS = (
    "measure",
    "measure_title",
    "breakdown",
    "column",
    "column_label",
    "period",
    "first_day",
    "last_day",
    "value",
    "shown",
    "unit",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str | int | float:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def report_filename(report: dict, extension: str) -> str:
    periods = report["periods"]
    span = f"{periods[0]['key']}_to_{periods[-1]['key']}" if periods else "empty"
    return f"peerchat-figures-{report['period']}-{span}.{extension}"


def report_csv(report: dict) -> str:
    """One row per figure, after a preamble of '#' rows: the rules, then each definition."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    periods = report["periods"]
    writer.writerow([f"# {report['title']}"])
    if periods:
        writer.writerow(
            [
                f"# {len(periods)} complete {report['period']}s, from {periods[0]['first_day']} "
                f"to {periods[-1]['last_day']}"
            ]
        )
    writer.writerow(["# Disclosure control:"])
    for line in report["rules"]["text"]:
        writer.writerow([_cell(f"#   {line}")])
    writer.writerow(["# Definitions:"])
    for measure in report["measures"]:
        writer.writerow([_cell(f"#   {measure['key']}: {measure['definition']}")])
    writer.writerow([])
    writer.writerow(CSV_COLUMNS)
    by_key = {p["key"]: p for p in periods}
    for measure in report["measures"]:
        labels = {c["key"]: c["label"] for c in measure["columns"]}
        for row in measure["rows"]:
            period = by_key[row["period"]]
            for column, figure in row["cells"].items():
                writer.writerow(
                    [
                        _cell(v)
                        for v in (
                            measure["key"],
                            measure["title"],
                            measure["breakdown"] or "",
                            column,
                            labels[column],
                            period["key"],
                            period["first_day"],
                            period["last_day"],
                            figure["value"],
                            figure["shown"],
                            measure["unit"],
                        )
                    ]
                )
    return out.getvalue()


def report_json(report: dict) -> str:
    return json.dumps({"format_version": FORMAT_VERSION, **report}, indent=1, ensure_ascii=False)
