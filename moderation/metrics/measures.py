"""Every figure evaluators see, defined once: what it counts, the words shown beside it, and the
rows it is counted from.

A `Counts` measure counts rows per week, split by one breakdown whose columns add up to the
row's "All" (a partition: every row falls in exactly one column). A `Times` measure gives the
median and 90th percentile of a time between two moments. `Hours` adds up hours on shift.
Each is counted by the week (or month) of the moment named in `when`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Case, CharField, F, Q, QuerySet, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from moderation.filter.verdict import CATEGORIES
from moderation.metrics.sql import Seconds
from moderation.models import Escalation, Screening
from peerchat.models import Booking, Debrief, Feedback, Shift, SupportRequest, SupportSession

ALL = "all"


@dataclass(frozen=True)
class Breakdown:
    """How a measure's rows are split: an SQL expression giving each row's column key."""

    title: str
    # (key, label) in display order, or a function giving them (columns read from settings).
    choices: tuple[tuple[str, str], ...] | Callable[[], tuple[tuple[str, str], ...]]
    expression: Callable[[datetime], object]

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        return self.choices() if callable(self.choices) else tuple(self.choices)


@dataclass(frozen=True)
class Counts:
    key: str
    title: str
    definition: str
    rows: Callable[[datetime], QuerySet]
    when: str
    breakdown: Breakdown
    section: str = ""
    unit: str = "count"
    # When this measure's "All" counts exactly what one figure of another measure counts
    # (measure key, column key): the two are one figure, protected together.
    total_of: tuple[str, str] | None = None

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        return (*self.breakdown.columns, (ALL, "All"))


@dataclass(frozen=True)
class Times:
    key: str
    title: str
    definition: str
    rows: Callable[[datetime], QuerySet]
    when: str
    seconds: Callable[[], object]
    section: str = ""
    unit: str = "minutes"
    columns: tuple[tuple[str, str], ...] = (("median", "Median"), ("p90", "90th percentile"))


@dataclass(frozen=True)
class Hours:
    key: str
    title: str
    definition: str
    rows: Callable[[datetime], QuerySet]
    when: str
    seconds: Callable[[], object]
    who: str
    section: str = ""
    unit: str = "hours"
    columns: tuple[tuple[str, str], ...] = field(default=((ALL, "Hours"),))


Measure = Counts | Times | Hours


# Breakdowns ----------------------------------------------------------------------------------


def _by_value(field_name: str, columns, *, other: str | None = None):
    """Column key = the field's value when it is one of `columns`, else `other`."""

    def expression(now):
        return Case(
            *[When(**{field_name: key}, then=Value(key)) for key, _ in columns if key != other],
            default=Value(other or ""),
            output_field=CharField(),
        )

    return expression


def _topics() -> tuple[tuple[str, str], ...]:
    return (
        *((code, label) for code, label in settings.SUPPORT["TOPICS"]),
        ("not_given", "Not given"),
        ("other", "A topic no longer offered"),
    )


def _topic_expression(now):
    codes = [code for code, _ in settings.SUPPORT["TOPICS"]]
    return Case(
        When(topic="", then=Value("not_given")),
        *[When(topic=code, then=Value(code)) for code in codes],
        default=Value("other"),
        output_field=CharField(),
    )


REQUEST_STATES = (
    ("matched", "Matched with a supporter"),
    ("left", "Left while waiting"),
    ("gone", "Page stopped answering while waiting"),
    ("waiting", "Still waiting"),
)

SESSION_ENDS = (
    ("completed", "Completed"),
    ("seeker_gone", "Seeker did not come back in time"),
    ("moderator_ended", "Ended by a moderator"),
    ("seeker_deleted", "Seeker deleted their data"),
    ("active", "Still going"),
)


def _session_end_expression(now):
    completed = [SupportSession.EndReason.SEEKER_ENDED, SupportSession.EndReason.SUPPORTER_ENDED]
    return Case(
        When(state=SupportSession.State.ACTIVE, then=Value("active")),
        When(end_reason__in=completed, then=Value("completed")),
        When(end_reason=SupportSession.EndReason.SEEKER_GONE, then=Value("seeker_gone")),
        When(end_reason=SupportSession.EndReason.MODERATOR_ENDED, then=Value("moderator_ended")),
        default=Value("seeker_deleted"),
        output_field=CharField(),
    )


