"""Who may do what: every page and API route × every role, with other people's ids too.

`MATRIX` holds, for each route the URL resolver knows (config/urls.py and its includes; the
Django admin and static files aside), one or more requests and the outcome each role gets.
Routes that take an object's id are tried with objects the acting user belongs to and with
ones they do not (another seeker's chat, another supporter's booking, …). A route added
without an entry here fails `test_every_route_is_in_the_matrix`.

Outcomes are written as the person's browser or client would see them:
  "200", "201", "401", "403", "404", "409", …   the status code
  "login"                                        a redirect to the sign-in page
  "→/path/"                                      a redirect elsewhere
  "→/path/ success" / "→/path/ error"            …with the page's outcome message

The people and things are made once for all the routes' tests; every request runs in its own
transaction, rolled back afterwards, so what one request changes no other request sees.

The socket has its own matrix at the end: every frame that names a room, sent by each role
to a room they are not in.
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.utils import timezone

from moderation.escalations.services import escalation_raise_by
from moderation.models import Screening
from moderation.services import policy_groups, policy_term_add
from peerchat.models import Shift, SupportSession, User
from peerchat.services.calendar_feeds import calendar_feed_reset
from peerchat.services.groups import group_join
from peerchat.services.messages import message_send
from peerchat.services.safety_plans import safety_plan_save, safety_plan_share
from peerchat.services.supervision.bookings import booking_create
from peerchat.services.supervision.gates import gate_exception_grant
from peerchat.services.supervision.slots import SlotSpec, slot_publish
from peerchat.services.users import seeker_create, staff_user_upsert
from tests.conftest import make_supporter
from tests.factories import agreement_version, ask, on_shift_supporter
from tests.test_groups import group_agreement, make_meeting

PASSWORD = "a-long-test-password"
ROLES = (
    "anonymous",
    "seeker",  # in chat S1 with `supporter`, and a member of the group
    "seeker2",  # in chat S2 with `trainee`; in nothing of the first seeker's
    "supporter",  # a peer supporter on shift: S1, facilitates the group, has a booking
    "trainee",  # a trainee supporter on shift: S2
    "moderator",
    "supervisor",  # a senior supporter with the supervise permission, runs a slot
    "evaluator",
    "admin",
)
# Routes nobody but Django itself serves: the admin (its own permission checks) and files.
SKIPPED_PREFIXES = ("admin/", "static/")


# The world ---------------------------------------------------------------------------------


@dataclass
class World:
    users: dict[str, User]
    ids: dict[str, object] = field(default_factory=dict)


def _build_world() -> World:
    local = timezone.localtime().replace(minute=0, second=0, microsecond=0, tzinfo=None)
    # The trainee goes on shift first and takes the second seeker (a trainee holds one chat);
    # the peer supporter then takes the first seeker.
    trainee = on_shift_supporter("trainee", level="trainee", handle="Tam")
    seeker2, _, _ = ask()
    supporter = on_shift_supporter("supporter", handle="Pat")
    seeker, _, _ = ask()
    s1 = SupportSession.objects.get(seeker=seeker, supporter=supporter)
    s2 = SupportSession.objects.get(seeker=seeker2, supporter=trainee)
    supervisor = make_supporter("supervisor", handle="Vic", level="senior")
    supervisor.user_permissions.add(Permission.objects.get(codename="supervise"))
    supervisor = User.objects.get(pk=supervisor.pk)

    def staff(role: str) -> User:
        return staff_user_upsert(username=role, role=role, password=PASSWORD, handle=role.title())

    moderator, evaluator, admin = staff("moderator"), staff("evaluator"), staff("admin")
    users = {
        "seeker": seeker,
        "seeker2": seeker2,
        "supporter": supporter,
        "trainee": trainee,
        "moderator": moderator,
        "supervisor": supervisor,
        "evaluator": evaluator,
        "admin": admin,
    }

    say = message_send(room_id=s1.room_id, sender=seeker, client_msg_id=uuid.uuid4(), body="hello")
    assert say.message.seq == 1
    held = message_send(
        room_id=s1.room_id,
        sender=seeker,
        client_msg_id=uuid.uuid4(),
        body="a link https://unlisted.example/page",
    )
    assert held.message.status == "held"
    screening = Screening.objects.get(message=held.message)
    escalation = escalation_raise_by(room_id=s1.room_id, user=supporter).escalation
    safety_plan_save(seeker=seeker, things_that_help="a walk")
    safety_plan_share(seeker=seeker, room_id=s1.room_id)

    group_agreement()
    meeting = make_meeting(supporter)
    group_version = group_agreement().version
    group_join(meeting=meeting, user=seeker, agreement_version=group_version)
    # Someone else in the group, for muting and removing.
    group_join(meeting=meeting, user=seeker_create(), agreement_version=group_version)
    member = meeting.room.memberships.exclude(user__in=[seeker, supporter]).get().user

    term = policy_term_add(moderator=moderator, group=policy_groups()[0], term="placeholderterm")
    token = calendar_feed_reset(user=supporter)

    [vic_slot] = slot_publish(
        supervisor=supervisor,
        spec=SlotSpec(starts_local=local + timedelta(days=3), duration_minutes=60),
    )
    [mod_slot] = slot_publish(
        supervisor=moderator,
        spec=SlotSpec(starts_local=local + timedelta(days=4), duration_minutes=60),
    )
    vic_series = slot_publish(
        supervisor=supervisor,
        spec=SlotSpec(
            starts_local=local + timedelta(days=5),
            duration_minutes=60,
            rrule="FREQ=WEEKLY;COUNT=2",
        ),
    )
    booking = booking_create(supporter=supporter, slot_id=vic_slot.pk)
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    past_shift = Shift.objects.create(
        supporter=supporter,
        starts_at=yesterday - timedelta(hours=4),
        ends_at=yesterday,
        started_at=yesterday - timedelta(hours=4),
        ended_at=yesterday,
    )
    exception = gate_exception_grant(
        supporter=trainee, by=moderator, gate="supervision", reason="a test reason", days=3
    )
    ids = {
        "s1": s1.room_id,
        "s2": s2.room_id,
        "group": meeting.pk,
        "group_room": meeting.room_id,
        "member_handle": member.handle,
        "screening": screening.pk,
        "escalation": escalation.pk,
        "term": term.pk,
        "token": token,
        "vic_slot": vic_slot.pk,
        "mod_slot": mod_slot.pk,
        "vic_series": vic_series[0].series_id,
        "booking": booking.pk,
        "past_shift": past_shift.pk,
        "trainee_id": trainee.pk,
        "exception": exception.pk,
        "one_to_one_version": agreement_version(),
        "group_version": group_agreement().version,
        "today": timezone.localdate().isoformat(),
        "in_a_week": (timezone.localdate() + timedelta(days=7)).isoformat(),
    }
    return World(users=users, ids=ids)


@pytest.fixture(scope="class")
def world(django_db_setup, django_db_blocker):
    """Everyone and everything, made once; rolled back when the routes' tests are done."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


