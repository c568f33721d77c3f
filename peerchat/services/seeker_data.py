"""A seeker's control of their data: download everything held about them, or delete it.

Deleting keeps the rows that figures are counted from (requests, sessions, feedback scores)
but cuts them loose from the person, empties every message they wrote (each keeps its `seq`,
so rooms stay gapless and other people see "message removed by sender"), and leaves an
account row that can never sign in again.
"""

import secrets
import uuid
from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from moderation.models import MessageRemoval, Screening
from peerchat import events
from peerchat.errors import Forbidden
from peerchat.frames import utc
from peerchat.models import (
    AgreementAcceptance,
    Feedback,
    HandoverNote,
    Membership,
    Message,
    Mute,
    Room,
    SafetyPlan,
    SafetyPlanShare,
    SupportRequest,
    SupportSession,
    User,
)
from peerchat.services.messages import messages_removed_publish
from peerchat.services.queue import support_request_leave
from peerchat.services.rooms import room_member_remove
from peerchat.services.safety_plans import safety_plan_frame
from peerchat.services.sessions import session_end

EXPORT_FORMAT = "peerchat-my-data"
EXPORT_VERSION = 1
# Frames stay well under the socket's frame limit however many messages a person wrote.

STAFF_NOTES_EXPLANATION = (
    "Supporters sometimes write a short handover note after a chat, or when they pass a chat "
    "to a colleague, so that whoever helps you next can do it well. These notes are working "
    "notes for staff, so this download says how many there are but not what they say. If you "
    "would like to know what they say, you can ask the service."
)

ABOUT_EXPORT = (
    "Everything peerchat holds about you: your account, the agreements you accepted, your "
    "requests for support, your chats with the full conversation of each one-to-one chat, "
    "the messages you wrote in groups, feedback you gave, your safety plan and the people you "
    "muted. Times are in UTC."
)


def seeker_data_export(*, seeker: User) -> dict:
    """Return everything held about the seeker as a JSON-serialisable dict (ISO 8601 times).

    One-to-one chats come with their full transcript (both sides: the seeker saw it all);
    group rooms with the seeker's own messages only. Staff handover notes are counted, not
    copied. Nobody else's data is included beyond what the seeker saw.
    """
    _seeker_only(seeker)
    sessions = list(
        SupportSession.objects.filter(seeker=seeker)
        .select_related("supporter", "room")
        .order_by("started_at", "pk")
    )
    session_ids = [s.pk for s in sessions]
    feedback = {f.session_id: f for f in Feedback.objects.filter(session_id__in=session_ids)}
    note_counts = dict(
        HandoverNote.objects.filter(session_id__in=session_ids)
        .values("session_id")
        .annotate(n=Count("pk"))
        .values_list("session_id", "n")
    )

    member_rooms = set(Membership.objects.filter(user=seeker).values_list("room_id", flat=True))
    written_rooms = set(
        Message.objects.filter(sender=seeker).values_list("room_id", flat=True).distinct()
    )
    rooms = Room.objects.in_bulk(member_rooms | written_rooms | {s.room_id for s in sessions})
    one_to_one = {pk for pk, room in rooms.items() if room.kind == Room.Kind.ONE_TO_ONE}
    groups = {pk for pk, room in rooms.items() if room.kind == Room.Kind.GROUP}

    # Both sides of one-to-one chats as the seeker saw them (visible messages, plus their own
    # that were held back); in groups, only what they wrote.
    messages = (
        Message.objects.filter(
            Q(room_id__in=one_to_one, seq__isnull=False)
            | Q(room_id__in=one_to_one | groups, sender=seeker)
        )
        .select_related("sender")
        .order_by("room_id", "sent_at", "pk")
    )
    by_room = defaultdict(list)
    for message in messages:
        by_room[message.room_id].append(_message_entry(message, seeker=seeker))

    session_rooms = {s.room_id for s in sessions}
    plan = SafetyPlan.objects.filter(seeker=seeker).first()
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": utc(timezone.now()),
        "about": ABOUT_EXPORT,
        "account": {
            "handle": seeker.handle,
            "role": seeker.role,
            "created_at": utc(seeker.date_joined),
            "last_signed_in_at": _time(seeker.last_login),
        },
        "agreements_accepted": [
            {
                "kind": a.agreement.kind,
                "version": a.agreement.version,
                "title": a.agreement.title,
                "accepted_at": utc(a.accepted_at),
            }
            for a in AgreementAcceptance.objects.filter(user=seeker)
            .select_related("agreement")
            .order_by("accepted_at", "pk")
        ],
        "support_requests": [
            _request_entry(r)
            for r in SupportRequest.objects.filter(seeker=seeker).order_by("created_at", "pk")
        ],
        "chats": [
            _session_entry(
                s,
                feedback=feedback.get(s.pk),
                notes=note_counts.get(s.pk, 0),
                transcript=by_room.get(s.room_id, []),
            )
            for s in sessions
        ],
        # One-to-one rooms outside a support session (set up by staff, for example).
        "other_conversations": [
            {"room": pk, "name": str(rooms[pk]), "messages": by_room.get(pk, [])}
            for pk in sorted(one_to_one - session_rooms)
        ],
        "group_rooms": [
            {"room": pk, "name": str(rooms[pk]), "your_messages": by_room.get(pk, [])}
            for pk in sorted(groups)
        ],
        "staff_notes": {
            "count": sum(note_counts.values()),
            "why_not_included": STAFF_NOTES_EXPLANATION,
        },
        "safety_plan": _plan_entry(plan),
        "mutes": [
            {
                "room": m.room_id,
                "room_name": str(m.room),
                "muted": m.muted.handle,
                "muted_at": utc(m.created_at),
            }
            for m in Mute.objects.filter(user=seeker)
            .select_related("room", "muted")
            .order_by("created_at", "pk")
        ],
    }


