"""Two-factor sign-in for staff: set-up, codes, backup codes, throttling, the gate, and resets.

Codes are computed from the device's key with RFC 6238 written out independently of django-otp
(tests/otp.py, checked here against the RFC's own test vectors), so a test passes only if the
server really accepts what an authenticator app would show.
"""

import re
import time
from base64 import b32decode
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.asgi import application
from moderation.models import AuditEntry
from peerchat.errors import Forbidden
from peerchat.models import User
from peerchat.services.two_factor import (
    totp_enrolment_confirm,
    totp_enrolment_start,
    two_factor_reset,
)
from peerchat.services.users import staff_user_upsert
from peerchat.tickets import ws_ticket_issue
from tests.otp import totp
from tests.wsclient import ORIGIN

PASSWORD = "a-long-test-password"


@pytest.fixture
def two_factor_on():
    with override_settings(STAFF_TWO_FACTOR=True):
        yield


def make_staff(username: str, role: str, handle: str) -> User:
    return staff_user_upsert(
        username=username,
        role=role,
        password=PASSWORD,
        handle=handle,
        supporter_level="peer" if role == User.Role.SUPPORTER else "",
    )


# Codes -------------------------------------------------------------------------------------------


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """What the person's app shows now (or `steps_ahead` 30-second steps later)."""
    return totp(device.bin_key, time.time() + 30 * steps_ahead)


def wrong_code_for(device: TOTPDevice) -> str:
    near = {code_for(device, steps_ahead=n) for n in (-1, 0, 1, 2)}
    return next(f"{n:06d}" for n in range(123456, 10**6) if f"{n:06d}" not in near)


def test_the_tests_totp_matches_rfc_6238():
    # RFC 6238, appendix B: SHA-1, the ASCII key "12345678901234567890", 8 digits.
    key = b"12345678901234567890"
    assert totp(key, 59, digits=8) == "94287082"
    assert totp(key, 1111111109, digits=8) == "07081804"
    assert totp(key, 2000000000, digits=8) == "69279037"


# Helpers -----------------------------------------------------------------------------------------