# The matrix --------------------------------------------------------------------------------


def expect(default: str, **by_role: str) -> dict[str, str]:
    unknown = set(by_role) - set(ROLES)
    assert not unknown, unknown
    return {role: by_role.get(role, default) for role in ROLES}


def only(ok: str, *roles: str, anonymous: str = "401", others: str = "403") -> dict[str, str]:
    """`roles` get `ok`; strangers `anonymous`; everyone else `others`."""
    return expect(others, anonymous=anonymous, **dict.fromkeys(roles, ok))


SEEKERS = ("seeker", "seeker2")
SUPPORTERS = ("supporter", "trainee", "supervisor")
STAFF = ("moderator", "admin")  # moderation's staff
SUPERVISORS = ("supervisor", "moderator", "admin")
GROUP_ROLES = (*SEEKERS, *SUPPORTERS, "moderator")


@dataclass(frozen=True)
class Case:
    route: str  # the pattern as the URL resolver shows it
    method: str
    path: str  # formatted with the world's ids
    outcomes: dict[str, str]
    data: dict | None = None
    form: bool = False  # send `data` as a form instead of JSON
    variant: str = ""

    @property
    def label(self) -> str:
        variant = f" [{self.variant}]" if self.variant else ""
        return f"{self.method} /{self.route}{variant}"


def case(route, method, outcomes, *, path=None, data=None, form=False, variant=""):
    return Case(route, method, path or "/" + route, outcomes, data, form, variant)


# Pages that only seekers use send strangers home and staff to the chat page.
def seeker_page(ok: str) -> dict[str, str]:
    return expect("→/chat/", anonymous="→/", seeker=ok, seeker2=ok)


# The supporter's schedule: strangers sign in, supervisors go to theirs, others to the chat.
def schedule_page(ok: str, **by_role: str) -> dict[str, str]:
    return expect(
        "→/chat/",
        anonymous="login",
        moderator="→/supervision/",
        admin="→/supervision/",
        **{**dict.fromkeys(SUPPORTERS, ok), **by_role},
    )


def supervision_page(ok: str, **by_role: str) -> dict[str, str]:
    return only(ok, *SUPERVISORS, anonymous="login") | by_role


CHECKIN = {"feeling": "okay", "note": "", "skip": ""}

