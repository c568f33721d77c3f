"""Reads for moderators: the review queue, notices, policy additions, reported cases."""

import json

from moderation.filter.verdict import CATEGORIES
from moderation.models import FilterCase, PolicyTerm, Screening
from moderation.screening import review_item, sender_note
from peerchat.frames import utc
from peerchat.models import Message, User

RECENT_ALERTS = 50
RECENTLY_DECIDED = 30
HELD_SHOWN_TO_SENDER = 20


def _screenings():
    return Screening.objects.select_related(
        "message__sender",
        "room__support_session__seeker",
        "room__support_session__supporter",
        "reviewed_by",
    ).prefetch_related("notes__author")


def screening_get(*, screening_id: int) -> Screening:
    return _screenings().get(pk=screening_id)


def review_queue() -> dict:
    """Waiting items (oldest first), recently decided ones, and delivered notices (newest first)."""
    waiting = _screenings().filter(review=Screening.Review.PENDING).order_by("created_at")
    decided = (
        _screenings()
        .filter(review__in=[Screening.Review.RELEASED, Screening.Review.KEPT])
        .order_by("-reviewed_at")[:RECENTLY_DECIDED]
    )
    alerts = (
        _screenings()
        .filter(review=Screening.Review.NOT_NEEDED)
        .order_by("-created_at")[:RECENT_ALERTS]
    )
    return {
        "items": [review_item(s) for s in waiting],
        "decided": [review_item(s) for s in decided],
        "alerts": [review_item(s) for s in alerts],
    }


def review_queue_frame() -> dict:
    return {"type": "review_queue", **review_queue()}


def held_for_sender(*, room_id: int, user: User) -> list[dict]:
    """The user's own messages in the room that nobody else sees (waiting, or kept back), for
    `joined`: after a reload their sender still finds them, with the same kind note."""
    messages = (
        Message.objects.filter(
            room_id=room_id,
            sender=user,
            seq__isnull=True,
            # Not once the retention purge has cleared it.
            removed_at__isnull=True,
            status__in=[Message.Status.HELD, Message.Status.BLOCKED],
            screening__review__in=[Screening.Review.PENDING, Screening.Review.KEPT],
        )
        .select_related("screening")
        .order_by("-sent_at")[:HELD_SHOWN_TO_SENDER]
    )
    return [
        {
            "client_msg_id": str(message.client_msg_id),
            "body": message.body,
            "status": message.status,
            "sent_at": utc(message.sent_at),
            **sender_note(message, message.screening),
        }
        for message in reversed(messages)
    ]


def policy_terms() -> list[dict]:
    terms = PolicyTerm.objects.active().select_related("added_by")
    return [policy_term_dict(term) for term in terms]


def policy_term_dict(term: PolicyTerm) -> dict:
    return {
        "id": term.pk,
        "group": term.group,
        "term": term.term,
        "note": term.note,
        "added_by": term.added_by.handle if term.added_by_id else None,
        "added_at": utc(term.added_at),
    }


def filter_case_dict(case: FilterCase) -> dict:
    return {
        "id": case.pk,
        "kind": case.kind,
        "expected": case.expected,
        "text": case.text,
        "room_kind": case.room_kind,
        "got_action": case.got_action,
        "got_rule_ids": case.got_rule_ids,
        "policy_version": case.policy_version,
        "note": case.note,
        "created_at": utc(case.created_at),
    }


def filter_cases_jsonl() -> str:
    """Reported cases as corpus lines (moderation/corpus/cases.jsonl), without identities."""
    lines = []
    for case in FilterCase.objects.order_by("created_at"):
        positive = case.expected in CATEGORIES
        lines.append(
            json.dumps(
                {
                    "id": f"reported-{case.pk}",
                    "label": case.expected if positive else "reported_ok",
                    "text": case.text,
                    "room_kind": case.room_kind,
                    "expect": {
                        "action": _expected_action(case.expected, case.room_kind),
                        "escalate": case.expected == "imminent",
                    },
                    "reported": case.kind,
                    "got": {"action": case.got_action, "rule_ids": case.got_rule_ids},
                    "policy_version": case.policy_version,
                },
                ensure_ascii=False,
            )
        )
    return "\n".join(lines) + ("\n" if lines else "")


def _expected_action(label: str, room_kind: str) -> str:
    return {
        "method": "hold",
        "encouragement": "block",
        "graphic": "hold" if room_kind == "group" else "content_warning",
        "contact": "mask",
        "links": "hold",
    }.get(label, "allow")
