"""Scheduled peer-support groups: services, the JSON API, the page, the socket, and races."""

import json
import sqlite3
import threading
import uuid
from datetime import UTC, timedelta

import pytest
from channels.db import database_sync_to_async
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from moderation.models import AuditEntry
from peerchat import events
from peerchat.errors import PeerchatError
from peerchat.models import Agreement, AgreementAcceptance, GroupMeeting, Membership, Message, Mute
from peerchat.selectors.groups import groups_upcoming, muted_handles
from peerchat.services.groups import (
    facilitator_presence_touch,
    group_close,
    group_join,
    group_join_extras,
    group_leave,
    group_meeting_create,
    group_member_remove,
    group_open,
    group_send_check,
    member_mute,
    member_unmute,
)
from peerchat.services.messages import message_send
from peerchat.services.sweep import support_sweep
from peerchat.services.users import seeker_create, staff_user_upsert
from tests.conftest import make_supporter
from tests.wsclient import open_socket

pytestmark = pytest.mark.django_db

GROUP_TERMS_V1 = "<ul><li>Be kind to each other.</li></ul>"


# Data -------------------------------------------------------------------------------------------


def group_agreement(version: int | None = None) -> Agreement:
    """The published group agreement: the newest (the migrations' copy, or one made here when
    a transactional test flushed it), or the given version."""
    if version is None:
        newest = (
            Agreement.objects.filter(kind="group", published_at__isnull=False)
            .order_by("-version")
            .first()
        )
        if newest is not None:
            return newest
        version = 1
    agreement, _ = Agreement.objects.get_or_create(
        kind="group",
        version=version,
        defaults={
            "title": f"Group agreement v{version}",
            "body": GROUP_TERMS_V1,
            "confidentiality": "<p>Moderators can read the group.</p>",
            "published_at": timezone.now(),
        },
    )
    return agreement


def make_meeting(
    facilitator,
    *,
    starts_in=timedelta(minutes=5),
    length=timedelta(hours=1),
    max_members=8,
    title="Evening group",
) -> GroupMeeting:
    starts_at = timezone.now() + starts_in
    return group_meeting_create(
        title=title,
        description="A gentle hour together.",
        starts_at=starts_at,
        ends_at=starts_at + length,
        max_members=max_members,
        facilitator=facilitator,
    )


def make_moderator():
    return staff_user_upsert(
        username=f"mod-{uuid.uuid4().hex[:6]}",
        role="moderator",
        password="a-long-test-password",
        handle=f"Mod{uuid.uuid4().hex[:6]}",
    )


def join(meeting, user, version=None):
    version = group_agreement().version if version is None else version
    return group_join(meeting=meeting, user=user, agreement_version=version)


def seekers_in_room(meeting) -> int:
    return Membership.objects.filter(room=meeting.room, role="seeker").count()


@pytest.fixture
def agreement(db):
    return group_agreement()


@pytest.fixture
def meeting(supporter, agreement):
    """Alex (a peer supporter) facilitates a group that starts in five minutes."""
    return make_meeting(supporter)


class Published:
    """What the current (test-wide) transaction will publish once it commits.

    Events are handed to `transaction.on_commit`; in a test wrapped in a transaction they
    wait there, so reading them proves nothing was sent before the commit.
    """

    def __init__(self):
        self.start = len(connection.run_on_commit)

    def clear(self):
        self.start = len(connection.run_on_commit)

    def events(self) -> list[tuple[str, dict]]:
        pending = []
        for _savepoints, callback, _robust in connection.run_on_commit[self.start :]:
            assert callback.func is events.publish_soon, callback
            pending.append(callback.args)
        return pending


@pytest.fixture
def published(db):
    return Published()


def frames_to_room(published, room_id):
    return [
        json.loads(event["text"])
        for group, event in published.events()
        if group == f"room.{room_id}" and event["kind"] == "state"
    ]


def frames_to_users(published):
    return [
        (event["user"], json.loads(event["text"]))
        for group, event in published.events()
        if group == "users" and event.get("action") == "frame"
    ]


def refused(code, call, *args, **kwargs) -> PeerchatError:
    with pytest.raises(PeerchatError) as error:
        call(*args, **kwargs)
    assert error.value.code == code, error.value.detail
    return error.value


# Creating and facilitating ----------------------------------------------------------------------


def test_a_peer_supporter_schedules_a_group_in_its_own_room(supporter, agreement):
    meeting = make_meeting(supporter, max_members=6)
    assert meeting.room.kind == "group"
    assert meeting.room.name == "Evening group"
    assert list(meeting.room.memberships.values_list("user__handle", "role")) == [
        ("Alex", "supporter")
    ]
    assert (meeting.opened_at, meeting.max_members) == (None, 6)