MATRIX: list[Case] = [
    # Signing in and out (django.contrib.auth) -----------------------------------------------
    case("accounts/login/", "GET", expect("200")),
    case("accounts/logout/", "POST", expect("→/")),
    # Two-factor pages (STAFF_TWO_FACTOR is off here; tests/test_two_factor.py turns it on):
    # nobody has anything to do there, so the signed-in go where they were going.
    case("accounts/two-factor/", "GET", expect("→/after-sign-in/", anonymous="login")),
    case("accounts/two-factor/setup/", "GET", expect("→/after-sign-in/", anonymous="login")),
    case("accounts/two-factor/backup-codes/", "GET", expect("→/after-sign-in/", anonymous="login")),
    case("accounts/password_change/", "GET", expect("200", anonymous="login")),
    case("accounts/password_change/done/", "GET", expect("200", anonymous="login")),
    case("accounts/password_reset/", "GET", expect("200")),
    case("accounts/password_reset/done/", "GET", expect("200")),
    case(
        "accounts/reset/<uidb64>/<token>/",
        "GET",
        expect("200"),
        path="/accounts/reset/MQ/not-a-token/",
        variant="a link that was never sent",
    ),
    case("accounts/reset/done/", "GET", expect("200")),
    # Pages -------------------------------------------------------------------------------------
    case("", "GET", expect("200")),
    case("chat/", "GET", expect("200", anonymous="→/")),
    case("healthz", "GET", expect("200")),
    case(
        "support/",
        "GET",
        expect(
            "→/chat/",
            anonymous="200",
            seeker="200",
            seeker2="200",
            **dict.fromkeys(SUPPORTERS, "→/staff/"),
        ),
    ),
    case(
        "support/",
        "POST",
        expect(
            "→/chat/",
            anonymous="→/support/",
            seeker="→/support/",
            seeker2="→/support/",
            **dict.fromkeys(SUPPORTERS, "→/staff/"),
        ),
    ),
    case("staff/", "GET", expect("→/chat/", anonymous="login", **dict.fromkeys(SUPPORTERS, "200"))),
    case(
        "after-sign-in/",
        "GET",
        expect(
            "→/chat/",
            anonymous="login",
            seeker="→/support/",
            seeker2="→/support/",
            moderator="→/moderation/",
            evaluator="→/evaluation/",
            **dict.fromkeys(SUPPORTERS, "→/staff/"),
        ),
    ),
    case("groups/", "GET", only("200", *GROUP_ROLES, anonymous="→/")),
    case("safety-plan/", "GET", seeker_page("200")),
    case(
        "safety-plan/share/",
        "POST",
        seeker_page("→/safety-plan/") | {"seeker2": "409"},
        data={"room": "{s1}"},
        form=True,
        variant="room S1",
    ),
    case(
        "safety-plan/withdraw/",
        "POST",
        seeker_page("→/safety-plan/") | {"seeker2": "409"},
        data={"room": "{s1}"},
        form=True,
        variant="room S1",
    ),
    case("my-data/", "GET", seeker_page("200")),
    case(
        "my-data/delete/",
        "POST",
        seeker_page("→/my-data/deleted/") | {"anonymous": "→/my-data/deleted/"},
        data={"confirm": "delete my data"},
        form=True,
    ),
    case("my-data/deleted/", "GET", expect("200")),
    case("moderation/", "GET", only("200", *STAFF, anonymous="login", others="→/after-sign-in/")),
    case("evaluation/", "GET", only("200", "evaluator", "admin", anonymous="login")),
    case(
        r"^evaluation/export\.(?P<file_format>csv|json)$",
        "GET",
        only("200", "evaluator", "admin", anonymous="login"),
        path="/evaluation/export.csv",
        variant="csv",
    ),
    # Calendar feeds: the token in the address is the secret; no sign-in is asked for.
    case(
        r"^calendar/(?P<token>[A-Za-z0-9_-]+)\.ics$",
        "GET",
        expect("200"),
        path="/calendar/{token}.ics",
        variant="the supporter's token",
    ),
    case(
        r"^calendar/(?P<token>[A-Za-z0-9_-]+)\.ics$",
        "GET",
        expect("404"),
        path="/calendar/not-a-real-token.ics",
        variant="a made-up token",
    ),
    case(
        "staff/calendar-link",
        "POST",
        only("→/staff/schedule/", *SUPPORTERS, *STAFF, anonymous="login"),
    ),
    case(
        "staff/calendar-link/revoke",
        "POST",
        only("→/staff/schedule/", *SUPPORTERS, *STAFF, anonymous="login"),
    ),
    # The supporter's schedule (ids in the form: another supporter's booking and shift) -------
    case("staff/schedule/", "GET", schedule_page("200")),
    case(
        "staff/schedule/book",
        "POST",
        schedule_page("→/staff/schedule/ success"),
        data={"slot": "{mod_slot}", "purpose": "supervision"},
        form=True,
        variant="the moderator's slot",
    ),
    case(
        "staff/schedule/move",
        "POST",
        schedule_page("→/staff/schedule/ error", supporter="→/staff/schedule/ success"),
        data={"booking": "{booking}", "to_slot": "{mod_slot}"},
        form=True,
        variant="the supporter's booking",
    ),
    case(
        "staff/schedule/cancel",
        "POST",
        # The supervisor runs the slot this booking is in, so may cancel it too.
        schedule_page(
            "→/staff/schedule/ error",
            supporter="→/staff/schedule/ success",
            supervisor="→/staff/schedule/ success",
        ),
        data={"booking": "{booking}"},
        form=True,
        variant="the supporter's booking",
    ),
    case(
        "staff/schedule/checkin",
        "POST",
        schedule_page("→/staff/schedule/ error", supporter="→/staff/schedule/ success"),
        data={"shift": "{past_shift}", **CHECKIN},
        form=True,
        variant="the supporter's shift",
    ),
    case("staff/schedule/notices-read", "POST", schedule_page("→/staff/schedule/")),
    # The supervisor's calendar (ids in the form: another supervisor's slot) -----------------
    case("supervision/", "GET", supervision_page("200")),
    case(
        "supervision/publish",
        "POST",
        supervision_page("→/supervision/ success"),
        data={
            "date": "{in_a_week}",
            "start": "10:00",
            "duration": "60",
            "kind": "one_to_one",
            "purpose": "any",
            "location": "Room 2",
            "time_zone": "Europe/London",
            "repeat": "none",
            "times": "8",
            "skip": "",
        },
        form=True,
    ),
    case(
        "supervision/cancel",
        "POST",
        supervision_page("→/supervision/ success"),
        data={"slot": "{vic_slot}", "reason": ""},
        form=True,
        variant="the supervisor's slot",
    ),
    case(
        "supervision/cancel",
        "POST",
        supervision_page("→/supervision/ success", supervisor="→/supervision/ error"),
        data={"slot": "{mod_slot}", "reason": ""},
        form=True,
        variant="the moderator's slot",
    ),
    case(
        "supervision/end-series",
        "POST",
        supervision_page("→/supervision/ success"),
        data={"series": "{vic_series}"},
        form=True,
        variant="the supervisor's series",
    ),
    case(
        "supervision/record",
        "POST",
        # Not started yet: refused for everyone allowed to record at all.
        supervision_page("→/supervision/ error"),
        data={"booking": "{booking}", "attended": "yes"},
        form=True,
        variant="the supporter's booking",
    ),
    case(
        "supervision/exception",
        "POST",
        supervision_page("→/supervision/ success"),
        data={"supporter": "{trainee_id}", "gate": "training", "days": "3", "reason": "a test"},
        form=True,
    ),
    case(
        "supervision/exception/revoke",
        "POST",
        supervision_page("→/supervision/ success"),
        data={"exception": "{exception}"},
        form=True,
    ),
    case("supervision/notices-read", "POST", supervision_page("→/supervision/")),
    # API: accounts and rooms -------------------------------------------------------------------
    case("api/v1/me", "GET", expect("200")),
    case(
        "api/v1/seekers",
        "POST",
        expect("409", anonymous="201", seeker="200", seeker2="200"),
    ),
    case("api/v1/rooms", "GET", expect("200", anonymous="401")),
    case(
        "api/v1/rooms/<int:room_id>/messages",
        "GET",
        only("200", "seeker", "supporter", others="404"),
        path="/api/v1/rooms/{s1}/messages",
        variant="room S1",
    ),
    case(
        "api/v1/rooms/<int:room_id>/messages",
        "GET",
        only("200", "seeker2", "trainee", others="404"),
        path="/api/v1/rooms/{s2}/messages",
        variant="room S2",
    ),
    case(
        "api/v1/rooms/<int:room_id>/messages",
        "GET",
        only("200", "seeker", "supporter", others="404"),
        path="/api/v1/rooms/{group_room}/messages",
        variant="the group's room",
    ),
    case("api/v1/ws-tickets", "POST", expect("201", anonymous="401")),
    # API: the seeker's support -----------------------------------------------------------------
    case("api/v1/support/intake", "GET", only("200", *SEEKERS)),
    case("api/v1/support/current", "GET", only("200", *SEEKERS)),
    case(
        "api/v1/support/requests",
        "POST",
        only("200", *SEEKERS),
        data={"agreement_version": "{one_to_one_version}"},
    ),
    case("api/v1/support/requests/leave", "POST", only("200", *SEEKERS)),
    case(
        "api/v1/support/sessions/<int:room_id>",
        "GET",
        only("200", "seeker", "supporter", others="404"),
        path="/api/v1/support/sessions/{s1}",
        variant="chat S1",
    ),
    case(
        "api/v1/support/sessions/<int:room_id>",
        "GET",
        only("200", "seeker2", "trainee", others="404"),
        path="/api/v1/support/sessions/{s2}",
        variant="chat S2",
    ),
    case(
        "api/v1/support/sessions/<int:room_id>/end",
        "POST",
        only("200", "seeker", "supporter", others="404"),
        path="/api/v1/support/sessions/{s1}/end",
        variant="chat S1",
    ),
    case(
        "api/v1/support/sessions/<int:room_id>/feedback",
        "POST",
        # The first seeker's chat has not ended yet: a state, not a permission.
        only("409", *SEEKERS) | {"seeker2": "404"},
        path="/api/v1/support/sessions/{s1}/feedback",
        data={"listened": 5, "helpful": 5},
        variant="chat S1",
    ),
    # API: the supporter's side -----------------------------------------------------------------
    case("api/v1/staff/status", "GET", only("200", *SUPPORTERS)),
    case("api/v1/staff/shift", "POST", only("200", *SUPPORTERS), data={"action": "end"}),
    case("api/v1/staff/transfer-targets", "GET", only("200", *SUPPORTERS)),
    case(
        "api/v1/support/sessions/<int:room_id>/phase",
        "POST",
        only("200", "supporter", others="403") | {"trainee": "404", "supervisor": "404"},
        path="/api/v1/support/sessions/{s1}/phase",
        data={"phase": "talking"},
        variant="chat S1",
    ),
    case(
        "api/v1/support/sessions/<int:room_id>/transfer",
        "POST",
        only("409", "supporter", others="403") | {"trainee": "404", "supervisor": "404"},
        path="/api/v1/support/sessions/{s1}/transfer",
        data={"to": "Vic", "note": "a test note"},
        variant="chat S1",
    ),
    case(
        "api/v1/support/sessions/<int:room_id>/handover",
        "POST",
        # Notes are written once the chat is over: a state, not a permission.
        only("409", "supporter", others="403") | {"trainee": "404", "supervisor": "404"},
        path="/api/v1/support/sessions/{s1}/handover",
        data={"body": "a test note"},
        variant="chat S1",
    ),
    case(
        "api/v1/support/sessions/<int:room_id>/notes",
        "GET",
        only("200", "supporter", others="403") | {"trainee": "404", "supervisor": "404"},
        path="/api/v1/support/sessions/{s1}/notes",
        variant="chat S1",
    ),
    # API: groups ---------------------------------------------------------------------------------
    case("api/v1/groups", "GET", only("200", *GROUP_ROLES)),
    case("api/v1/groups/agreement", "GET", only("200", *GROUP_ROLES)),
    case(
        "api/v1/groups/<int:group_id>/join",
        "POST",
        only("200", *GROUP_ROLES),
        path="/api/v1/groups/{group}/join",
        data={"agreement_version": "{group_version}"},
    ),
    case(
        "api/v1/groups/<int:group_id>/leave",
        "POST",
        # The facilitator cannot leave their own group.
        only("200", *GROUP_ROLES) | {"supporter": "409"},
        path="/api/v1/groups/{group}/leave",
    ),
    case(
        "api/v1/groups/<int:group_id>/open",
        "POST",
        only("200", "supporter", "moderator"),
        path="/api/v1/groups/{group}/open",
    ),
    case(
        "api/v1/groups/<int:group_id>/close",
        "POST",
        only("200", "supporter", "moderator"),
        path="/api/v1/groups/{group}/close",
    ),
    case(
        "api/v1/groups/<int:group_id>/mute",
        "POST",
        # Muting is for oneself, among the group's members.
        only("200", "seeker", "supporter", others="404") | {"evaluator": "403", "admin": "403"},
        path="/api/v1/groups/{group}/mute",
        data={"handle": "{member_handle}"},
    ),
    case(
        "api/v1/groups/<int:group_id>/unmute",
        "POST",
        # Muting is for oneself, among the group's members.
        only("200", "seeker", "supporter", others="404") | {"evaluator": "403", "admin": "403"},
        path="/api/v1/groups/{group}/unmute",
        data={"handle": "{member_handle}"},
    ),
    case(
        "api/v1/groups/<int:group_id>/remove",
        "POST",
        only("200", "supporter", "moderator"),
        path="/api/v1/groups/{group}/remove",
        data={"handle": "{member_handle}", "reason": "a test reason"},
    ),
    # API: the seeker's own data ------------------------------------------------------------------
    case("api/v1/safety-plan", "GET", only("200", *SEEKERS)),
    case(
        "api/v1/safety-plan",
        "PUT",
        only("200", *SEEKERS),
        data={"warning_signs": "a test sign"},
    ),
    case(
        "api/v1/support/sessions/<int:room_id>/safety-plan",
        "GET",
        only("200", "supporter", others="404"),
        path="/api/v1/support/sessions/{s1}/safety-plan",
        variant="chat S1, shared",
    ),
    case(
        "api/v1/support/sessions/<int:room_id>/safety-plan",
        "GET",
        only("404", others="404"),
        path="/api/v1/support/sessions/{s2}/safety-plan",
        variant="chat S2, not shared",
    ),
    case(
        "api/v1/support/sessions/<int:room_id>/safety-plan/share",
        "POST",
        only("200", "seeker") | {"seeker2": "404"},
        path="/api/v1/support/sessions/{s1}/safety-plan/share",
        variant="chat S1",
    ),
    case(
        "api/v1/support/sessions/<int:room_id>/safety-plan/withdraw",
        "POST",
        only("200", "seeker") | {"seeker2": "404"},
        path="/api/v1/support/sessions/{s1}/safety-plan/withdraw",
        variant="chat S1",
    ),
    case("api/v1/me/export", "GET", only("200", *SEEKERS)),
    case("api/v1/me/delete", "POST", only("200", *SEEKERS), data={"confirm": "delete my data"}),
    # API: moderation -------------------------------------------------------------------------
    case("api/moderation/queue", "GET", only("200", *STAFF)),
    case(
        "api/moderation/items/<int:screening_id>/release",
        "POST",
        only("200", *STAFF),
        path="/api/moderation/items/{screening}/release",
    ),
    case(
        "api/moderation/items/<int:screening_id>/keep",
        "POST",
        only("200", *STAFF),
        path="/api/moderation/items/{screening}/keep",
    ),
    case(
        "api/moderation/items/<int:screening_id>/notes",
        "POST",
        only("200", *STAFF),
        path="/api/moderation/items/{screening}/notes",
        data={"body": "a test note"},
    ),
    case(
        "api/moderation/items/<int:screening_id>/report",
        "POST",
        only("201", *STAFF),
        path="/api/moderation/items/{screening}/report",
        data={"kind": "false_positive", "expected": "ok"},
    ),
    case("api/moderation/try", "POST", only("200", *STAFF), data={"text": "hello"}),
    case(
        "api/moderation/cases",
        "POST",
        only("201", *STAFF),
        data={"text": "hello", "kind": "missed", "expected": "links"},
    ),
    case("api/moderation/cases.jsonl", "GET", only("200", *STAFF)),
    case("api/moderation/terms", "GET", only("200", *STAFF)),
    case(
        "api/moderation/terms",
        "POST",
        only("201", *STAFF),
        data={"group": "allowed_domain", "term": "help.example"},
    ),
    case(
        "api/moderation/terms/<int:term_id>",
        "DELETE",
        only("200", *STAFF),
        path="/api/moderation/terms/{term}",
    ),
    case(
        "api/moderation/rooms/<int:room_id>/hold",
        "GET",
        only("200", *STAFF),
        path="/api/moderation/rooms/{s1}/hold",
        variant="room S1",
    ),
    case(
        "api/moderation/rooms/<int:room_id>/hold",
        "POST",
        only("201", *STAFF),
        path="/api/moderation/rooms/{s1}/hold",
        data={"reason": "a test reason"},
        variant="room S1",
    ),
    case(
        "api/moderation/rooms/<int:room_id>/hold/release",
        "POST",
        # No hold on the room to release: `hold_not_found`, a state, not a permission.
        only("404", *STAFF),
        path="/api/moderation/rooms/{s1}/hold/release",
        variant="room S1, not held",
    ),
    case("api/moderation/escalations", "GET", only("200", *STAFF)),
    case(
        "api/moderation/escalations",
        "POST",
        only("200", *STAFF),
        data={"room": "{s1}"},
        variant="room S1, already escalated",
    ),
    case(
        "api/moderation/escalations/<int:escalation_id>/acknowledge",
        "POST",
        only("200", *STAFF),
        path="/api/moderation/escalations/{escalation}/acknowledge",
    ),
    case(
        "api/moderation/escalations/<int:escalation_id>/resolve",
        "POST",
        # Not acknowledged yet: a state, not a permission.
        only("409", *STAFF),
        path="/api/moderation/escalations/{escalation}/resolve",
        data={"outcome": "supported", "note": "a test note"},
    ),
    case(
        "api/moderation/escalations/<int:escalation_id>/context",
        "GET",
        only("200", *STAFF),
        path="/api/moderation/escalations/{escalation}/context",
    ),
    case(
        "api/v1/rooms/<int:room_id>/escalate",
        "POST",
        only("200", "seeker", "supporter", *STAFF, others="404"),
        path="/api/v1/rooms/{s1}/escalate",
        variant="room S1",
    ),
    case(
        "api/v1/rooms/<int:room_id>/escalate",
        "POST",
        only("201", "seeker2", "trainee", *STAFF, others="404"),
        path="/api/v1/rooms/{s2}/escalate",
        variant="room S2",
    ),
    case("api/moderation/rooms", "GET", only("200", *STAFF)),
    case(
        "api/moderation/rooms/<int:room_id>/whispers",
        "GET",
        only("200", *STAFF),
        path="/api/moderation/rooms/{s1}/whispers",
    ),
    case(
        "api/moderation/rooms/<int:room_id>/whispers",
        "POST",
        # Staff whisper in a room they observe or joined: a state, not a permission.
        only("409", *STAFF),
        path="/api/moderation/rooms/{s1}/whispers",
        data={"body": "a test whisper"},
    ),
    case(
        "api/moderation/rooms/<int:room_id>/join",
        "POST",
        only("200", *STAFF),
        path="/api/moderation/rooms/{s1}/join",
    ),
    case(
        "api/moderation/rooms/<int:room_id>/leave",
        "POST",
        only("200", *STAFF),
        path="/api/moderation/rooms/{s1}/leave",
    ),
    case(
        "api/moderation/rooms/<int:room_id>/messages/<int:seq>/remove",
        "POST",
        only("200", *STAFF),
        path="/api/moderation/rooms/{s1}/messages/1/remove",
        data={"reason": "a test reason"},
    ),
    case(
        "api/moderation/rooms/<int:room_id>/pause",
        "POST",
        only("200", *STAFF),
        path="/api/moderation/rooms/{s1}/pause",
        data={"note": "a test note"},
    ),
    case(
        "api/moderation/rooms/<int:room_id>/resume",
        "POST",
        only("200", *STAFF),
        path="/api/moderation/rooms/{s1}/resume",
        data={"note": "a test note"},
    ),
    case(
        "api/moderation/rooms/<int:room_id>/end",
        "POST",
        only("200", *STAFF),
        path="/api/moderation/rooms/{s1}/end",
        data={"note": "a test note"},
    ),
]