def seeker_data_delete(*, seeker: User, now: datetime | None = None) -> bool:
    """Delete the seeker's data in one transaction; return False if it was already deleted.

    Their chat in progress ends (reason `seeker_deleted`) and they leave the queue. Every
    message they sent keeps its place and `seq` with an empty body; each affected room is told
    which `seq`s were removed. Their safety plan and its shares, mutes they set and agreement
    acceptances are deleted, they leave every room, their requests, sessions and feedback are
    cut loose from them (feedback comments are emptied: free text can identify), and the
    account row stays only as an anonymous, inactive placeholder that can never sign in.
    Closing the sockets of the request that asked for this is the caller's job (it knows the
    session key).
    """
    _seeker_only(seeker)
    now = now or timezone.now()
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=seeker.pk, is_active=True).first()
        if user is None:
            return False  # deleted already (a double click, a second tab)

        # Out of the queue first: no match can start a new chat while this runs.
        support_request_leave(seeker=user, state=SupportRequest.State.LEFT, now=now)

        # The supporter's page stops showing the plan before the chat's end arrives.
        shared_rooms = list(
            SafetyPlanShare.objects.filter(
                plan__seeker=user,
                withdrawn_at__isnull=True,
                session__state=SupportSession.State.ACTIVE,
            ).values_list("session__room_id", flat=True)
        )
        SafetyPlanShare.objects.filter(plan__seeker=user, withdrawn_at__isnull=True).update(
            withdrawn_at=now
        )
        for room_id in shared_rooms:
            events.room_state_on_commit(room_id, safety_plan_frame(room_id=room_id, shared=False))

        # Lock their rooms (in a fixed order), so a message they are sending from another tab
        # right now is either in before this and emptied, or refused after it.
        list(
            Room.objects.select_for_update()
            .filter(memberships__user=user)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        _messages_remove(user=user, now=now)

        session = SupportSession.objects.filter(
            seeker=user, state=SupportSession.State.ACTIVE
        ).first()
        if session is not None:
            session_end(
                session=session, by=user, reason=SupportSession.EndReason.SEEKER_DELETED, now=now
            )

        SafetyPlan.objects.filter(seeker=user).delete()  # its shares go with it
        Mute.objects.filter(user=user).delete()
        AgreementAcceptance.objects.filter(user=user).delete()
        Feedback.objects.filter(session__seeker=user).update(comment="")
        SupportRequest.objects.filter(seeker=user).update(seeker=None)
        SupportSession.objects.filter(seeker=user).update(seeker=None)

        for membership in Membership.objects.filter(user=user).select_related("room"):
            room_member_remove(room=membership.room, user=user)

        # Every socket of theirs closes, on every process, whatever signed it in.
        events.publish_on_commit(
            events.USERS_GROUP, {"kind": "control", "user": user.pk, "action": "account_closed"}
        )
        user.handle = f"removed-{secrets.token_hex(8)}"
        user.username = f"removed-{uuid.uuid4().hex}"
        user.set_unusable_password()  # also ends every session and websocket ticket
        user.is_active = False
        user.email = user.first_name = user.last_name = ""
        user.last_login = None
        user.save(
            update_fields=[
                "handle",
                "username",
                "password",
                "is_active",
                "email",
                "first_name",
                "last_name",
                "last_login",
            ]
        )
    # The caller's copy must not go on looking like a live account.
    seeker.refresh_from_db()
    return True


def _messages_remove(*, user: User, now: datetime) -> None:
    """Empty every message the user sent and tell each room which seqs were removed."""
    Message.objects.filter(sender=user, removed_at__isnull=True).update(
        body="", removed_at=now, removed_by=Message.RemovedBy.SENDER
    )
    # Staff copies of the text as typed go too: masked originals and removed messages.
    Screening.objects.filter(message__sender=user).update(original_body="")
    MessageRemoval.objects.filter(message__sender=user).update(original_body="")
    messages_removed_publish(
        Message.objects.filter(sender=user, removed_at=now, seq__isnull=False)
        .order_by("room_id", "seq")
        .values_list("room_id", "seq"),
        by=Message.RemovedBy.SENDER.value,
    )


def _seeker_only(user: User) -> None:
    if not user.is_seeker:
        raise Forbidden("This is for people looking for support.")


def _time(moment: datetime | None) -> str | None:
    return utc(moment) if moment is not None else None


def _message_entry(message: Message, *, seeker: User) -> dict:
    removed = message.removed_at is not None
    return {
        "seq": message.seq,
        "from": message.sender.handle,
        "role": message.sender_role,
        "yours": message.sender_id == seeker.pk,
        "text": "" if removed else message.body,
        "sent_at": utc(message.sent_at),
        "status": message.status,
        "removed": removed,
    }


def _request_entry(request: SupportRequest) -> dict:
    topics = dict(settings.SUPPORT["TOPICS"])
    return {
        "asked_at": utc(request.created_at),
        "topic": topics.get(request.topic, request.topic),
        "safe_now_answer": request.get_safe_now_display() if request.safe_now else None,
        "urgent": request.urgent,
        "asked_for_previous_supporter": request.preferred_supporter_id is not None,
        "state": request.state,
        "outcome": request.get_state_display(),
        "matched_at": _time(request.matched_at),
        "closed_at": _time(request.closed_at),
    }


def _session_entry(
    session: SupportSession, *, feedback: Feedback | None, notes: int, transcript: list[dict]
) -> dict:
    return {
        "room": session.room_id,
        "started_at": utc(session.started_at),
        "ended_at": _time(session.ended_at),
        "state": session.state,
        "supporter": session.supporter.handle if session.supporter else None,
        "end_reason": session.end_reason or None,
        "how_it_ended": session.get_end_reason_display() if session.end_reason else None,
        "feedback_you_gave": None
        if feedback is None
        else {
            "listened": feedback.listened,
            "helpful": feedback.helpful,
            "would_return": feedback.would_return or None,
            "comment": feedback.comment,
            "given_at": utc(feedback.created_at),
        },
        "staff_notes_count": notes,
        "transcript": transcript,
    }


def _plan_entry(plan: SafetyPlan | None) -> dict | None:
    if plan is None:
        return None
    return {
        **{name: getattr(plan, name) for name in SafetyPlan.FIELDS},
        "updated_at": utc(plan.updated_at),
        "shared_in_chats": [
            {
                "room": share.session.room_id,
                "shared_at": utc(share.shared_at),
                "withdrawn_at": _time(share.withdrawn_at),
            }
            for share in plan.shares.select_related("session").order_by("shared_at", "pk")
        ],
    }
