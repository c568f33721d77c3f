"""The evaluators' page and its CSV and JSON exports (evaluators and admins only).

Plain server-rendered HTML with the charts drawn as inline SVG: no script is needed to read it.
"""

from datetime import date
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path, re_path, reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from moderation.metrics.charts import chart_for
from moderation.metrics.export import report_csv, report_filename, report_json
from moderation.metrics.periods import MONTH, WEEK
from moderation.metrics.report import DEFAULT_COUNT, metrics_report
from moderation.metrics.services import metrics_export_record
from peerchat.models import User

READERS = (User.Role.EVALUATOR, User.Role.ADMIN)
# What the page offers: (period, counts of periods, label of each).
RANGES = {
    WEEK: (
        (12, "Last 12 weeks"),
        (26, "Last 26 weeks"),
        (52, "Last 52 weeks"),
        (104, "Last 2 years"),
    ),
    MONTH: (
        (3, "Last 3 months"),
        (6, "Last 6 months"),
        (12, "Last 12 months"),
        (24, "Last 2 years"),
    ),
}


def readers_only(view):
    """Evaluators and admins; anyone else signed in is refused, strangers sign in first."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.user.role not in READERS:
            raise PermissionDenied("Figures are for evaluators and admins.")
        return view(request, *args, **kwargs)

    return wrapped


def _choice(request) -> tuple[str, int]:
    """The period and range asked for, or the defaults when they are not ones we offer."""
    period = request.GET.get("period")
    period = period if period in RANGES else WEEK
    offered = [count for count, _ in RANGES[period]]
    try:
        count = int(request.GET.get("count", ""))
    except ValueError:
        count = DEFAULT_COUNT[period]
    return period, count if count in offered else DEFAULT_COUNT[period]


def _sections(report: dict) -> list[dict]:
    sections: list[dict] = []
    labels = {p["key"]: p["label"] for p in report["periods"]}
    for measure in report["measures"]:
        if not sections or sections[-1]["title"] != measure["section"]:
            sections.append({"title": measure["section"], "measures": []})
        sections[-1]["measures"].append(
            {
                **measure,
                "chart": chart_for(measure, report["periods"]),
                "table": [
                    {
                        "label": labels[row["period"]],
                        "cells": [row["cells"][c["key"]] for c in measure["columns"]],
                    }
                    for row in measure["rows"]
                ],
            }
        )
    return sections


@require_safe
@never_cache
@readers_only
def evaluation_page(request):
    period, count = _choice(request)
    report = metrics_report(period=period, count=count)
    query = urlencode({"period": period, "count": count})
    context = {
        "report": report,
        "sections": _sections(report),
        "period": period,
        "count": count,
        "ranges": RANGES,
        "span": (
            date.fromisoformat(report["periods"][0]["first_day"]),
            date.fromisoformat(report["periods"][-1]["last_day"]),
        ),
        "csv_url": f"{reverse('evaluation-export', args=['csv'])}?{query}",
        "json_url": f"{reverse('evaluation-export', args=['json'])}?{query}",
    }
    return render(request, "moderation/evaluation.html", context)


@require_safe
@never_cache
@readers_only
def evaluation_export(request, file_format: str):
    period, count = _choice(request)
    report = metrics_report(period=period, count=count)
    metrics_export_record(user=request.user, report=report, file_format=file_format)
    if file_format == "csv":
        # A byte-order mark so spreadsheets read the file as UTF-8.
        body, content_type = "\ufeff" + report_csv(report), "text/csv; charset=utf-8"
    else:
        body, content_type = report_json(report), "application/json"
    response = HttpResponse(body, content_type=content_type)
    filename = report_filename(report, file_format)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


urlpatterns = [
    path("evaluation/", evaluation_page, name="evaluation"),
    re_path(
        r"^evaluation/export\.(?P<file_format>csv|json)$",
        evaluation_export,
        name="evaluation-export",
    ),
]