# Running it ---------------------------------------------------------------------------------


def resolver_routes() -> set[str]:
    """Every route pattern the project serves, as the resolver writes it."""

    def walk(patterns, prefix: str):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            else:
                yield route

    return {
        route
        for route in walk(get_resolver().url_patterns, "")
        if not route.startswith(SKIPPED_PREFIXES)
    }


def outcome(response) -> str:
    """The response as the matrix writes it (see the module's docstring)."""
    if response.status_code in (301, 302, 303):
        location = urlsplit(response["Location"])
        if location.path == settings.LOGIN_URL:
            return "login"
        said = {message.level_tag for message in get_messages(response.wsgi_request)}
        return " ".join(["→" + location.path, *sorted(said)])
    return str(response.status_code)


def _filled(value, ids: dict):
    if isinstance(value, str):
        text = value.format(**ids)
        # A whole placeholder keeps its type (JSON numbers stay numbers).
        if value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
            return ids[value[1:-1]]
        return text
    if isinstance(value, dict):
        return {key: _filled(item, ids) for key, item in value.items()}
    return value


def request(world: World, role: str, c: Case):
    client = Client()
    if role != "anonymous":
        client.force_login(world.users[role])
    path = c.path.format(**world.ids)
    data = _filled(c.data or {}, world.ids)
    method = getattr(client, c.method.lower())
    if c.method == "GET":
        return method(path)
    if c.form:
        return method(path, {key: str(value) for key, value in data.items()})
    return method(path, json.dumps(data), content_type="application/json")