CONTINUITY = (
    ("same", "Got the supporter they asked for"),
    ("not_on_shift", "That supporter was not on shift"),
    ("wait_expired", "That supporter stayed busy"),
    ("unsettled", "Left or matched before it was settled"),
)

SCORES = tuple((str(n), str(n)) for n in range(1, 6))

RETURN = (("yes", "Yes"), ("maybe", "Maybe"), ("no", "No"))

CATEGORY_COLUMNS = (
    ("method", "Method or means detail"),
    ("encouragement", "Encouragement"),
    ("graphic", "Graphic description"),
    ("contact", "Contact details"),
    ("imminent", "Imminent danger"),
    ("links", "Links"),
    ("none", "No category"),
)
assert {key for key, _ in CATEGORY_COLUMNS} == {*CATEGORIES, "none"}


ACTIONS = (
    ("mask", "Contact details masked"),
    ("content_warning", "Behind a content warning"),
    # Held and not delivered are one column: together they are what moderators review.
    ("reviewed", "Held or not delivered, for review"),
    ("allow", "Delivered and escalated"),
)


def _action_expression(now):
    return Case(
        When(action__in=["hold", "block"], then=Value("reviewed")),
        When(action="mask", then=Value("mask")),
        When(action="content_warning", then=Value("content_warning")),
        default=Value("allow"),
        output_field=CharField(),
    )


ROOM_KINDS = (("one_to_one", "One-to-one"), ("group", "Group"), ("other", "Other"))

REVIEWS = (
    ("released", "Released by a moderator"),
    ("kept", "Kept back by a moderator"),
    ("pending", "Still waiting for review"),
)

DEBRIEF_OUTCOMES = (
    ("on_time", "Held on time"),
    ("late", "Held late"),
    ("overdue", "Overdue, not yet held"),
    ("upcoming", "Not yet due"),
    ("not_needed", "Not needed"),
)


def _debrief_expression(now):
    done = Q(state=Debrief.State.DONE)
    return Case(
        When(done & Q(completed_at__lte=F("due_by")), then=Value("on_time")),
        When(done, then=Value("late")),
        When(state=Debrief.State.CANCELLED, then=Value("not_needed")),
        When(due_by__lt=now, then=Value("overdue")),
        default=Value("upcoming"),
        output_field=CharField(),
    )


SUPERVISION_STATES = (
    ("attended", "Attended"),
    ("missed", "Missed"),
    ("not_recorded", "Not recorded yet"),
)


def _supervision_expression(now):
    return Case(
        When(state=Booking.State.ATTENDED, then=Value("attended")),
        When(state=Booking.State.MISSED, then=Value("missed")),
        default=Value("not_recorded"),
        output_field=CharField(),
    )


def _first_category(queryset: QuerySet) -> QuerySet:
    # Cast keeps PostgreSQL's ->> and SQLite's json_extract both giving text.
    return queryset.annotate(_first_category=Cast(KeyTextTransform("0", "categories"), CharField()))


def _category_expression(now):
    return Case(
        *[When(_first_category=key, then=Value(key)) for key in CATEGORIES],
        default=Value("none"),
        output_field=CharField(),
    )


# The measures ------------------------------------------------------------------------------

SESSIONS = "Sessions and the queue"
FEEDBACK = "Feedback from seekers"
FILTER = "Content filter and moderators"
ESCALATIONS = "Escalations"
SUPPORTERS = "Supporters' wellbeing and supervision"

