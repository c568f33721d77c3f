"""What happens to a message the filter did not simply allow: its record, the sender's kind
note, and what moderators are told (DESIGN §7).

Used by `peerchat.services.messages.message_send` inside its transaction; depends only on
models and events, so the message service and the moderation services can both import it.
"""

from django.conf import settings

from moderation.filter import Verdict
from moderation.models import Screening
from peerchat import events
from peerchat.frames import utc
from peerchat.models import Message, Room

# Every socket of an on-duty moderator or admin that watches the `moderation` topic.
MODERATION_GROUP = "staff.moderation"

CONTENT_WARNING_GRAPHIC = "graphic"
CONTENT_WARNING_UPSETTING = "upsetting"

# What the sender reads, privately, in place of "delivered". Never "violation" (DESIGN §2).
NOTES = {
    "held": (
        "Only you can see this for now. Some of it might be hard for others here to read, so "
        "a moderator will look at it soon and may share it after that. You can keep talking: "
        "{who} still here."
    ),
    "blocked": (
        "This message wasn't shared. You can keep talking, and if things feel like a lot right "
        "now, the free numbers below are there any time."
    ),
    "masked": (
        "Your message was shared with the contact details hidden, to keep everyone here safe."
    ),
    "content_warning": (
        "Your message was shared. Others see it behind a note saying it may be upsetting."
    ),
    "escalate": (
        "Thank you for telling us. Your message was shared, and someone from the team will "
        "check in. If you're in danger right now, these numbers are free and there any time."
    ),
}


def message_status_for(verdict: Verdict) -> str:
    if verdict.action == "hold":
        return Message.Status.HELD
    if verdict.action == "block":
        return Message.Status.BLOCKED
    if verdict.masked_text is not None:
        return Message.Status.MASKED
    return Message.Status.DELIVERED


def content_warning_for(verdict: Verdict) -> str:
    if verdict.action != "content_warning":
        return ""
    if "graphic" in verdict.categories:
        return CONTENT_WARNING_GRAPHIC
    return CONTENT_WARNING_UPSETTING


def needs_record(verdict: Verdict) -> bool:
    return verdict.action != "allow" or verdict.escalate or bool(verdict.categories)


def screening_record(*, message: Message, verdict: Verdict, room: Room, typed: str) -> Screening:
    """Store the verdict beside `message` and tell moderators once the transaction commits."""
    screening = Screening(
        message=message,
        room=room,
        room_kind=room.kind,
        action=verdict.action,
        escalate=verdict.escalate,
        categories=list(verdict.categories),
        rule_ids=list(verdict.rule_ids),
        spans=[[span.start, span.end, span.rule] for span in verdict.spans],
        policy_version=verdict.policy_version,
        original_body=typed if typed != message.body else "",
        review=(
            Screening.Review.PENDING
            if verdict.action in ("hold", "block")
            else Screening.Review.NOT_NEEDED
        ),
    )
    screening.save()
    moderation_publish(screening)
    return screening


def moderation_publish(screening: Screening) -> None:
    """On commit, send moderators the item: to review, or to know about."""
    frame_type = (
        "review_item" if screening.review != Screening.Review.NOT_NEEDED else "filter_alert"
    )
    item = review_item(screening)
    events.publish_on_commit(
        MODERATION_GROUP,
        {
            "kind": "watch",
            "topic": "moderation",
            "text": events.encode({"type": frame_type, "item": item}),
        },
    )


def review_item(screening: Screening) -> dict:
    """The moderators' view of a screened message (`message.sender` and `room` loaded)."""
    message = screening.message
    room = screening.room
    return {
        "id": screening.pk,
        "room": room.pk,
        "room_kind": screening.room_kind,
        "room_name": _room_name(room),
        "sender": {"handle": message.sender.handle, "role": message.sender_role},
        "body": screening.original_body or message.body,
        "delivered_body": (
            message.body if message.seq is not None and message.removed_at is None else None
        ),
        "action": screening.action,
        "escalate": screening.escalate,
        "categories": screening.categories,
        "rule_ids": screening.rule_ids,
        "spans": screening.spans,
        "policy_version": screening.policy_version,
        "review": screening.review,
        "reviewed_by": screening.reviewed_by.handle if screening.reviewed_by_id else None,
        "reviewed_at": utc(screening.reviewed_at) if screening.reviewed_at else None,
        "created_at": utc(screening.created_at),
        "seq": message.seq,
        "notes": [
            {
                "author": note.author.handle if note.author_id else "someone",
                "body": note.body,
                "created_at": utc(note.created_at),
            }
            for note in screening.notes.select_related("author")
        ]
        if screening.pk
        else [],
    }


def _room_name(room: Room) -> str:
    if room.kind == Room.Kind.ONE_TO_ONE:
        session = getattr(room, "support_session", None)
        if session is not None:
            supporter = session.supporter.handle if session.supporter_id else "no supporter"
            return f"Chat: {session.seeker.handle} with {supporter}"
    return str(room)


def sender_note(message: Message, screening: Screening | None) -> dict:
    """What the sender's ack adds when the filter changed anything: a note, resources."""
    if screening is None:
        return {}
    extra: dict = {}
    resources = settings.CRISIS_RESOURCES
    if message.status == Message.Status.HELD and screening.review == Screening.Review.PENDING:
        who = "your supporter is" if screening.room_kind == Room.Kind.ONE_TO_ONE else "everyone is"
        extra = {"note": NOTES["held"].format(who=who), "resources": resources}
    elif message.status in (Message.Status.HELD, Message.Status.BLOCKED) and (
        screening.review in (Screening.Review.PENDING, Screening.Review.KEPT)
    ):
        extra = {"note": NOTES["blocked"], "resources": resources}
    elif screening.escalate:
        extra = {"note": NOTES["escalate"], "resources": resources}
    elif message.status == Message.Status.MASKED:
        extra = {"note": NOTES["masked"]}
    elif message.content_warning:
        extra = {"note": NOTES["content_warning"]}
    if screening.escalate:
        extra["escalate"] = True
    return extra
