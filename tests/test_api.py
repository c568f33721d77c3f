"""The HTTP side: seekers, rooms, paging, tickets, health, pages and the demo command."""

import uuid
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from peerchat.models import Membership, Room, User
from peerchat.services.messages import message_send
from tests.conftest import make_group_room

pytestmark = pytest.mark.django_db


def csrf_client() -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    response = client.get("/api/v1/me")
    assert response.json() == {"authenticated": False}
    return client, client.cookies["csrftoken"].value


def fill(room, user, count):
    for n in range(count):
        message_send(room_id=room.pk, sender=user, client_msg_id=uuid.uuid4(), body=f"m{n + 1}")


# Seekers ------------------------------------------------------------------------------------------


def test_a_seeker_starts_with_no_name_or_email_and_is_signed_in():
    client, token = csrf_client()
    response = client.post("/api/v1/seekers", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"handle", "role"}
    assert body["role"] == "seeker"
    me = client.get("/api/v1/me").json()
    assert me == {"authenticated": True, "handle": body["handle"], "role": "seeker"}
    seeker = User.objects.get(handle=body["handle"])
    assert (seeker.email, seeker.first_name) == ("", "")


def test_starting_as_a_seeker_needs_the_csrf_token():
    client, _ = csrf_client()
    response = client.post("/api/v1/seekers")
    assert (response.status_code, response.json()["error"]) == (403, "csrf_failed")
    assert User.objects.count() == 0


def test_starting_again_keeps_the_same_seeker():
    client, token = csrf_client()
    first = client.post("/api/v1/seekers", HTTP_X_CSRFTOKEN=token).json()
    token = client.cookies["csrftoken"].value  # rotated at login
    again = client.post("/api/v1/seekers", HTTP_X_CSRFTOKEN=token)
    assert (again.status_code, again.json()) == (200, first)
    assert User.objects.filter(role="seeker").count() == 1


def test_staff_cannot_turn_into_a_seeker(supporter):
    client = Client()
    client.force_login(supporter)
    response = client.post("/api/v1/seekers")
    assert (response.status_code, response.json()["error"]) == (409, "already_signed_in")


def test_seekers_only_accepts_post():
    assert Client().get("/api/v1/seekers").status_code == 405


# Rooms and paging ---------------------------------------------------------------------------------


def test_rooms_lists_my_rooms(supporter, room):
    client = Client()
    client.force_login(supporter)
    rooms = client.get("/api/v1/rooms").json()["rooms"]
    assert [(r["id"], r["name"], r["role"]) for r in rooms] == [(room.pk, "Room A", "supporter")]


def test_api_needs_sign_in(room):
    client = Client()
    for url in ("/api/v1/rooms", f"/api/v1/rooms/{room.pk}/messages"):
        response = client.get(url)
        assert (response.status_code, response.json()["error"]) == (401, "not_authenticated")


def test_messages_page_forward_with_after_and_limit(supporter, room):
    fill(room, supporter, 5)
    client = Client()
    client.force_login(supporter)
    page = client.get(f"/api/v1/rooms/{room.pk}/messages?after=1&limit=2").json()
    assert [m["seq"] for m in page["messages"]] == [2, 3]
    assert (page["has_more"], page["next_after"]) == (True, 3)
    assert page["messages"][0]["type"] == "message"
    assert page["messages"][0]["sender"] == {"handle": "Alex", "role": "supporter"}
    page = client.get(f"/api/v1/rooms/{room.pk}/messages?after=3&limit=2").json()
    assert ([m["body"] for m in page["messages"]], page["has_more"]) == (["m4", "m5"], False)
    page = client.get(f"/api/v1/rooms/{room.pk}/messages?after=5").json()
    assert (page["messages"], page["has_more"], page["next_after"]) == ([], False, 5)


@pytest.mark.parametrize("query", ["after=x", "after=-1", "limit=0", "limit=100000", "limit=2.5"])
def test_messages_rejects_bad_paging(supporter, room, query):
    client = Client()
    client.force_login(supporter)
    response = client.get(f"/api/v1/rooms/{room.pk}/messages?{query}")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_field")


def test_another_rooms_messages_look_like_no_room_at_all(supporter, other_supporter):
    private = make_group_room(other_supporter, name="B")
    fill(private, other_supporter, 2)
    client = Client()
    client.force_login(supporter)
    not_mine = client.get(f"/api/v1/rooms/{private.pk}/messages")
    missing = client.get("/api/v1/rooms/999999/messages")
    assert not_mine.status_code == missing.status_code == 404
    assert not_mine.json() == missing.json()
    assert b"m1" not in not_mine.content


# Tickets, health, pages ---------------------------------------------------------------------------


def test_ws_tickets_need_sign_in_and_csrf(supporter):
    client, token = csrf_client()
    assert client.post("/api/v1/ws-tickets", HTTP_X_CSRFTOKEN=token).status_code == 401
    client.force_login(supporter)
    refused = client.post("/api/v1/ws-tickets")
    assert (refused.status_code, refused.json()["error"]) == (403, "csrf_failed")
    response = client.post("/api/v1/ws-tickets", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert response.status_code == 201
    assert response.json()["expires_in"] == 60
    assert response.json()["ticket"]


async def test_healthz_reports_database_and_channel_layer(async_client):
    response = await async_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}


