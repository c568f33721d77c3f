"""The evaluators' page and exports: who may see them, what they contain, and what they never
contain (text, ids, handles, times finer than a week); every export audited."""

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from moderation.metrics.measures import MEASURES
from moderation.models import AuditEntry
from peerchat.models import Agreement, Feedback, HandoverNote, Message, User
from peerchat.services.users import seeker_create, staff_user_upsert
from tests.conftest import make_supporter
from tests.factories import make_request, make_session

pytestmark = pytest.mark.django_db

PAGE = "/evaluation/"
CSV_URL = "/evaluation/export.csv"
JSON_URL = "/evaluation/export.json"
SECRET_COMMENT = "zebra-private-comment-771"
SECRET_NOTE = "quokka-handover-note-552"
SECRET_BODY = "narwhal-message-body-913"


def staff(username: str, role: str) -> User:
    return staff_user_upsert(
        username=username, role=role, password="a-long-test-password", handle=f"H-{username}"
    )


def signed_in(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def activity():
    """Three weeks of sessions with feedback, notes and messages holding recognisable text."""
    agreement = Agreement.objects.filter(kind="one_to_one", published_at__isnull=False).first()
    supporter = make_supporter("pelican", handle="Pelican-Supporter")
    seeker = seeker_create()
    start = timezone.now() - timedelta(days=24)
    for day in range(21):
        for n in range(4):
            at = start + timedelta(days=day, minutes=37 * n)
            request = make_request(
                agreement, at, seeker=seeker if n == 0 else None, topic="feelings"
            )
            session = make_session(
                request, supporter, wait=timedelta(minutes=2 + n), length=timedelta(minutes=40)
            )
            Feedback.objects.create(
                session=session, listened=5, helpful=4, would_return="yes", comment=SECRET_COMMENT
            )
            HandoverNote.objects.create(
                session=session, author=supporter, kind="close", body=SECRET_NOTE
            )
            Message.objects.create(
                room=session.room,
                seq=1,
                sender=supporter,
                sender_role="supporter",
                client_msg_id=f"00000000-0000-0000-{day:04d}-{n:012d}",
                body=SECRET_BODY,
            )
    return {"supporter": supporter, "seeker": seeker}


@pytest.mark.parametrize(
    ("role", "page", "export"),
    [
        (None, 302, 302),
        ("seeker", 403, 403),
        ("supporter", 403, 403),
        ("moderator", 403, 403),
        ("evaluator", 200, 200),
        ("admin", 200, 200),
    ],
)
def test_only_evaluators_and_admins_see_the_figures(role, page, export):
    if role is None:
        user = None
    elif role == "seeker":
        user = seeker_create()
    elif role == "supporter":
        user = make_supporter()
    else:
        user = staff(f"someone-{role}", role)
    client = signed_in(user)
    response = client.get(PAGE)
    assert response.status_code == page
    if page == 302:
        assert response["Location"].startswith("/accounts/login/")
    for url in (CSV_URL, JSON_URL):
        assert client.get(url).status_code == export
    assert AuditEntry.objects.filter(action="metrics_export").count() == (2 if export == 200 else 0)


def test_evaluators_land_on_the_figures_and_see_them_in_the_nav():
    client = signed_in(staff("lee", "evaluator"))
    assert client.get("/after-sign-in/")["Location"] == PAGE
    html = client.get(PAGE).content.decode()
    assert 'href="/evaluation/" aria-current="page"><strong>Figures</strong>' in html
    moderator_page = signed_in(staff("kai", "moderator")).get("/moderation/").content.decode()
    assert 'href="/evaluation/"' not in moderator_page


def test_the_page_shows_every_measure_with_its_definition_chart_and_table(activity):
    html = signed_in(staff("lee", "evaluator")).get(PAGE, {"period": "week", "count": 12}).content
    html = html.decode()
    for measure in MEASURES:
        block = html.split(f'data-measure="{measure.key}"', 1)[1].split("</article>", 1)[0]
        assert "<svg" in block and "<table>" in block, measure.key
    # Three busy weeks of requests about feelings: 28 a week, shown rounded to 30.
    requests = html.split('data-measure="requests"', 1)[1].split("</article>", 1)[0]
    assert requests.count("<td>30</td>") >= 4  # "feelings" and "All" in at least two weeks
    assert "<rect" in requests
    waits = html.split('data-measure="queue_wait"', 1)[1].split("</article>", 1)[0]
    assert "<polyline" in waits
    # No inline script or style (the CSP would refuse them), nothing loaded from elsewhere.
    assert "<script>" not in html and " style=" not in html
    assert not re.search(r'src="(https?:)?//', html)
    assert not re.search(r'href="(https?:)?//', html.split("<main", 1)[1].split("</main>")[0])


def test_exports_carry_the_same_figures_with_definitions_and_rules(activity):
    client = signed_in(staff("lee", "evaluator"))
    page_json = json.loads(client.get(JSON_URL, {"period": "month", "count": 3}).content)
    assert page_json["format_version"] == 1 and page_json["period"] == "month"
    assert len(page_json["periods"]) == 3
    assert all(m["definition"] for m in page_json["measures"])
    assert "Counts of 1 to 4 are not shown" in page_json["rules"]["text"][0]

    response = client.get(CSV_URL, {"period": "week", "count": 12})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="peerchat-figures-week-\d{4}-W\d\d_to_\d{4}-W\d\d\.csv"',
        response["Content-Disposition"],
    )
    text = response.content.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    header_at = lines.index(next(line for line in lines if line and line[0] == "measure"))
    assert all(line[0].startswith("#") for line in lines[: header_at - 1])
    assert any("rounded to the nearest 5" in line[0] for line in lines[:header_at])
    assert any(line[0].startswith("#   requests: ") for line in lines[:header_at])
    header, rows = lines[header_at], lines[header_at + 1 :]
    assert all(len(row) == len(header) for row in rows)
    assert len(rows) == sum(12 * len(m.columns) for m in MEASURES)
    values = {(r[0], r[3], r[5]): (r[8], r[9]) for r in rows}
    json_week = json.loads(client.get(JSON_URL, {"period": "week", "count": 12}).content)
    for measure in json_week["measures"]:
        for row in measure["rows"]:
            for column, cell in row["cells"].items():
                value, shown = values[measure["key"], column, row["period"]]
                assert shown == cell["shown"]
                assert value == ("" if cell["value"] is None else str(cell["value"]))
    # Each download is in the audit log with what was taken.
    entries = list(AuditEntry.objects.filter(action="metrics_export").order_by("pk"))
    assert [e.detail["format"] for e in entries] == ["json", "csv", "json"]
    assert entries[1].detail["period"] == "week" and entries[1].detail["count"] == 12


