"""Moderators' decisions on screened messages, and their additions to the filter policy.

Every decision is audited (AuditEntry) and sent live to the other moderators after commit.
"""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from moderation import filter as content_filter
from moderation.filter import policy as filter_policy
from moderation.filter.verdict import CATEGORIES, ROOM_KINDS, Verdict
from moderation.models import AuditEntry, FilterCase, PolicyState, PolicyTerm, ReviewNote, Screening
from moderation.screening import moderation_publish
from moderation.selectors import screening_get
from peerchat.errors import Conflict, NotFound, PeerchatError
from peerchat.models import Message, User
from peerchat.services.messages import message_body_check, message_publish, room_seq_take


class BadRequest(PeerchatError):
    code = "invalid_request"


NOTE_MAX_CHARS = 2000
TERM_MAX_CHARS = 120
EXPECTED_LABELS = (*CATEGORIES, "ok")


def _locked_pending(screening_id: int) -> Screening:
    try:
        screening = Screening.objects.select_for_update(of=("self",)).get(pk=screening_id)
    except Screening.DoesNotExist:
        raise NotFound("There is no such message to review.") from None
    if screening.review != Screening.Review.PENDING:
        who = screening.reviewed_by.handle if screening.reviewed_by_id else "another moderator"
        raise Conflict(
            f"{who} already decided about this message ({screening.get_review_display()}).",
            code="already_reviewed",
        )
    return screening


def _audit(*, actor: User, action: str, screening: Screening, **detail) -> None:
    AuditEntry.objects.create(
        actor=actor,
        action=action,
        room_id=screening.room_id,
        subject_id=screening.message.sender_id,
        detail={"screening": screening.pk, "rule_ids": screening.rule_ids, **detail},
    )