async def test_healthz_says_which_part_is_failing(async_client, monkeypatch):
    from peerchat.views import accounts as views

    async def broken():
        raise ConnectionError("redis down")

    monkeypatch.setattr(views, "_channel_layer_ok", broken)
    response = await async_client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "failing",
        "database": "ok",
        "channel_layer": "failing: ConnectionError",
    }


def test_home_page_has_crisis_resources_quick_exit_and_a_strict_csp():
    response = Client().get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Samaritans" in html and "tel:116123" in html
    assert "data-quick-exit" in html
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert "<script>" not in html  # no inline scripts


def test_chat_page_sends_strangers_home_where_both_ways_in_are(supporter):
    response = Client().get("/chat/")
    assert (response.status_code, response.headers["Location"]) == (302, "/")
    client = Client()
    client.force_login(supporter)
    assert client.get("/chat/").status_code == 200


def test_staff_sign_in_with_the_standard_login(supporter):
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "alex", "password": "a-long-test-password"}
    )
    # Signing in lands each role on its own page (a supporter's is /staff/).
    assert (response.status_code, response.headers["Location"]) == (302, "/after-sign-in/")
    assert client.get("/after-sign-in/").headers["Location"] == "/staff/"
    assert client.get("/api/v1/me").json()["handle"] == "Alex"


def test_wrong_password_is_answered_kindly(supporter):
    response = Client().post("/accounts/login/", {"username": "alex", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


# The demo command ---------------------------------------------------------------------------------


def test_seed_demo_creates_accounts_and_a_group_room_and_prints_them(capsys):
    call_command("seed_demo", "--password", "demo-pass-123")
    out = capsys.readouterr().out
    for username in ("supporter1", "supporter2", "moderator", "evaluator", "admin"):
        assert username in out
        assert User.objects.get(username=username).check_password("demo-pass-123")
    assert "demo-pass-123" in out
    roles = dict(User.objects.values_list("username", "role"))
    assert roles["supporter1"] == roles["supporter2"] == "supporter"
    assert (roles["moderator"], roles["evaluator"], roles["admin"]) == (
        "moderator",
        "evaluator",
        "admin",
    )
    assert User.objects.get(username="admin").is_superuser
    room = Room.objects.get(name="Demo group room")
    assert room.kind == "group"
    members = set(room.memberships.values_list("user__username", "role"))
    assert {("supporter1", "supporter"), ("supporter2", "supporter")} <= members
    assert not Membership.objects.filter(user__username="evaluator").exists()


def test_seed_demo_can_run_twice(capsys):
    call_command("seed_demo", "--password", "first-pass-123")
    call_command("seed_demo", "--password", "second-pass-456")
    assert Room.objects.filter(name="Demo group room").count() == 1
    assert User.objects.get(username="supporter1").check_password("second-pass-456")


def test_removing_a_member_in_the_admin_goes_through_the_service(
    django_capture_on_commit_callbacks, supporter, other_supporter, room
):
    admin = User.objects.create_superuser("root-admin", password="long-password-1", role="admin")
    admin.handle = "Root"
    admin.save()
    client = Client()
    client.force_login(admin)
    memberships = list(room.memberships.order_by("pk"))
    data = {
        "kind": "group",
        "name": "Room A",
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "2",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for index, membership in enumerate(memberships):
        data |= {
            f"memberships-{index}-id": str(membership.pk),
            f"memberships-{index}-room": str(room.pk),
            f"memberships-{index}-user": str(membership.user_id),
            f"memberships-{index}-role": membership.role,
        }
    data["memberships-1-DELETE"] = "on"
    with (
        mock.patch("peerchat.events.publish_soon") as publish,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(f"/admin/peerchat/room/{room.pk}/change/", data)
    assert response.status_code == 302
    removed = memberships[1].user_id
    assert set(room.memberships.values_list("user_id", flat=True)) == {memberships[0].user_id}
    publish.assert_called_once_with(
        "users",
        {"kind": "control", "user": removed, "action": "membership_removed", "room": room.pk},
    )


def test_create_staff_makes_a_supporter_with_a_checked_password(monkeypatch, capsys):
    monkeypatch.setenv("STAFF_PASSWORD", "a-long-new-password-42")
    call_command(
        "create_staff",
        "jo",
        "--role",
        "supporter",
        "--handle",
        "Jo",
        "--level",
        "peer",
        "--no-input",
    )
    user = User.objects.get(username="jo")
    assert (user.role, user.supporter_level, user.handle) == ("supporter", "peer", "Jo")
    assert user.check_password("a-long-new-password-42")
    monkeypatch.setenv("STAFF_PASSWORD", "123")
    with pytest.raises(CommandError):
        call_command("create_staff", "kim", "--role", "moderator", "--handle", "Kim", "--no-input")
    with pytest.raises(CommandError):
        call_command("create_staff", "lee", "--role", "supporter", "--handle", "Lee", "--no-input")
    assert not User.objects.filter(username__in=["kim", "lee"]).exists()


def test_createsuperuser_makes_an_admin_with_a_handle():
    admin = User.objects.create_superuser("boss", password="a-long-new-password-42")
    assert (admin.role, admin.handle, admin.is_superuser) == ("admin", "boss", True)