MEASURES: tuple[Measure, ...] = (
    Counts(
        key="requests",
        section=SESSIONS,
        title="Sessions requested",
        definition='Requests to talk to a supporter ("I need to talk"), by the week the seeker '
        "asked, split by the topic they chose, if any.",
        rows=lambda now: SupportRequest.objects.all(),
        when="created_at",
        breakdown=Breakdown("Topic the seeker chose", _topics, _topic_expression),
    ),
    Counts(
        key="request_outcomes",
        section=SESSIONS,
        title="What happened to requests",
        definition="The same requests, by what became of them: matched with a supporter (a "
        "session started), left by the seeker while waiting, or lost when the seeker's page "
        "stopped answering for the grace period.",
        rows=lambda now: SupportRequest.objects.all(),
        when="created_at",
        breakdown=Breakdown("Outcome", REQUEST_STATES, _by_value("state", REQUEST_STATES)),
        total_of=("requests", ALL),
    ),
    Counts(
        key="sessions",
        section=SESSIONS,
        title="Sessions started and how they ended",
        definition="One-to-one sessions by the week they started. Completed: the seeker or the "
        "supporter closed it. The others ended when the seeker's page did not come back within "
        "the grace period, a moderator ended it, or the seeker deleted their data.",
        rows=lambda now: SupportSession.objects.all(),
        when="started_at",
        breakdown=Breakdown("How it ended", SESSION_ENDS, _session_end_expression),
    ),
    Times(
        key="queue_wait",
        section=SESSIONS,
        title="Wait for a supporter",
        definition="Minutes from asking to talk until a supporter took the session, for "
        "requests that were matched, by the week the seeker asked.",
        rows=lambda now: SupportRequest.objects.filter(
            state=SupportRequest.State.MATCHED, matched_at__isnull=False
        ),
        when="created_at",
        seconds=lambda: Seconds("matched_at", "created_at"),
    ),
    Counts(
        key="urgent_requests",
        section=SESSIONS,
        title="Urgent requests",
        definition="Requests the seeker marked urgent by answering that they were not safe "
        "right now (their own answer; nothing here predicts risk), by what became of them.",
        rows=lambda now: SupportRequest.objects.filter(urgent=True),
        when="created_at",
        breakdown=Breakdown("Outcome", REQUEST_STATES, _by_value("state", REQUEST_STATES)),
    ),
    Times(
        key="urgent_wait",
        section=SESSIONS,
        title="Wait for a supporter, urgent requests",
        definition="Minutes from asking to being matched, for urgent requests that were "
        "matched, by the week the seeker asked.",
        rows=lambda now: SupportRequest.objects.filter(
            urgent=True, state=SupportRequest.State.MATCHED, matched_at__isnull=False
        ),
        when="created_at",
        seconds=lambda: Seconds("matched_at", "created_at"),
    ),
    Times(
        key="session_duration",
        section=SESSIONS,
        title="Session length",
        definition="Minutes from the start of a one-to-one session to its end, for sessions "
        "that have ended, by the week they started.",
        rows=lambda now: SupportSession.objects.filter(ended_at__isnull=False),
        when="started_at",
        seconds=lambda: Seconds("ended_at", "started_at"),
    ),
    Counts(
        key="continuity",
        section=SESSIONS,
        title="Continuity: asked for the same supporter",
        definition="Requests from returning seekers who asked for the supporter they talked "
        "to before, by whether they got them.",
        rows=lambda now: SupportRequest.objects.filter(
            Q(preferred_supporter__isnull=False) | ~Q(continuity="")
        ),
        when="created_at",
        breakdown=Breakdown(
            "Result",
            CONTINUITY,
            _by_value("continuity", CONTINUITY, other="unsettled"),
        ),
    ),
    Counts(
        key="feedback_listened",
        section=FEEDBACK,
        title='"I felt listened to"',
        definition="Seekers' answers after a session, from 1 (not at all) to 5 (very much), by "
        "the week they answered. Answering is optional.",
        rows=lambda now: Feedback.objects.filter(listened__isnull=False),
        when="created_at",
        breakdown=Breakdown("Answer", SCORES, _by_value("listened", SCORES)),
    ),
    Counts(
        key="feedback_helpful",
        section=FEEDBACK,
        title='"The session helped"',
        definition="Seekers' answers after a session, from 1 (not at all) to 5 (very much), by "
        "the week they answered.",
        rows=lambda now: Feedback.objects.filter(helpful__isnull=False),
        when="created_at",
        breakdown=Breakdown("Answer", SCORES, _by_value("helpful", SCORES)),
    ),
    Counts(
        key="feedback_return",
        section=FEEDBACK,
        title='"I would come back"',
        definition="Whether seekers said they would use the service again, by the week they "
        "answered.",
        rows=lambda now: Feedback.objects.exclude(would_return=""),
        when="created_at",
        breakdown=Breakdown("Answer", RETURN, _by_value("would_return", RETURN)),
    ),
    Counts(
        key="filter_categories",
        section=FILTER,
        title="Messages the filter acted on, by category",
        definition="Messages the content filter did not simply deliver (masked, behind a "
        "warning, held, not delivered, or escalated), by the first category it named.",
        rows=lambda now: _first_category(Screening.objects.all()),
        when="created_at",
        breakdown=Breakdown("Main category", CATEGORY_COLUMNS, _category_expression),
    ),
    Counts(
        key="filter_actions",
        section=FILTER,
        title="Messages the filter acted on, by action",
        definition="The same messages by what the filter did with them. Held messages and "
        "messages not delivered are counted together: both go to moderators for review.",
        rows=lambda now: Screening.objects.all(),
        when="created_at",
        breakdown=Breakdown("Action", ACTIONS, _action_expression),
        total_of=("filter_categories", ALL),
    ),
    Counts(
        key="filter_room_kinds",
        section=FILTER,
        title="Messages the filter acted on, by kind of room",
        definition="The same messages by where they were sent: a one-to-one session or a "
        "group, whose rules differ (graphic descriptions are held in groups).",
        rows=lambda now: Screening.objects.all(),
        when="created_at",
        breakdown=Breakdown(
            "Kind of room",
            ROOM_KINDS,
            _by_value("room_kind", ROOM_KINDS, other="other"),
        ),
        total_of=("filter_categories", ALL),
    ),
    Counts(
        key="filter_review",
        section=FILTER,
        title="Moderators' decisions on held messages",
        definition="Held and undelivered messages by the moderators' decision. Released "
        "messages are those the filter held that a moderator judged fine: the more released, "
        "the less precise the filter.",
        rows=lambda now: Screening.objects.exclude(review=Screening.Review.NOT_NEEDED),
        when="created_at",
        breakdown=Breakdown("Decision", REVIEWS, _by_value("review", REVIEWS)),
        total_of=("filter_actions", "reviewed"),
    ),
    Counts(
        key="escalations",
        section=ESCALATIONS,
        title="Escalations, by what raised them",
        definition="Escalations (someone may be in danger) by the week they opened and what "
        "raised them first. Later signals in the same chat attach to the open one.",
        rows=lambda now: Escalation.objects.all(),
        when="opened_at",
        breakdown=Breakdown(
            "Raised by", tuple(Escalation.Kind.choices), _by_value("kind", Escalation.Kind.choices)
        ),
    ),
    Times(
        key="escalation_acknowledged",
        section=ESCALATIONS,
        title="Time for a moderator to take an escalation on",
        definition="Minutes from an escalation opening until a moderator acknowledged it, by "
        "the week it opened.",
        rows=lambda now: Escalation.objects.filter(acknowledged_at__isnull=False),
        when="opened_at",
        seconds=lambda: Seconds("acknowledged_at", "opened_at"),
    ),
    Counts(
        key="escalation_outcomes",
        section=ESCALATIONS,
        title="Escalations, by outcome",
        definition="How each escalation was resolved, by the week it opened.",
        rows=lambda now: Escalation.objects.all(),
        when="opened_at",
        breakdown=Breakdown(
            "Outcome",
            (*Escalation.Outcome.choices, ("unresolved", "Not resolved yet")),
            _by_value(
                "outcome",
                (*Escalation.Outcome.choices, ("unresolved", "")),
                other="unresolved",
            ),
        ),
        total_of=("escalations", ALL),
    ),
    Hours(
        key="supporter_hours",
        section=SUPPORTERS,
        title="Supporter hours on shift",
        definition="Hours supporters were on shift (from going on to going off), by the week "
        "the shift started.",
        rows=lambda now: Shift.objects.filter(started_at__isnull=False, ended_at__isnull=False),
        when="started_at",
        seconds=lambda: Seconds("ended_at", "started_at"),
        who="supporter",
    ),
    Counts(
        key="debriefs",
        section=SUPPORTERS,
        title="Debriefs after escalations",
        definition="Debriefs supporters were due with a supervisor after an escalation in "
        "their chat, by the week they fell due, and whether they were held by the deadline.",
        rows=lambda now: Debrief.objects.all(),
        when="due_by",
        breakdown=Breakdown("Timeliness", DEBRIEF_OUTCOMES, _debrief_expression),
    ),
    Counts(
        key="supervision",
        section=SUPPORTERS,
        title="Supervision sessions",
        definition="Supervision bookings (not cancelled) by the week of the session, and "
        "whether the supervisor recorded the supporter as attending.",
        rows=lambda now: Booking.objects.filter(purpose=Booking.Purpose.SUPERVISION).exclude(
            state=Booking.State.CANCELLED
        ),
        when="slot__starts_at",
        breakdown=Breakdown("Attendance", SUPERVISION_STATES, _supervision_expression),
    ),
)

BY_KEY = {measure.key: measure for measure in MEASURES}