@pytest.mark.parametrize("who", ["trainee", "seeker", "moderator"])
def test_only_peer_or_senior_supporters_can_facilitate(db, who):
    person = {
        "trainee": lambda: make_supporter(level="trainee"),
        "seeker": seeker_create,
        "moderator": make_moderator,
    }[who]()
    refused("facilitator_not_eligible", make_meeting, person)
    assert GroupMeeting.objects.count() == 0
    assert not Membership.objects.filter(user=person).exists()


def test_a_senior_supporter_can_facilitate(other_supporter, agreement):
    assert make_meeting(other_supporter).facilitator == other_supporter


def test_a_group_must_end_after_it_starts(supporter):
    refused("invalid_field", make_meeting, supporter, length=timedelta(0))
    refused("invalid_field", make_meeting, supporter, max_members=0)
    assert GroupMeeting.objects.count() == 0


def test_the_facilitator_opens_the_group_and_the_room_is_told(supporter, meeting, published):
    opened = group_open(meeting=meeting, by=supporter)
    assert opened.opened_at is not None
    assert GroupMeeting.objects.get(pk=meeting.pk).opened_at == opened.opened_at
    [frame] = frames_to_room(published, meeting.room_id)
    assert frame == {
        "type": "group",
        "room": meeting.room_id,
        "open": True,
        "title": "Evening group",
        "starts_at": meeting.starts_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "ends_at": meeting.ends_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "facilitator": {"handle": "Alex"},
        "members": 0,
        "max_members": 8,
    }
    group_close(meeting=meeting, by=supporter)
    assert GroupMeeting.objects.get(pk=meeting.pk).opened_at is None
    assert [f["open"] for f in frames_to_room(published, meeting.room_id)] == [True, False]
    assert list(AuditEntry.objects.order_by("pk").values_list("action", "actor")) == [
        ("group_opened", supporter.pk),
        ("group_closed", supporter.pk),
    ]


def test_opening_twice_is_harmless(supporter, meeting, published):
    """A double click on "Open": one change, one broadcast, one audit record."""
    first = group_open(meeting=meeting, by=supporter)
    second = group_open(meeting=meeting, by=supporter)
    assert second.opened_at == first.opened_at
    assert len(frames_to_room(published, meeting.room_id)) == 1
    assert AuditEntry.objects.filter(action="group_opened").count() == 1
    group_close(meeting=meeting, by=supporter)
    group_close(meeting=meeting, by=supporter)
    assert len(frames_to_room(published, meeting.room_id)) == 2


@pytest.mark.parametrize(
    ("starts_in", "length", "allowed"),
    [
        (timedelta(minutes=30), timedelta(hours=1), False),  # too early
        (timedelta(minutes=14), timedelta(hours=1), True),  # settling-in time
        (timedelta(minutes=-30), timedelta(hours=1), True),  # under way
        (timedelta(hours=-2), timedelta(hours=1), False),  # finished
    ],
)
def test_a_group_opens_only_around_its_time(supporter, agreement, starts_in, length, allowed):
    meeting = make_meeting(supporter, starts_in=starts_in, length=length)
    if allowed:
        assert group_open(meeting=meeting, by=supporter).opened_at is not None
    else:
        error = refused("group_not_scheduled_now", group_open, meeting=meeting, by=supporter)
        assert error.status == 409
        assert "15 minutes before" in error.detail
        assert GroupMeeting.objects.get(pk=meeting.pk).opened_at is None


def test_only_the_facilitator_or_a_moderator_opens_closes_and_removes(
    other_supporter, seeker, meeting
):
    join(meeting, seeker)
    for person in (other_supporter, seeker):
        assert refused("not_facilitator", group_open, meeting=meeting, by=person).status == 403
        refused("not_facilitator", group_close, meeting=meeting, by=person)
        refused(
            "not_facilitator",
            group_member_remove,
            meeting=meeting,
            by=person,
            handle=seeker.handle,
            reason="x",
        )
    assert GroupMeeting.objects.get(pk=meeting.pk).opened_at is None
    assert seekers_in_room(meeting) == 1
    moderator = make_moderator()
    assert group_open(meeting=meeting, by=moderator).opened_at is not None
    AuditEntry.objects.get(action="group_opened", actor=moderator)


# Joining -----------------------------------------------------------------------------------------