def test_every_route_is_in_the_matrix():
    served = resolver_routes()
    covered = {c.route for c in MATRIX}
    assert served - covered == set(), "routes without a matrix entry (add them to MATRIX)"
    assert covered - served == set(), "matrix entries for routes that no longer exist"


def test_every_case_names_every_role_once():
    labels = [c.label for c in MATRIX]
    assert len(labels) == len(set(labels)), "two cases with the same label: give a variant"
    for c in MATRIX:
        assert tuple(c.outcomes) == ROLES, c.label


class TestRoutes:
    """In a class so that the world (scoped to it) is gone before the socket tests, which
    need the database to themselves."""

    @pytest.mark.parametrize(
        ("c", "role"),
        [pytest.param(c, role, id=f"{c.label} as {role}") for c in MATRIX for role in ROLES],
    )
    def test_access(self, world, db, c: Case, role: str):
        assert outcome(request(world, role, c)) == c.outcomes[role]


# The socket --------------------------------------------------------------------------------
#
# Every frame that names a room, sent by each role to a one-to-one chat they are not in. What
# comes back is written "error:<code>" (docs/protocol.md lists the codes) or the frame type
# of a success. Moderators and admins observe any active room and may raise an escalation
# on it; nobody else gets further than a refusal, and `room_not_found` never says whether
# the room exists.