def _note_clean(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX_CHARS:
        raise BadRequest(f"Notes can be up to {NOTE_MAX_CHARS} characters.")
    return note


def screening_release(*, screening_id: int, moderator: User, note: str = "") -> Screening:
    """Deliver a held or blocked message to its room, numbered with the room's next `seq`."""
    note = _note_clean(note)
    with transaction.atomic():
        screening = _locked_pending(screening_id)
        message = (
            Message.objects.select_for_update()
            .select_related("sender")
            .get(pk=screening.message_id)
        )
        if message.removed_by == Message.RemovedBy.RETENTION:
            raise Conflict(
                "This message is older than the service keeps messages, and its text has "
                "been cleared, so it can't be shared.",
                code="message_removed",
            )
        if message.removed_at is not None or not message.sender.is_active:
            raise Conflict(
                "The sender has since deleted their data, so this can't be shared.",
                code="message_removed",
            )
        message.seq = room_seq_take(message.room_id)
        message.status = (
            Message.Status.MASKED if screening.original_body else Message.Status.DELIVERED
        )
        message.save(update_fields=["seq", "status"])
        screening.review = Screening.Review.RELEASED
        screening.reviewed_by = moderator
        screening.reviewed_at = timezone.now()
        screening.save(update_fields=["review", "reviewed_by", "reviewed_at"])
        if note:
            ReviewNote.objects.create(screening=screening, author=moderator, body=note)
        _audit(actor=moderator, action="filter_release", screening=screening, seq=message.seq)
        message_publish(message)
        screening = screening_get(screening_id=screening.pk)
        moderation_publish(screening)
    return screening


def screening_keep(*, screening_id: int, moderator: User, note: str = "") -> Screening:
    """Keep a held or blocked message back for good; the sender still sees it as not shared."""
    note = _note_clean(note)
    with transaction.atomic():
        screening = _locked_pending(screening_id)
        screening.review = Screening.Review.KEPT
        screening.reviewed_by = moderator
        screening.reviewed_at = timezone.now()
        screening.save(update_fields=["review", "reviewed_by", "reviewed_at"])
        if note:
            ReviewNote.objects.create(screening=screening, author=moderator, body=note)
        screening = screening_get(screening_id=screening.pk)
        _audit(actor=moderator, action="filter_keep", screening=screening)
        moderation_publish(screening)
    return screening


def screening_note_add(*, screening_id: int, moderator: User, body: str) -> Screening:
    body = _note_clean(body)
    if not body:
        raise BadRequest("The note is empty.")
    with transaction.atomic():
        try:
            screening = Screening.objects.select_for_update(of=("self",)).get(pk=screening_id)
        except Screening.DoesNotExist:
            raise NotFound("There is no such message to review.") from None
        ReviewNote.objects.create(screening=screening, author=moderator, body=body)
        screening = screening_get(screening_id=screening.pk)
        _audit(actor=moderator, action="filter_note", screening=screening)
        moderation_publish(screening)
    return screening


def _case_fields(kind: str, expected: str, room_kind: str) -> None:
    if kind not in FilterCase.Kind.values:
        raise BadRequest("'kind' must be false_positive or missed.")
    if expected not in EXPECTED_LABELS:
        raise BadRequest("'expected' must be one of: " + ", ".join(EXPECTED_LABELS) + ".")
    if room_kind not in ROOM_KINDS:
        raise BadRequest("'room_kind' must be one_to_one or group.")


def screening_report(
    *, screening_id: int, moderator: User, kind: str, expected: str, note: str = ""
) -> FilterCase:
    """Turn a screened message into a test case, without who sent it or where."""
    try:
        screening = screening_get(screening_id=screening_id)
    except Screening.DoesNotExist:
        raise NotFound("There is no such message to review.") from None
    _case_fields(kind, expected, screening.room_kind)
    with transaction.atomic():
        case = FilterCase.objects.create(
            kind=kind,
            expected=expected,
            text=screening.original_body or screening.message.body,
            room_kind=screening.room_kind,
            got_action=screening.action,
            got_rule_ids=screening.rule_ids,
            policy_version=screening.policy_version,
            note=_note_clean(note)[:300],
            reported_by=moderator,
        )
        _audit(actor=moderator, action="filter_case_report", screening=screening, case=case.pk)
    return case


def filter_case_report(
    *, moderator: User, text: str, room_kind: str, kind: str, expected: str, note: str = ""
) -> FilterCase:
    """Record a phrase (from the "try a phrase" box) as a test case."""
    _case_fields(kind, expected, room_kind)
    message_body_check(text)
    verdict = content_filter.check(text, room_kind=room_kind)
    with transaction.atomic():
        case = FilterCase.objects.create(
            kind=kind,
            expected=expected,
            text=text,
            room_kind=room_kind,
            got_action=verdict.action,
            got_rule_ids=list(verdict.rule_ids),
            policy_version=verdict.policy_version,
            note=_note_clean(note)[:300],
            reported_by=moderator,
        )
        AuditEntry.objects.create(
            actor=moderator, action="filter_case_report", detail={"case": case.pk}
        )
    return case


def filter_try(*, text: str, room_kind: str) -> Verdict:
    """The verdict the current policy gives `text` (moderators' "try a phrase" box)."""
    if room_kind not in ROOM_KINDS:
        raise BadRequest("'room_kind' must be one_to_one or group.")
    message_body_check(text)
    return content_filter.check(text, room_kind=room_kind)


# Policy additions -------------------------------------------------------------------------------


def policy_groups() -> list[str]:
    """Groups moderators may add to: every term list, and the link allow-list."""
    return [*filter_policy.policy_files().groups(), filter_policy.ALLOWED_DOMAIN_GROUP]


def _revision_bump() -> None:
    state, _ = PolicyState.objects.get_or_create(pk=1)
    PolicyState.objects.filter(pk=state.pk).update(revision=F("revision") + 1)
    # This process sees the change at once; the others within FILTER["RELOAD_SECONDS"].
    transaction.on_commit(filter_policy.forget)


def policy_term_add(*, moderator: User, group: str, term: str, note: str = "") -> PolicyTerm:
    term = " ".join((term or "").split())
    if group not in policy_groups():
        raise BadRequest("That is not one of the policy's groups.")
    if not term or len(term) > TERM_MAX_CHARS:
        raise BadRequest(f"A term is 1 to {TERM_MAX_CHARS} characters.")
    if group != filter_policy.ALLOWED_DOMAIN_GROUP and not any(c.isalnum() for c in term):
        raise BadRequest("A term needs at least one letter or digit.")
    with transaction.atomic():
        if PolicyTerm.objects.active().filter(group=group, term__iexact=term).exists():
            raise Conflict("That term is already in this group.", code="term_exists")
        added = PolicyTerm.objects.create(
            group=group, term=term, note=_note_clean(note)[:300], added_by=moderator
        )
        _revision_bump()
        AuditEntry.objects.create(
            actor=moderator,
            action="filter_term_add",
            detail={"term_id": added.pk, "group": group},
        )
    return added


def policy_term_remove(*, moderator: User, term_id: int) -> None:
    with transaction.atomic():
        updated = (
            PolicyTerm.objects.active()
            .filter(pk=term_id)
            .update(removed_at=timezone.now(), removed_by=moderator)
        )
        if not updated:
            raise NotFound("There is no such term (it may have been removed already).")
        _revision_bump()
        AuditEntry.objects.create(
            actor=moderator, action="filter_term_remove", detail={"term_id": term_id}
        )


def policy_version() -> str:
    return filter_policy.current_filter().version