def test_a_seeker_joins_after_accepting_the_group_agreement(seeker, meeting, agreement, published):
    membership = join(meeting, seeker, agreement.version)
    assert (membership.room_id, membership.role) == (meeting.room_id, "seeker")
    AgreementAcceptance.objects.get(user=seeker, agreement=agreement)
    [frame] = frames_to_room(published, meeting.room_id)
    assert (frame["members"], frame["max_members"], frame["open"]) == (1, 8, False)


def test_a_stale_or_missing_agreement_is_refused(seeker, meeting, agreement):
    newer = group_agreement(version=agreement.version + 1)
    error = refused("agreement_outdated", join, meeting, seeker, agreement.version)
    assert error.status == 409
    refused("agreement_required", group_join, meeting=meeting, user=seeker, agreement_version=None)
    assert not Membership.objects.filter(user=seeker).exists()
    assert not AgreementAcceptance.objects.filter(user=seeker).exists()
    join(meeting, seeker, newer.version)
    AgreementAcceptance.objects.get(user=seeker, agreement=newer)


def test_joining_twice_returns_the_same_membership(seeker, meeting, published):
    """A double click or a second tab: the same place, one acceptance, one broadcast."""
    first = join(meeting, seeker)
    second = join(meeting, seeker)
    assert second.pk == first.pk
    assert AgreementAcceptance.objects.filter(user=seeker).count() == 1
    assert len(frames_to_room(published, meeting.room_id)) == 1


def test_a_full_group_says_so_kindly_and_supporters_do_not_take_places(
    supporter, other_supporter, agreement
):
    meeting = make_meeting(supporter, max_members=2)
    join(meeting, seeker_create())
    join(meeting, seeker_create())
    late = seeker_create()
    error = refused("group_full", join, meeting, late)
    assert error.status == 409
    assert "one-to-one" in error.detail
    assert seekers_in_room(meeting) == 2
    assert join(meeting, other_supporter, None).role == "supporter"
    assert not AgreementAcceptance.objects.filter(user=late).exists()


def test_leaving_frees_a_place_and_the_facilitator_stays(supporter, agreement):
    meeting = make_meeting(supporter, max_members=1)
    first, second = seeker_create(), seeker_create()
    join(meeting, first)
    refused("group_full", join, meeting, second)
    assert group_leave(meeting=meeting, user=first) is True
    assert group_leave(meeting=meeting, user=first) is False
    assert join(meeting, second).role == "seeker"
    refused("facilitator_stays", group_leave, meeting=meeting, user=supporter)
    assert Membership.objects.filter(room=meeting.room, user=supporter).exists()


def test_a_finished_group_cannot_be_joined(supporter, seeker, agreement):
    meeting = make_meeting(supporter, starts_in=timedelta(hours=-2), length=timedelta(hours=1))
    refused("group_ended", join, meeting, seeker)


def test_evaluators_cannot_join(meeting):
    evaluator = staff_user_upsert(
        username="eve", role="evaluator", password="a-long-test-password", handle="Eve"
    )
    assert refused("forbidden", join, meeting, evaluator).status == 403


# Sending in a closed group -----------------------------------------------------------------------


def test_only_the_facilitator_can_write_while_the_group_is_closed(supporter, seeker, meeting):
    join(meeting, seeker)
    error = refused("group_closed", group_send_check, room_id=meeting.room_id, user=seeker)
    assert error.detail == (
        "The group isn't open right now; it opens when the facilitator arrives."
    )
    group_send_check(room_id=meeting.room_id, user=supporter)  # the facilitator may
    group_open(meeting=meeting, by=supporter)
    group_send_check(room_id=meeting.room_id, user=seeker)
    # Left open past its end, it counts as closed.
    GroupMeeting.objects.filter(pk=meeting.pk).update(
        starts_at=timezone.now() - timedelta(hours=2), ends_at=timezone.now() - timedelta(hours=1)
    )
    refused("group_closed", group_send_check, room_id=meeting.room_id, user=seeker)


def test_message_send_applies_the_same_rules_as_the_check(supporter, seeker, meeting):
    """The send's own check (in its INSERT) agrees with `group_send_check` at every step."""

    def sends(user):
        try:
            message_send(
                room_id=meeting.room_id, sender=user, client_msg_id=uuid.uuid4(), body="hello"
            )
        except PeerchatError as error:
            return error.code
        return "stored"

    join(meeting, seeker)
    assert (sends(seeker), sends(supporter)) == ("group_closed", "stored")
    group_open(meeting=meeting, by=supporter)
    assert (sends(seeker), sends(supporter)) == ("stored", "stored")
    GroupMeeting.objects.filter(pk=meeting.pk).update(
        starts_at=timezone.now() - timedelta(hours=2), ends_at=timezone.now() - timedelta(hours=1)
    )
    assert (sends(seeker), sends(supporter)) == ("group_closed", "stored")
    assert list(Message.objects.order_by("seq").values_list("seq", "sender")) == [
        (1, supporter.pk),
        (2, seeker.pk),
        (3, supporter.pk),
        (4, supporter.pk),
    ]