ROOM_FRAMES = {
    "join": lambda room: {"type": "join", "room": room},
    "send": lambda room: {
        "type": "send",
        "room": room,
        "client_msg_id": str(uuid.uuid4()),
        "body": "hello",
    },
    "typing": lambda room: {"type": "typing", "room": room},
    "escalate": lambda room: {"type": "escalate", "room": room},
    "observe": lambda room: {"type": "observe", "room": room},
    "whisper": lambda room: {"type": "whisper", "room": room, "body": "a test whisper"},
    # Leaving a room one is not in is harmless: nothing to refuse.
    "leave": lambda room: {"type": "leave", "room": room},
}
NOT_A_MEMBER = {
    "join": "error:room_not_found",
    "send": "error:room_not_found",
    "typing": "error:not_joined",
    "escalate": "error:room_not_found",
    "observe": "error:forbidden",
    "whisper": "error:forbidden",
    "leave": "left",
}
SOCKET_MATRIX = {
    "anonymous": dict.fromkeys(ROOM_FRAMES, "error:not_authenticated"),
    "seeker": NOT_A_MEMBER,
    "supporter": NOT_A_MEMBER | {"whisper": "error:room_not_found"},
    "trainee": NOT_A_MEMBER | {"whisper": "error:room_not_found"},
    "supervisor": NOT_A_MEMBER | {"whisper": "error:room_not_found"},
    "evaluator": NOT_A_MEMBER,
    **dict.fromkeys(
        ("moderator", "admin"),
        NOT_A_MEMBER
        | {
            "escalate": "escalated",
            "observe": "joined",
            # Whispering needs observing first (this socket observes only afterwards).
            "whisper": "error:not_observing",
        },
    ),
}