def enrolled(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def password_only(user: User, *, next_path: str | None = None) -> tuple[Client, str]:
    """Sign in with the real login form; return the client and where it was sent."""
    client = Client()
    data = {"username": user.username, "password": PASSWORD}
    if next_path:
        data["next"] = next_path
    response = client.post("/accounts/login/", data)
    assert response.status_code == 302, response.content
    return client, response.headers["Location"]


def verified(user: User) -> Client:
    """A session that has given its code (what django_otp.login records)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or enrolled(user)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def assert_no_inline_code(html: str) -> None:
    """The strict CSP allows no inline script or style: the page must not need any."""
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert re.search(r'\ssrc="/static/', tag), tag
    bodies = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S)
    assert all(not body.strip() for body in bodies)
    assert "<style" not in html
    assert re.search(r"\sstyle=", html) is None
    assert re.search(r"\son[a-z]+=", html) is None
    assert "javascript:" not in html


def key_on_page(html: str) -> bytes:
    match = re.search(r'<code id="two-factor-key">([A-Z2-7 ]+)</code>', html)
    assert match, "the key is shown as text"
    return b32decode(match.group(1).replace(" ", ""))


def device_field(html: str) -> str:
    return re.search(r'name="device" value="(\d+)"', html).group(1)


# Setting up and signing in ---------------------------------------------------------------------


@pytest.mark.django_db
def test_first_sign_in_sets_up_the_app_shows_backup_codes_once_and_lands_on_the_page(
    two_factor_on, supporter
):
    client, location = password_only(supporter)
    assert location == "/after-sign-in/"
    response = client.get(location)
    assert response.headers["Location"] == "/accounts/two-factor/setup/?next=/after-sign-in/"

    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert_no_inline_code(html)
    assert "no-store" in page.headers["Cache-Control"]
    assert '<svg class="qr-code" role="img"' in html
    assert "otpauth://totp/peerchat%3Aalex?secret=" in html
    key = key_on_page(html)
    device = TOTPDevice.objects.get(user=supporter)
    assert (device.confirmed, device.bin_key) == (False, key)
    # The same key after a reload (someone who scanned, then reloaded, keeps a working app).
    assert key_on_page(client.get("/accounts/two-factor/setup/").content.decode()) == key
    # Nothing else opens meanwhile.
    assert client.get("/staff/").headers["Location"].startswith("/accounts/two-factor/setup/")

    response = client.post(
        "/accounts/two-factor/setup/",
        {
            "code": totp(key, time.time()),
            "device": device_field(html),
            "next": "/after-sign-in/",
        },
    )
    assert response.headers["Location"] == (
        "/accounts/two-factor/backup-codes/?next=%2Fafter-sign-in%2F"
    )
    device.refresh_from_db()
    assert device.confirmed
    codes_page = client.get(response.headers["Location"])
    codes_html = codes_page.content.decode()
    assert_no_inline_code(codes_html)
    shown = re.findall(r"<li><code>([a-z2-7]{4} [a-z2-7]{4})</code></li>", codes_html)
    stored = StaticToken.objects.filter(device__user=supporter).values_list("token", flat=True)
    assert len(shown) == 10
    assert sorted(code.replace(" ", "") for code in shown) == sorted(stored)
    assert 'href="/after-sign-in/"' in codes_html
    # Shown once: the page does not show them again.
    assert client.get("/accounts/two-factor/backup-codes/").headers["Location"] == (
        "/after-sign-in/"
    )
    assert client.get("/after-sign-in/").headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200
    assert AuditEntry.objects.filter(action="two_factor_enrolled", subject=supporter).count() == 1


@pytest.mark.django_db
def test_staff_with_an_app_give_its_code_and_go_where_they_were_going(two_factor_on, supporter):
    device = enrolled(supporter)
    client, location = password_only(supporter, next_path="/staff/schedule/")
    assert location == "/staff/schedule/"
    response = client.get(location)
    assert response.headers["Location"] == "/accounts/two-factor/?next=/staff/schedule/"
    page = client.get(response.headers["Location"])
    html = page.content.decode()
    assert_no_inline_code(html)
    assert 'autocomplete="one-time-code"' in html and 'inputmode="numeric"' in html
    assert "Use a backup code" in html
    # Spaces as some apps show the code ("123 456") are fine.
    code = code_for(device)
    response = client.post(
        "/accounts/two-factor/",
        {"code": f"{code[:3]} {code[3:]}", "next": "/staff/schedule/"},
    )
    assert response.headers["Location"] == "/staff/schedule/"
    assert client.get("/staff/schedule/").status_code == 200
    assert client.get("/api/v1/me").json()["authenticated"] is True


@pytest.mark.django_db
def test_next_leading_off_the_site_is_ignored(two_factor_on, supporter):
    device = enrolled(supporter)
    client, _ = password_only(supporter)
    response = client.post(
        "/accounts/two-factor/", {"code": code_for(device), "next": "https://evil.example/"}
    )
    assert response.headers["Location"] == "/after-sign-in/"


@pytest.mark.django_db
def test_a_wrong_code_is_refused_and_each_wrong_code_doubles_the_wait(two_factor_on, supporter):
    device = enrolled(supporter)
    client, _ = password_only(supporter)

    def give(code):
        return client.post("/accounts/two-factor/", {"code": code, "next": "/staff/"})

    def back_date(seconds):
        TOTPDevice.objects.filter(pk=device.pk).update(
            throttling_failure_timestamp=timezone.now() - timedelta(seconds=seconds)
        )

    response = give(wrong_code_for(device))
    assert response.status_code == 200
    assert "didn&#x27;t match" in response.content.decode()
    assert client.get("/staff/").status_code == 302  # still not in

    # Right after a wrong code even the right one is not checked (1 s).
    response = give(code_for(device))
    assert "Wait 1 second," in response.content.decode()
    assert client.get("/staff/").status_code == 302

    back_date(1.5)
    assert "didn&#x27;t match" in give(wrong_code_for(device)).content.decode()
    back_date(0)
    assert "Wait 2 seconds" in give(code_for(device)).content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 2

    back_date(2.5)
    assert give(code_for(device)).headers["Location"] == "/staff/"
    device.refresh_from_db()
    assert device.throttling_failure_count == 0
    assert client.get("/staff/").status_code == 200


@pytest.mark.django_db
def test_set_up_refuses_a_wrong_code_and_is_throttled_too(two_factor_on, supporter):
    client, _ = password_only(supporter)
    html = client.get("/accounts/two-factor/setup/").content.decode()
    device = TOTPDevice.objects.get(user=supporter)
    wrong = wrong_code_for(device)
    response = client.post(
        "/accounts/two-factor/setup/", {"code": wrong, "device": device_field(html)}
    )
    assert "didn&#x27;t match" in response.content.decode()
    response = client.post(
        "/accounts/two-factor/setup/", {"code": code_for(device), "device": device_field(html)}
    )
    assert "Wait 1 second," in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert not StaticDevice.objects.filter(user=supporter).exists()


@pytest.mark.django_db
def test_a_code_is_accepted_once(two_factor_on, supporter):
    device = enrolled(supporter)
    code = code_for(device)
    first, _ = password_only(supporter)
    assert first.post("/accounts/two-factor/", {"code": code}).status_code == 302
    second, _ = password_only(supporter)
    response = second.post("/accounts/two-factor/", {"code": code})
    assert response.status_code == 200
    assert second.get("/staff/").status_code == 302


@pytest.mark.django_db
def test_a_backup_code_works_once_and_is_audited(two_factor_on, supporter):
    device = totp_enrolment_start(user=supporter)
    _, codes = totp_enrolment_confirm(user=supporter, device_id=device.pk, token=code_for(device))
    client, _ = password_only(supporter)
    page = client.get("/accounts/two-factor/?backup=1&next=/staff/").content.decode()
    assert 'name="backup" value="1"' in page and 'inputmode="numeric"' not in page
    # Typed as shown on the codes page, with its space, in capitals.
    typed = f"{codes[3][:4]} {codes[3][4:]}".upper()
    response = client.post("/accounts/two-factor/", {"code": typed, "backup": "1"})
    assert response.headers["Location"] == "/after-sign-in/"
    assert client.get("/staff/").status_code == 200
    entry = AuditEntry.objects.get(action="two_factor_backup_code_used")
    assert (entry.actor, entry.subject, entry.detail) == (
        supporter,
        supporter,
        {"backup_codes_left": 9},
    )

    again, _ = password_only(supporter)
    response = again.post("/accounts/two-factor/", {"code": codes[3], "backup": "1"})
    assert "didn&#x27;t match" in response.content.decode()
    assert again.get("/staff/").status_code == 302


@pytest.mark.django_db
def test_the_password_alone_cannot_set_up_another_app(two_factor_on, supporter):
    enrolled(supporter)
    client, _ = password_only(supporter)
    assert (
        client.get("/accounts/two-factor/setup/")
        .headers["Location"]
        .startswith("/accounts/two-factor/?next=")
    )
    # Someone who knows the password makes a set-up of their own and confirms it: refused.
    theirs = totp_enrolment_start(user=supporter)
    response = client.post(
        "/accounts/two-factor/setup/", {"code": code_for(theirs), "device": str(theirs.pk)}
    )
    assert response.headers["Location"].startswith("/accounts/two-factor/?next=")
    theirs.refresh_from_db()
    assert not theirs.confirmed
    assert client.get("/staff/").status_code == 302


@pytest.mark.django_db
def test_signing_out_works_from_the_two_factor_pages(two_factor_on, supporter):
    client, _ = password_only(supporter)
    html = client.get("/accounts/two-factor/setup/").content.decode()
    assert 'action="/accounts/logout/"' in html
    response = client.post("/accounts/logout/")
    assert (response.status_code, response.headers["Location"]) == (302, "/")
    assert client.get("/staff/").headers["Location"] == "/accounts/login/?next=/staff/"


# The gate ----------------------------------------------------------------------------------------

STAFF_PAGES = [
    ("supporter", "/staff/"),
    ("supporter", "/staff/schedule/"),
    ("supporter", "/chat/"),
    ("moderator", "/moderation/"),
    ("moderator", "/supervision/"),
    ("evaluator", "/evaluation/"),
    ("evaluator", "/evaluation/export.csv"),
    ("admin", "/admin/"),
    ("admin", "/accounts/password_change/"),
    ("admin", "/"),
]
STAFF_APIS = [
    ("supporter", "get", "/api/v1/me"),
    ("supporter", "get", "/api/v1/staff/status"),
    ("supporter", "post", "/api/v1/staff/shift"),
    ("supporter", "get", "/api/v1/rooms"),
    ("supporter", "post", "/api/v1/ws-tickets"),
    ("moderator", "get", "/api/moderation/queue"),
    ("moderator", "get", "/api/moderation/escalations"),
    ("admin", "get", "/api/moderation/rooms"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "path"), STAFF_PAGES)
def test_staff_pages_wait_for_the_code(two_factor_on, role, path):
    user = make_staff(f"user-{role}", role, f"Handle {role}")
    client, _ = password_only(user)
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/accounts/two-factor/setup/?next={path}")
    enrolled(user)
    response = client.get(path)
    assert response.headers["Location"].startswith(f"/accounts/two-factor/?next={path}")
    # The same page opens once the code is given (it is the code, not the page, that stops it).
    response = verified(user).get(path)
    assert response.status_code == 200, response.headers.get("Location")


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "method", "path"), STAFF_APIS)
def test_staff_apis_answer_403_until_the_code(two_factor_on, role, method, path):
    user = make_staff(f"user-{role}", role, f"Handle {role}")
    client, _ = password_only(user)
    response = getattr(client, method)(path, content_type="application/json")
    assert response.status_code == 403
    assert response.json() == {
        "error": "two_factor_required",
        "detail": "Finish signing in: give the code from your authenticator app first.",
    }
    response = getattr(verified(user), method)(path, content_type="application/json")
    assert response.status_code != 403 or response.json()["error"] != "two_factor_required"


@pytest.mark.django_db
def test_a_form_posted_before_the_code_is_not_kept_for_afterwards(two_factor_on, supporter):
    client, _ = password_only(supporter)
    response = client.post("/staff/schedule/book", {"slot": "1"})
    assert response.headers["Location"] == "/accounts/two-factor/setup/"


@pytest.mark.django_db
def test_no_ticket_without_the_code(two_factor_on, supporter):
    with pytest.raises(Forbidden):
        ws_ticket_issue(user=supporter)
    response = verified(supporter).post("/api/v1/ws-tickets")
    assert response.status_code == 201 and response.json()["ticket"]


@pytest.mark.django_db
def test_the_health_check_and_sign_in_page_stay_open(two_factor_on, supporter):
    client, _ = password_only(supporter)
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/static/peerchat/site.css").status_code == 200


# Websockets --------------------------------------------------------------------------------------


async def socket_with_cookie(client: Client) -> WebsocketCommunicator:
    cookie = client.cookies["sessionid"].value
    communicator = WebsocketCommunicator(
        application,
        "/ws/v1/",
        headers=[(b"origin", ORIGIN.encode()), (b"cookie", f"sessionid={cookie}".encode())],
    )
    assert (await communicator.connect())[0]
    return communicator


async def closed_with(communicator: WebsocketCommunicator) -> int:
    for _ in range(10):
        output = await communicator.receive_output(timeout=2)
        if output["type"] == "websocket.close":
            return output["code"]
    raise AssertionError("the socket stayed open")


@pytest.mark.django_db(transaction=True)
async def test_a_socket_of_a_session_without_the_code_is_refused(two_factor_on, supporter):
    client, _ = await database_sync_to_async(password_only)(supporter)
    await database_sync_to_async(enrolled)(supporter)
    communicator = await socket_with_cookie(client)
    error = await communicator.receive_json_from()
    assert (error["type"], error["code"]) == ("error", "two_factor_required")
    assert await closed_with(communicator) == 4401
    await communicator.disconnect()

    communicator = await socket_with_cookie(await database_sync_to_async(verified)(supporter))
    hello = await communicator.receive_json_from()
    assert (hello["type"], hello["authenticated"], hello["handle"]) == ("hello", True, "Alex")
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_reset_closes_open_sockets_and_voids_tickets(two_factor_on, supporter):
    client = await database_sync_to_async(verified)(supporter)
    response = await database_sync_to_async(client.post)("/api/v1/ws-tickets")
    ticket = response.json()["ticket"]
    by_cookie = await socket_with_cookie(client)
    assert (await by_cookie.receive_json_from())["authenticated"] is True

    await database_sync_to_async(two_factor_reset)(user=supporter, by=None, via="test")
    assert await closed_with(by_cookie) == 4403
    await by_cookie.disconnect()

    by_ticket = WebsocketCommunicator(
        application, "/ws/v1/", headers=[(b"origin", ORIGIN.encode())]
    )
    assert (await by_ticket.connect())[0]
    assert (await by_ticket.receive_json_from())["authenticated"] is False
    await by_ticket.send_json_to({"type": "auth", "ticket": ticket})
    assert (await by_ticket.receive_json_from())["code"] == "invalid_ticket"
    await by_ticket.disconnect()

    # The session itself is no longer verified either: it is sent to set up a new app.
    response = await database_sync_to_async(client.get)("/staff/")
    assert response.headers["Location"] == "/accounts/two-factor/setup/?next=/staff/"


# Who is not asked --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_seekers_are_never_asked(two_factor_on):
    client = Client()
    response = await database_sync_to_async(client.post)("/api/v1/seekers")
    assert response.status_code == 201
    assert (await database_sync_to_async(client.get)("/support/")).status_code == 200
    me = await database_sync_to_async(client.get)("/api/v1/me")
    assert me.json()["role"] == "seeker"
    communicator = await socket_with_cookie(client)
    hello = await communicator.receive_json_from()
    assert (hello["type"], hello["authenticated"]) == ("hello", True)
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_with_the_setting_off_staff_sign_in_with_a_password_alone(supporter):
    client, location = await database_sync_to_async(password_only)(supporter)
    response = await database_sync_to_async(client.get)(location)
    assert response.headers["Location"] == "/staff/"
    assert (await database_sync_to_async(client.get)("/staff/")).status_code == 200
    response = await database_sync_to_async(client.get)("/accounts/two-factor/")
    assert response.headers["Location"] == "/after-sign-in/"
    communicator = await socket_with_cookie(client)
    assert (await communicator.receive_json_from())["authenticated"] is True
    await communicator.disconnect()
    assert await database_sync_to_async(TOTPDevice.objects.exists)() is False


# Resetting a lost phone --------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_admin_resets_a_staff_members_two_factor_in_the_admin(two_factor_on, supporter):
    device = totp_enrolment_start(user=supporter)
    totp_enrolment_confirm(user=supporter, device_id=device.pk, token=code_for(device))
    supporters_session = verified(supporter)
    admin = make_staff("root", "admin", "Admin")
    admin_client = verified(admin)
    changelist = admin_client.get("/admin/peerchat/user/")
    assert changelist.status_code == 200
    assert "Reset two-factor of the selected staff" in changelist.content.decode()

    response = admin_client.post(
        "/admin/peerchat/user/",
        {"action": "reset_two_factor", "_selected_action": [supporter.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=supporter).exists()
    assert not StaticDevice.objects.filter(user=supporter).exists()
    entry = AuditEntry.objects.get(action="two_factor_reset")
    assert (entry.actor, entry.subject, entry.detail) == (
        admin,
        supporter,
        {"via": "admin", "had_app": True},
    )
    # Their next request goes to set up a new app; the admin's own session is untouched.
    assert (
        supporters_session.get("/staff/")
        .headers["Location"]
        .startswith("/accounts/two-factor/setup/")
    )
    assert admin_client.get("/admin/").status_code == 200
    # Devices are not edited in the admin (keys hidden, changes audited through the reset).
    assert admin_client.get("/admin/otp_totp/totpdevice/").status_code == 404


@pytest.mark.django_db
def test_staff_two_factor_reset_command(two_factor_on, supporter, seeker, capsys):
    enrolled(supporter)
    call_command("staff_two_factor_reset", "alex")
    assert "alex: two-factor reset" in capsys.readouterr().out
    assert not TOTPDevice.objects.filter(user=supporter).exists()
    entry = AuditEntry.objects.get(action="two_factor_reset")
    assert (entry.actor, entry.subject, entry.detail["via"]) == (
        None,
        supporter,
        "manage.py staff_two_factor_reset",
    )
    with pytest.raises(CommandError, match="No account"):
        call_command("staff_two_factor_reset", "nobody")
    with pytest.raises(CommandError, match="Seekers"):
        call_command("staff_two_factor_reset", seeker.username)


@pytest.mark.django_db
def test_create_staff_still_makes_accounts_that_then_set_up_two_factor(
    two_factor_on, monkeypatch, capsys
):
    monkeypatch.setenv("STAFF_PASSWORD", PASSWORD)
    call_command("create_staff", "kim", "--role", "moderator", "--handle", "Kim", "--no-input")
    assert "kim: moderator, handle 'Kim'" in capsys.readouterr().out
    client, location = password_only(User.objects.get(username="kim"))
    assert client.get(location).headers["Location"].startswith("/accounts/two-factor/setup/")