def test_message_send_refuses_a_closed_group_and_stores_nothing(supporter, seeker, meeting):
    join(meeting, seeker)
    with pytest.raises(PeerchatError) as error:
        message_send(
            room_id=meeting.room_id, sender=seeker, client_msg_id=uuid.uuid4(), body="hello"
        )
    assert error.value.code == "group_closed"
    assert Message.objects.count() == 0


def test_rooms_without_a_meeting_are_not_affected(seeker, room):
    group_send_check(room_id=room.pk, user=seeker)
    assert group_join_extras(room_id=room.pk, user=seeker) == {}


# Muting ------------------------------------------------------------------------------------------


def test_a_mute_is_for_the_person_who_muted_only(supporter, meeting, published):
    ash, bo = seeker_create(), seeker_create()
    join(meeting, ash)
    join(meeting, bo)
    published.clear()
    assert member_mute(room=meeting.room, user=ash, handle=bo.handle) == [bo.handle]
    assert member_mute(room=meeting.room, user=ash, handle=bo.handle) == [bo.handle]  # again
    assert Mute.objects.count() == 1
    assert muted_handles(room_id=meeting.room_id, user=ash) == [bo.handle]
    assert muted_handles(room_id=meeting.room_id, user=bo) == []
    assert muted_handles(room_id=meeting.room_id, user=supporter) == []
    # Only Ash's own sockets hear about it; nothing goes to the room.
    expected = {"type": "muted", "room": meeting.room_id, "handles": [bo.handle]}
    assert frames_to_users(published) == [(ash.pk, expected), (ash.pk, expected)]
    assert frames_to_room(published, meeting.room_id) == []
    assert group_join_extras(room_id=meeting.room_id, user=ash)["muted"] == [bo.handle]
    assert group_join_extras(room_id=meeting.room_id, user=bo)["muted"] == []

    assert member_unmute(room=meeting.room, user=ash, handle=bo.handle) == []
    assert member_unmute(room=meeting.room, user=ash, handle=bo.handle) == []
    assert Mute.objects.count() == 0


def test_mute_needs_two_members_of_the_room(supporter, seeker, meeting):
    join(meeting, seeker)
    outsider = seeker_create()
    refused(
        "cannot_mute_yourself", member_mute, room=meeting.room, user=seeker, handle=seeker.handle
    )
    refused("member_not_found", member_mute, room=meeting.room, user=seeker, handle=outsider.handle)
    refused("room_not_found", member_mute, room=meeting.room, user=outsider, handle=seeker.handle)
    # Anyone but yourself, the facilitator included.
    assert member_mute(room=meeting.room, user=seeker, handle="Alex") == ["Alex"]


# Removing ----------------------------------------------------------------------------------------


def test_removal_is_audited_and_the_person_cannot_rejoin(supporter, seeker, meeting, published):
    join(meeting, seeker)
    published.clear()
    entry = group_member_remove(
        meeting=meeting, by=supporter, handle=seeker.handle, reason="  Unkind to others  "
    )
    assert (entry.action, entry.actor, entry.subject, entry.room_id) == (
        "group_member_removed",
        supporter,
        seeker,
        meeting.room_id,
    )
    assert entry.detail == {"meeting": meeting.pk, "reason": "Unkind to others"}
    assert not Membership.objects.filter(room=meeting.room, user=seeker).exists()
    # Their sockets drop the room, and the room sees one member fewer.
    assert (
        "users",
        {
            "kind": "control",
            "user": seeker.pk,
            "action": "membership_removed",
            "room": meeting.room_id,
        },
    ) in published.events()
    assert frames_to_room(published, meeting.room_id)[-1]["members"] == 0

    error = refused("removed_from_group", join, meeting, seeker)
    assert error.status == 403
    assert "one-to-one with a supporter" in error.detail
    # A second click on "Remove" changes nothing and keeps the one record.
    again = group_member_remove(meeting=meeting, by=supporter, handle=seeker.handle, reason="x")
    assert again.pk == entry.pk
    assert AuditEntry.objects.filter(action="group_member_removed").count() == 1
    # Another meeting is a fresh start.
    other = make_meeting(supporter, title="Morning group")
    assert join(other, seeker).role == "seeker"