def test_no_text_ids_handles_or_times_finer_than_a_week_reach_an_evaluator(activity):
    client = signed_in(staff("lee", "evaluator"))
    outputs = [
        client.get(PAGE, {"period": period, "count": count}).content.decode()
        for period, count in (("week", 12), ("month", 3))
    ]
    outputs += [client.get(url).content.decode("utf-8-sig") for url in (CSV_URL, JSON_URL)]
    secrets = [SECRET_COMMENT, SECRET_NOTE, SECRET_BODY, "Pelican-Supporter", "pelican"]
    secrets += [activity["seeker"].handle, activity["seeker"].username]
    for output in outputs:
        for secret in secrets:
            assert secret not in output
        # Dates only (week edges), never a time of day.
        assert not re.search(r"\d{2}:\d{2}", output.split("<main", 1)[-1])
    report = json.loads(outputs[-1])
    allowed_cell = {"value", "shown", "withheld"}
    for measure in report["measures"]:
        assert set(measure) == {
            "key",
            "section",
            "title",
            "definition",
            "kind",
            "unit",
            "breakdown",
            "columns",
            "rows",
        }
        for row in measure["rows"]:
            assert set(row) == {"period", "cells"}
            for cell in row["cells"].values():
                assert set(cell) == allowed_cell
                assert cell["value"] is None or isinstance(cell["value"], int | float)
    for period in report["periods"]:
        assert set(period) == {"key", "label", "short_label", "first_day", "last_day", "weeks"}


def test_unknown_choices_fall_back_to_the_defaults_and_writes_are_refused():
    client = signed_in(staff("lee", "evaluator"))
    response = client.get(PAGE, {"period": "day", "count": "9999"})
    assert response.status_code == 200
    assert response.context["period"] == "week" and response.context["count"] == 26
    assert client.post(PAGE).status_code == 405
    assert client.post(CSV_URL).status_code == 405
    assert client.get("/evaluation/export.xml").status_code == 404