def test_the_socket_matrix_names_every_frame_that_takes_a_room():
    from peerchat import protocol

    takes_room = {
        name
        for name, parser in protocol._PARSERS.items()
        if "room" in getattr(parser, "__annotations__", {}).get("return").__dataclass_fields__
    }
    assert takes_room == set(ROOM_FRAMES)
    for role, outcomes in SOCKET_MATRIX.items():
        assert set(outcomes) == set(ROOM_FRAMES), role


def _socket_user(role: str) -> User | None:
    if role == "anonymous":
        return None
    if role == "seeker":
        return seeker_create()
    if role in ("supporter", "trainee", "supervisor"):
        level = {"supporter": "peer", "trainee": "trainee", "supervisor": "senior"}[role]
        user = on_shift_supporter(f"ws-{role}", level=level)
        if role == "supervisor":
            user.user_permissions.add(Permission.objects.get(codename="supervise"))
        return user
    return staff_user_upsert(username=f"ws-{role}", role=role, password=PASSWORD, handle=role)


# What answers a frame; anything else (presence, escalation status, …) arrives on its own time.
ANSWERS = {"error", "joined", "ack", "left", "escalated", "whisper_sent"}


async def _answer(socket) -> dict:
    for _ in range(20):
        frame = await socket.recv()
        if frame["type"] in ANSWERS:
            return frame
    raise AssertionError("no answer to the frame")


def _someone_elses_chat() -> int:
    on_shift_supporter("ws-theirs", level="senior", handle="Theirs")
    seeker, _, _ = ask()
    return SupportSession.objects.get(seeker=seeker).room_id


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", list(SOCKET_MATRIX))
async def test_socket_frames_for_a_room_one_is_not_in(role):
    from channels.db import database_sync_to_async

    from peerchat.models import Message
    from tests.wsclient import open_socket

    room = await database_sync_to_async(_someone_elses_chat)()
    user = await database_sync_to_async(_socket_user)(role)
    socket = await open_socket(user)
    seen = {}
    try:
        for name, frame in ROOM_FRAMES.items():
            await socket.send(frame(room))
            answer = await _answer(socket)
            if answer["type"] == "joined":  # an observer: stop observing before going on
                await socket.send({"type": "leave", "room": room})
                assert (await _answer(socket))["type"] == "left"
            seen[name] = f"error:{answer['code']}" if answer["type"] == "error" else answer["type"]
    finally:
        await socket.close()
    assert seen == SOCKET_MATRIX[role]
    stored = await database_sync_to_async(Message.objects.filter(room_id=room).count)()
    assert stored == 0