def test_removal_needs_a_reason_and_a_member(supporter, seeker, meeting):
    join(meeting, seeker)
    for reason in ("", "   "):
        refused(
            "reason_required",
            group_member_remove,
            meeting=meeting,
            by=supporter,
            handle=seeker.handle,
            reason=reason,
        )
    refused(
        "member_not_found",
        group_member_remove,
        meeting=meeting,
        by=supporter,
        handle="Nobody",
        reason="r",
    )
    refused(
        "cannot_remove_facilitator",
        group_member_remove,
        meeting=meeting,
        by=make_moderator(),
        handle="Alex",
        reason="r",
    )
    assert AuditEntry.objects.filter(action="group_member_removed").count() == 0
    assert seekers_in_room(meeting) == 1


# The groups list ---------------------------------------------------------------------------------


def test_groups_upcoming_lists_this_week_with_spaces_and_membership(supporter, seeker, agreement):
    now = timezone.now()
    soon = make_meeting(supporter, max_members=3, title="Soon")
    later = make_meeting(supporter, starts_in=timedelta(days=3), title="Later")
    make_meeting(supporter, starts_in=timedelta(days=8), title="Next month")
    make_meeting(supporter, starts_in=timedelta(hours=-3), title="Finished")
    join(soon, seeker)
    other = seeker_create()
    member_mute(room=soon.room, user=seeker, handle="Alex")

    listing = groups_upcoming(user=seeker, now=now)
    assert [g["title"] for g in listing] == ["Soon", "Later"]
    first, second = listing
    assert (first["members"], first["spaces_left"], first["is_member"]) == (1, 2, True)
    assert [(m["handle"], m["you"], m["muted"]) for m in first["member_list"]] == [
        ("Alex", False, True),
        (seeker.handle, True, False),
    ]
    assert (second["is_member"], second["member_list"], second["can_manage"]) == (
        False,
        None,
        False,
    )
    # Someone not in the group sees the numbers, never who is in it.
    assert groups_upcoming(user=other, now=now)[0]["member_list"] is None
    assert later.pk == second["id"]


def test_groups_upcoming_costs_the_same_queries_for_many_groups(
    supporter, seeker, agreement, django_assert_num_queries
):
    for n in range(6):
        meeting = make_meeting(supporter, title=f"Group {n}")
        join(meeting, seeker)
        join(meeting, seeker_create())
    # meetings, my memberships, my removals, the member lists, my mutes
    with django_assert_num_queries(5):
        listing = groups_upcoming(user=seeker, now=timezone.now())
    assert [len(group["member_list"]) for group in listing] == [3] * 6


