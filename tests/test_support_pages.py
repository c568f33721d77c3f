"""The seeker's support page: who gets it, who is sent elsewhere, and the safety it carries."""

import re

import pytest
from django.test import Client

from peerchat.models import User
from peerchat.services.users import seeker_create, staff_user_upsert

pytestmark = pytest.mark.django_db


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def staff(role: str, username: str) -> User:
    return staff_user_upsert(
        username=username,
        role=role,
        password="a-long-test-password",
        handle=username.title(),
        supporter_level="peer" if role == User.Role.SUPPORTER else "",
    )


def assert_no_inline_code(html: str) -> None:
    """The CSP allows only this site's files: no inline script, style or handler."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_strangers_get_the_start_screen():
    response = client_for(None).get("/support/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="view-start"' in html and ">Talk to someone</button>" in html
    # The start view is the one shown; the others wait for the script.
    assert re.search(r'id="view-start"[^>]*aria-labelledby="start-heading">', html)
    assert re.search(r'id="view-agreement"[^>]*\shidden', html)
    assert 'data-signed-in="false"' in html
    assert "csrftoken" in response.cookies
    assert response.headers["Cache-Control"].startswith("max-age=0")
    assert_no_inline_code(html)


def test_a_seeker_gets_the_page_with_their_handle_and_the_seeker_links():
    seeker = seeker_create()
    response = client_for(seeker).get("/support/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-signed-in="true"' in html
    assert f'data-handle="{seeker.handle}"' in html and 'data-role="seeker"' in html
    assert re.search(r'id="view-start"[^>]*\shidden', html)
    nav = re.search(r'<nav class="account site-nav" aria-label="Site">(.*?)</nav>', html, re.S)
    assert nav, "the site navigation"
    links = re.findall(r'<a href="([^"]+)"[^>]*>(?:<strong>)?([^<]+)', nav.group(1))
    assert links == [
        ("/support/", "My chat"),
        ("/groups/", "Groups"),
        ("/safety-plan/", "Safety plan"),
        ("/my-data/", "My data"),
    ]
    assert '<a href="/support/" aria-current="page">' in nav.group(1)
    # Safety on the page itself: the quick exit and the crisis resources.
    assert "data-quick-exit" in html
    assert "tel:116123" in html and 'id="urgent-help"' in html
    assert_no_inline_code(html)


def test_a_supporter_is_sent_to_their_shift_page():
    response = client_for(staff(User.Role.SUPPORTER, "alex")).get("/support/")
    assert (response.status_code, response.headers["Location"]) == (302, "/staff/")


@pytest.mark.parametrize("role", [User.Role.MODERATOR, User.Role.EVALUATOR, User.Role.ADMIN])
def test_other_staff_are_sent_to_the_conversations(role):
    response = client_for(staff(role, f"someone-{role}")).get("/support/")
    assert (response.status_code, response.headers["Location"]) == (302, "/chat/")


def test_without_script_the_start_form_signs_in_a_seeker_here():
    client = Client(enforce_csrf_checks=True)
    client.get("/support/")
    before = User.objects.filter(role=User.Role.SEEKER).count()
    response = client.post("/support/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert (response.status_code, response.headers["Location"]) == (302, "/support/")
    assert User.objects.filter(role=User.Role.SEEKER).count() == before + 1
    assert client.get("/api/v1/me").json()["role"] == "seeker"
    # Posting again (a double tap, a reload) makes no second account.
    again = client.post("/support/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert again.status_code == 302
    assert User.objects.filter(role=User.Role.SEEKER).count() == before + 1


def test_the_start_form_needs_the_csrf_token():
    response = Client(enforce_csrf_checks=True).post("/support/")
    assert response.status_code == 403
    assert not User.objects.filter(role=User.Role.SEEKER).exists()


def test_home_page_leads_into_support():
    html = client_for(None).get("/").content.decode()
    assert re.search(r'<form id="start-form" method="post" action="/support/"', html)
    assert 'data-api="/api/v1/seekers"' in html and 'data-next="/support/"' in html
    seeker_home = client_for(seeker_create()).get("/").content.decode()
    assert '<a class="button" href="/support/">Go to my chat</a>' in seeker_home
    supporter_home = client_for(staff(User.Role.SUPPORTER, "sam")).get("/").content.decode()
    assert '<a class="button" href="/staff/">Go to my shift</a>' in supporter_home


def test_staff_see_their_own_links():
    supporter_page = client_for(staff(User.Role.SUPPORTER, "robin")).get("/").content.decode()
    nav = re.search(r'aria-label="Site">(.*?)</nav>', supporter_page, re.S).group(1)
    assert re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)', nav) == [
        ("/staff/", "My shift"),
        ("/staff/schedule/", "My schedule"),
        ("/chat/", "Conversations"),
    ]
    moderator_page = client_for(staff(User.Role.MODERATOR, "kai")).get("/").content.decode()
    nav = re.search(r'aria-label="Site">(.*?)</nav>', moderator_page, re.S).group(1)
    assert re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)', nav) == [
        ("/moderation/", "Review"),
        ("/chat/", "Conversations"),
        ("/supervision/", "Supervision"),
    ]
    # Strangers get no site links, only the way in for staff.
    assert 'aria-label="Site"' not in client_for(None).get("/").content.decode()
