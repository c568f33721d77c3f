"""The supporter's page and where signing in lands each role."""

import re

import pytest
from django.test import Client

from peerchat.models import User
from peerchat.services.users import staff_user_upsert

PASSWORD = "a-long-test-password"


def staff(username: str, role: str, handle: str) -> User:
    return staff_user_upsert(username=username, role=role, password=PASSWORD, handle=handle)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_a_supporter_gets_their_page(supporter):
    response = signed_in(supporter).get("/staff/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="staff"' in html and 'data-handle="Alex"' in html
    assert "Your shift" in html and "Queue" in html and "Your chats" in html
    # The shared chat client (with the moderators' notes), then the page's own script.
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert [s.rsplit("/", 1)[-1] for s in scripts][-4:] == [
        "connection.js",
        "roompane.js",
        "whispers.js",
        "staff.js",
    ]
    assert "peerchat/staff.css" in html
    # A new chat is announced at once to screen readers; other news politely.
    assert 'aria-live="assertive"' in html and 'aria-live="polite"' in html
    # Staff pages are never cached (they show who is in which chat).
    assert "no-store" in response.headers["Cache-Control"]
    assert "csrftoken" in response.cookies


@pytest.mark.django_db
def test_strangers_are_asked_to_sign_in_and_come_back():
    response = Client().get("/staff/")
    assert (response.status_code, response.headers["Location"]) == (
        302,
        "/accounts/login/?next=/staff/",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "handle"),
    [("moderator", "Kai"), ("evaluator", "Lee"), ("admin", "Admin")],
)
def test_other_staff_are_sent_to_the_chat_page(role, handle):
    user = staff(f"user-{role}", role, handle)
    response = signed_in(user).get("/staff/")
    assert (response.status_code, response.headers["Location"]) == (302, "/chat/")


@pytest.mark.django_db
def test_seekers_are_sent_to_the_chat_page(seeker):
    response = signed_in(seeker).get("/staff/")
    assert (response.status_code, response.headers["Location"]) == (302, "/chat/")


@pytest.mark.django_db
def test_after_sign_in_sends_each_role_to_its_page(supporter, seeker):
    assert signed_in(supporter).get("/after-sign-in/").headers["Location"] == "/staff/"
    assert signed_in(seeker).get("/after-sign-in/").headers["Location"] == "/support/"
    kai = staff("user-moderator", "moderator", "Kai")
    assert signed_in(kai).get("/after-sign-in/").headers["Location"] == "/moderation/"
    lee = staff("user-evaluator", "evaluator", "Lee")
    assert signed_in(lee).get("/after-sign-in/").headers["Location"] == "/evaluation/"
    admin = staff("user-admin", "admin", "Admin")
    assert signed_in(admin).get("/after-sign-in/").headers["Location"] == "/chat/"
    assert Client().get("/after-sign-in/").headers["Location"] == "/accounts/login/"


@pytest.mark.django_db
def test_the_login_form_lands_a_supporter_on_their_page(supporter):
    client = Client()
    response = client.post("/accounts/login/", {"username": "alex", "password": PASSWORD})
    assert (response.status_code, response.headers["Location"]) == (302, "/after-sign-in/")
    response = client.get(response.headers["Location"])
    assert (response.status_code, response.headers["Location"]) == (302, "/staff/")
    assert client.get("/staff/").status_code == 200
    # An explicit ?next= still wins.
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "alex", "password": PASSWORD, "next": "/chat/"}
    )
    assert response.headers["Location"] == "/chat/"


@pytest.mark.django_db
def test_the_page_has_no_inline_scripts_or_styles(supporter):
    response = signed_in(supporter).get("/staff/")
    html = response.content.decode()
    # Every script comes from a file of this site; no inline code, handlers or styles.
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert re.search(r'\ssrc="/static/', tag), tag
    bodies = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S)
    assert bodies and all(not body.strip() for body in bodies)
    assert "<style" not in html
    assert re.search(r"\sstyle=", html) is None
    assert re.search(r"\son[a-z]+=", html) is None
    assert "javascript:" not in html
    for tag in re.findall(r"<link\b[^>]*>", html):
        assert 'href="/static/' in tag or 'href="data:,"' in tag, tag
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp


@pytest.mark.django_db
def test_the_page_passes_times_topics_and_capacity_as_data(supporter):
    html = signed_in(supporter).get("/staff/").content.decode()
    assert 'data-time-zone="Europe/London"' in html
    assert 'data-capacity="2"' in html
    assert "How I&#x27;m feeling" in html or "How I\\u0027m feeling" in html