# The JSON API ------------------------------------------------------------------------------------


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def test_api_join_list_and_leave(seeker, meeting, agreement):
    client = client_for(seeker)
    terms = client.get("/api/v1/groups/agreement").json()
    assert (terms["id"], terms["version"]) == (agreement.pk, agreement.version)
    response = post(
        client, f"/api/v1/groups/{meeting.pk}/join", {"agreement_version": terms["version"]}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["chat_url"] == f"/chat/#room={meeting.room_id}"
    assert (body["role"], body["group"]["members"]) == ("seeker", 1)
    again = post(
        client,
        f"/api/v1/groups/{meeting.pk}/join",
        {"agreement_version": group_agreement().version},
    )
    assert again.status_code == 200
    [listed] = client.get("/api/v1/groups").json()["groups"]
    assert (listed["id"], listed["is_member"], listed["spaces_left"]) == (meeting.pk, True, 7)
    assert listed["starts_at"].endswith("Z")
    response = post(client, f"/api/v1/groups/{meeting.pk}/leave")
    assert response.json() == {"room": meeting.room_id, "left": True}
    assert seekers_in_room(meeting) == 0


def test_api_errors_are_kind_json(seeker, supporter, agreement):
    meeting = make_meeting(supporter, max_members=1)
    join(meeting, seeker_create())
    client = client_for(seeker)
    response = post(
        client,
        f"/api/v1/groups/{meeting.pk}/join",
        {"agreement_version": group_agreement().version},
    )
    assert response.status_code == 409
    assert response.json()["error"] == "group_full"
    assert "one-to-one" in response.json()["detail"]
    response = post(
        client,
        f"/api/v1/groups/{meeting.pk}/join",
        {"agreement_version": str(group_agreement().version)},
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_field")
    response = post(
        client, "/api/v1/groups/999999/join", {"agreement_version": group_agreement().version}
    )
    assert (response.status_code, response.json()["error"]) == (404, "group_not_found")
    response = Client().get("/api/v1/groups")
    assert (response.status_code, response.json()["error"]) == (401, "not_authenticated")


def test_api_only_the_facilitator_opens_and_removes(supporter, other_supporter, seeker, meeting):
    join(meeting, seeker)
    for url, body in [
        (f"/api/v1/groups/{meeting.pk}/open", {}),
        (f"/api/v1/groups/{meeting.pk}/close", {}),
        (f"/api/v1/groups/{meeting.pk}/remove", {"handle": seeker.handle, "reason": "r"}),
    ]:
        for person in (other_supporter, seeker):
            response = post(client_for(person), url, body)
            assert (response.status_code, response.json()["error"]) == (403, "not_facilitator")
    assert GroupMeeting.objects.get(pk=meeting.pk).opened_at is None
    assert seekers_in_room(meeting) == 1

    alex = client_for(supporter)
    assert post(alex, f"/api/v1/groups/{meeting.pk}/open").json()["group"]["open"] is True
    response = post(alex, f"/api/v1/groups/{meeting.pk}/remove", {"handle": seeker.handle})
    assert (response.status_code, response.json()["error"]) == (400, "reason_required")
    response = post(
        alex, f"/api/v1/groups/{meeting.pk}/remove", {"handle": seeker.handle, "reason": "r"}
    )
    assert response.json() == {"room": meeting.room_id, "removed": seeker.handle}
    response = post(
        client_for(seeker),
        f"/api/v1/groups/{meeting.pk}/join",
        {"agreement_version": group_agreement().version},
    )
    assert (response.status_code, response.json()["error"]) == (403, "removed_from_group")


def test_api_mute_and_unmute(seeker, meeting):
    other = seeker_create()
    join(meeting, seeker)
    join(meeting, other)
    client = client_for(seeker)
    response = post(client, f"/api/v1/groups/{meeting.pk}/mute", {"handle": other.handle})
    assert response.json() == {"room": meeting.room_id, "muted": [other.handle]}
    assert muted_handles(room_id=meeting.room_id, user=other) == []
    response = post(client, f"/api/v1/groups/{meeting.pk}/unmute", {"handle": other.handle})
    assert response.json() == {"room": meeting.room_id, "muted": []}
    response = post(
        client_for(seeker_create()), f"/api/v1/groups/{meeting.pk}/mute", {"handle": other.handle}
    )
    assert (response.status_code, response.json()["error"]) == (404, "room_not_found")


def test_api_agreement_is_sanitised(seeker, db):
    Agreement.objects.create(
        kind="group",
        version=99,
        title="Agreement",
        body='<p onclick="x()">Be kind</p><script>alert(1)</script>'
        '<a href="javascript:alert(1)">bad</a><a href="https://example.org" target="_blank">ok</a>',
        confidentiality="<iframe src='https://example.org'></iframe><em>Moderators</em>",
        published_at=timezone.now(),
    )
    terms = client_for(seeker).get("/api/v1/groups/agreement").json()
    assert terms["version"] == 99
    assert "onclick" not in terms["body"]
    assert "<script" not in terms["body"]
    assert "javascript:" not in terms["body"]
    assert '<a href="https://example.org">ok</a>' in terms["body"]
    assert terms["confidentiality"] == "<em>Moderators</em>"


# The page ----------------------------------------------------------------------------------------


def test_groups_page_shows_the_agreement_and_join(seeker, meeting, agreement):
    page = client_for(seeker).get("/groups/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Evening group" in html
    assert 'data-action="join"' in html
    assert f'data-version="{group_agreement().version}"' in html
    assert "Be kind to each other." in html
    assert "peerchat/groups.js" in html
    assert "<script>" not in html and "style=" not in html  # strict CSP: nothing inline
    for word in ("banned", "violation", "offender"):
        assert word not in html.lower()


def test_groups_page_gives_members_the_chat_and_mute(supporter, seeker, meeting):
    join(meeting, seeker)
    html = client_for(seeker).get("/groups/").content.decode()
    assert f'href="/chat/#room={meeting.room_id}"' in html
    assert 'data-action="mute" data-handle="Alex"' in html
    assert 'data-action="join"' not in html
    assert 'data-action="remove-start"' not in html
    assert 'data-action="open"' not in html


def test_groups_page_gives_the_facilitator_open_and_remove(supporter, seeker, meeting):
    join(meeting, seeker)
    html = client_for(supporter).get("/groups/").content.decode()
    assert 'data-action="open"' in html
    assert f'data-action="remove-start" data-handle="{seeker.handle}"' in html
    assert 'data-action="remove-start" data-handle="Alex"' not in html


def test_groups_page_sends_signed_out_people_home(db):
    response = Client().get("/groups/")
    assert (response.status_code, response["Location"]) == (302, "/")


# The socket --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_closed_group_refuses_sends_until_the_facilitator_opens_it(supporter):
    @database_sync_to_async
    def setup():
        group_agreement()
        meeting = make_meeting(supporter)
        seeker, other = seeker_create(), seeker_create()
        join(meeting, seeker)
        join(meeting, other)
        return meeting, seeker, other

    meeting, seeker, other = await setup()
    room_id = meeting.room_id
    sam = await open_socket(seeker)
    alex = await open_socket(supporter)
    joined, _ = await sam.join(room_id)
    assert joined["group"]["open"] is False
    assert joined["muted"] == []
    await alex.join(room_id)

    cid = str(uuid.uuid4())
    await sam.send({"type": "send", "room": room_id, "client_msg_id": cid, "body": "hello"})
    error = await sam.recv_type("error")
    assert (error["code"], error["room"], error["client_msg_id"]) == ("group_closed", room_id, cid)
    assert "opens when the facilitator arrives" in error["detail"]
    assert await alex.nothing()

    # The facilitator can greet people before opening.
    await alex.send(
        {"type": "send", "room": room_id, "client_msg_id": str(uuid.uuid4()), "body": "Hi all"}
    )
    await alex.ack_and_message()
    assert (await sam.recv_type("message"))["body"] == "Hi all"

    await database_sync_to_async(group_open)(meeting=meeting, by=supporter)
    for socket in (sam, alex):
        frame = await socket.recv_type("group")
        assert (frame["room"], frame["open"], frame["members"]) == (room_id, True, 2)

    await sam.send({"type": "send", "room": room_id, "client_msg_id": cid, "body": "hello"})
    ack, message = await sam.ack_and_message()
    assert (ack["status"], message["body"]) == ("delivered", "hello")
    assert (await alex.recv_type("message"))["body"] == "hello"

    # Muting reaches only the muting person's sockets.
    await database_sync_to_async(member_mute)(room=meeting.room, user=seeker, handle=other.handle)
    assert await sam.recv() == {"type": "muted", "room": room_id, "handles": [other.handle]}
    assert await alex.nothing()

    # Removal takes the room off the person's sockets at once.
    await database_sync_to_async(group_member_remove)(
        meeting=meeting, by=supporter, handle=seeker.handle, reason="Needed a break"
    )
    assert await sam.recv() == {"type": "left", "room": room_id, "reason": "removed"}
    frame = await alex.recv_type("group")
    assert frame["members"] == 1
    await sam.close()
    await alex.close()


# Races -------------------------------------------------------------------------------------------


@pytest.fixture
def shared_database(transactional_db, tmp_path):
    """Give every thread a real connection to one database that they contend for.

    On SQLite the test database lives in memory with a shared cache, where a second writer
    fails at once ("database table is locked") instead of waiting its turn. So the data is
    copied to a file, and the test runs against that, as the embedded server does (WAL,
    IMMEDIATE transactions, a busy timeout). PostgreSQL needs nothing.
    """
    if connection.vendor != "sqlite":
        yield
        return
    path = tmp_path / "groups.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    settings_dict = connection.settings_dict
    name, in_memory = settings_dict["NAME"], connections["default"]
    settings_dict["NAME"] = str(path)
    connections["default"] = connections.create_connection("default")
    try:
        yield
    finally:
        connections["default"].close()
        settings_dict["NAME"] = name
        connections["default"] = in_memory


def run_together(count: int, work) -> list:
    """Run `work(i)` in `count` threads released at once; return each result or error."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as error:  # noqa: BLE001 - returned to the test
            results[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def codes(results) -> list[str]:
    """Each result's outcome: "ok" or the refusal's code (anything else fails the test)."""
    outcome = []
    for result in results:
        if isinstance(result, PeerchatError):
            outcome.append(result.code)
        elif isinstance(result, BaseException):
            raise result
        else:
            outcome.append("ok")
    return outcome


def concurrent_joins(*, threads: int, max_members: int) -> None:
    group_agreement()
    meeting = make_meeting(make_supporter(), max_members=max_members)
    people = [seeker_create() for _ in range(threads)]
    outcome = codes(run_together(threads, lambda i: join(meeting, people[i])))
    assert outcome.count("ok") == max_members
    assert outcome.count("group_full") == threads - max_members
    joined = {people[i].pk for i, code in enumerate(outcome) if code == "ok"}
    assert (
        set(
            Membership.objects.filter(room=meeting.room, role="seeker").values_list(
                "user_id", flat=True
            )
        )
        == joined
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_never_go_over_the_size(shared_database):
    concurrent_joins(threads=8, max_members=3)


@pytest.mark.django_db(transaction=True)
def test_two_tabs_joining_at_once_get_the_same_place(shared_database):
    group_agreement()
    meeting = make_meeting(make_supporter(), max_members=1)
    seeker = seeker_create()
    results = run_together(4, lambda i: join(meeting, seeker))
    assert codes(results) == ["ok"] * 4
    assert len({membership.pk for membership in results}) == 1
    assert AgreementAcceptance.objects.filter(user=seeker).count() == 1


@pytest.mark.django_db(transaction=True)
def test_double_clicks_on_open_and_remove_act_once(shared_database):
    group_agreement()
    facilitator = make_supporter()
    meeting = make_meeting(facilitator)
    seeker = seeker_create()
    join(meeting, seeker)
    opened = run_together(4, lambda i: group_open(meeting=meeting, by=facilitator))
    assert codes(opened) == ["ok"] * 4
    assert len({result.opened_at for result in opened}) == 1
    removed = run_together(
        4,
        lambda i: group_member_remove(
            meeting=meeting, by=facilitator, handle=seeker.handle, reason="r"
        ),
    )
    assert codes(removed) == ["ok"] * 4
    assert len({entry.pk for entry in removed}) == 1
    assert AuditEntry.objects.filter(action="group_opened").count() == 1
    assert AuditEntry.objects.filter(action="group_member_removed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_mutes_store_one(shared_database):
    group_agreement()
    meeting = make_meeting(make_supporter())
    ash, bo = seeker_create(), seeker_create()
    join(meeting, ash)
    join(meeting, bo)
    results = run_together(4, lambda i: member_mute(room=meeting.room, user=ash, handle=bo.handle))
    assert results == [[bo.handle]] * 4
    assert Mute.objects.count() == 1


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgres://...)")


@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_never_go_over_the_size_on_postgres(postgres_only):
    """Row locks, not SQLite's single writer, keep the count: many rounds to catch a race."""
    for _ in range(5):
        concurrent_joins(threads=16, max_members=5)


def test_the_sweep_closes_a_group_left_open_past_its_end(meeting):
    group_open(meeting=meeting, by=meeting.facilitator)
    facilitator_presence_touch(  # the facilitator is still there at the end
        facilitator_id=meeting.facilitator_id, now=meeting.ends_at - timedelta(minutes=2)
    )
    assert support_sweep(now=meeting.ends_at - timedelta(minutes=1)).groups_closed == 0
    result = support_sweep(now=meeting.ends_at + timedelta(seconds=1))
    meeting.refresh_from_db()
    assert (result.groups_closed, meeting.opened_at) == (1, None)
    entry = AuditEntry.objects.filter(action="group_closed").get()
    assert (entry.actor, entry.detail["why"]) == (None, "ended")


def test_an_open_group_closes_when_its_facilitator_has_gone(meeting):
    group_open(meeting=meeting, by=meeting.facilitator)
    now = timezone.now()
    facilitator_presence_touch(facilitator_id=meeting.facilitator_id, now=now)
    assert support_sweep(now=now + timedelta(seconds=299)).groups_closed == 0
    facilitator_presence_touch(
        facilitator_id=meeting.facilitator_id, now=now + timedelta(seconds=200)
    )
    assert support_sweep(now=now + timedelta(seconds=400)).groups_closed == 0
    result = support_sweep(now=now + timedelta(seconds=501))
    meeting.refresh_from_db()
    assert (result.groups_closed, meeting.opened_at) == (1, None)
    assert AuditEntry.objects.get(action="group_closed").detail["why"] == "facilitator_away"


@pytest.mark.django_db(transaction=True)
async def test_a_facilitators_open_page_keeps_their_group_open(settings, supporter):
    settings.SUPPORT = {**settings.SUPPORT, "PRESENCE_INTERVAL_SECONDS": 0.05}
    await database_sync_to_async(group_agreement)()
    meeting = await database_sync_to_async(make_meeting)(supporter)
    await database_sync_to_async(group_open)(meeting=meeting, by=supporter)
    opened = await GroupMeeting.objects.aget(pk=meeting.pk)
    socket = await open_socket(supporter)
    await socket.nothing(0.3)
    seen = await GroupMeeting.objects.aget(pk=meeting.pk)
    assert seen.facilitator_seen_at > opened.facilitator_seen_at
    await socket.close()
