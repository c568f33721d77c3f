"""Weeks of finished, made-up history for the demo, so the evaluator's figures (DESIGN.md §10),
computed by aggregate queries over the real tables, have something to show.

`demo_history_seed` writes support requests and one-to-one chats, placeholder messages (never
realistic text: "demo message 3"), the filter's screenings (all decided), escalations (all
resolved) and their debriefs (all held), shifts with after-shift check-ins, group supervision and
a weekly group. All of it ends at least four days before `now`, and nothing is left waiting, open,
active, booked or due, so the live demo looks as it did: no prompts, no alerts, no rooms.

The people in it are the demo supporters (Alex, Sam, Robin) and the demo moderator (Kai), so the
supervisor's records and roster describe the same people the demo shows; seekers are made up,
with generated handles and usernames starting `seeker-history-`, which is how a second run knows
the history is already there. History rooms get no supporter memberships: a supporter's room
list (`rooms_for_user`) holds every room they belong to, and the demo's lists stay as they were.

Everything is planned in memory, then written with `bulk_create`; fields the models stamp with
`auto_now_add` are set back to their historical times by a follow-up UPDATE.
"""

import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from moderation.filter.policy import policy_files
from moderation.models import Escalation, EscalationEvent, EscalationTrigger, Screening
from moderation.screening import CONTENT_WARNING_GRAPHIC
from peerchat.handles import handle_generate
from peerchat.models import (
    AgreementAcceptance,
    Booking,
    Debrief,
    Feedback,
    GroupMeeting,
    HandoverNote,
    Membership,
    Message,
    Room,
    Shift,
    ShiftCheckIn,
    SlotKind,
    SlotPurpose,
    SupervisionSlot,
    SupportRequest,
    SupportSession,
    TrainingModule,
    TrainingRecord,
    User,
)
from peerchat.selectors.support import agreement_current

HISTORY_USERNAME_PREFIX = "seeker-history-"
# The history ends this long before `now`: after-shift check-ins are asked for only within
# SUPERVISION["CHECKIN_WINDOW_DAYS"], and nothing should still be recent on any page.
QUIET_BEFORE_NOW = timedelta(days=4)
DEMO_SUPPORTERS = {"peer": "supporter1", "senior": "supporter2", "trainee": "trainee1"}
DEMO_MODERATOR = "moderator"
BATCH = 500

# Opening hours and who works them, by weekday (Monday 0): (start hour, end hour, levels on).
# Hours past 24 are after midnight. Odd weeks swap the peer and the senior on Monday-Thursday.
ROTA = {
    0: [(18, 23, ("peer",))],
    1: [(18, 23, ("senior", "trainee"))],
    2: [(18, 23, ("peer",))],
    3: [(18, 23, ("senior", "trainee"))],
    4: [(18, 25, ("peer", "senior"))],
    5: [(14, 19, ("senior",)), (19, 25, ("peer", "trainee"))],
    6: [(14, 19, ("peer",)), (19, 25, ("senior",))],
}
# More requests late in the evening and at weekends.
DAY_WEIGHT = {0: 0.85, 1: 0.85, 2: 0.9, 3: 0.95, 4: 1.15, 5: 1.2, 6: 1.25}
HOUR_WEIGHT = {14: 1.0, 15: 1.0, 16: 1.1, 17: 1.2, 18: 1.2, 19: 1.3, 20: 1.5, 21: 1.8}
HOUR_WEIGHT.update({22: 2.0, 23: 2.0, 24: 1.6})

SUPERVISION_WEEKDAY, SUPERVISION_AT = 1, time(10, 30)  # group supervision, Tuesdays
SUPERVISION_EVERY_WEEKS = {"peer": 3, "senior": 4, "trainee": 3}
# Weeks before the last group supervision that each level last came: their statuses stay "ok",
# and the supervisor's roster keeps its order (soonest due first: Alex, Robin, Sam).
SUPERVISION_LAST_OFFSET = {"peer": 1, "senior": 2, "trainee": 0}
GROUP_WEEKDAY, GROUP_AT, GROUP_MINUTES = 2, time(15, 30), 75
DEBRIEF_HOURS = (12, 13, 16)

OUTCOMES = {
    Escalation.Outcome.SUPPORTED: 35,
    Escalation.Outcome.SIGNPOSTED: 25,
    Escalation.Outcome.NO_IMMEDIATE_RISK: 22,
    Escalation.Outcome.EMERGENCY_SERVICES: 9,
    Escalation.Outcome.SAFEGUARDING: 9,
}
ESCALATION_KINDS = {
    Escalation.Kind.FILTER: 45,
    Escalation.Kind.SUPPORTER: 30,
    Escalation.Kind.SEEKER: 15,
    Escalation.Kind.MODERATOR: 10,
}
# What the filter flagged, by who sent it (imminent danger comes with the escalations).
SCREENED_CATEGORIES = {
    "seeker": {"method": 30, "graphic": 22, "contact": 25, "links": 15, "encouragement": 3},
    "supporter": {"links": 60, "contact": 40},
    "group": {"graphic": 35, "method": 25, "contact": 20, "encouragement": 10, "links": 10},
}
SCREENED_SHARE = {"seeker": 0.05, "supporter": 0.012, "group": 0.05}
# How often moderators released what was held or blocked, by category.
RELEASED_SHARE = {"method": 0.25, "links": 0.55, "encouragement": 0.1, "graphic": 0.4}
CONTACT_RULES = ("contact.phone", "contact.email", "contact.handle", "contact.platform")


class DemoHistoryError(Exception):
    """The history can't be made here (the demo accounts are missing)."""


def demo_history_seed(*, weeks: int = 26, now: datetime | None = None, seed: int = 7) -> dict:
    """Write `weeks` of finished history ending at least four days before `now`; return counts.

    Run once: if history seeded earlier is there, nothing is written and the answer says so.
    The same `seed` and `now` give the same figures.
    """
    if weeks < 1:
        raise DemoHistoryError("Ask for at least one week of history.")
    now = now or timezone.now()
    if User.objects.filter(username__startswith=HISTORY_USERNAME_PREFIX).exists():
        return {"already_seeded": True}
    supporters = {
        level: User.objects.filter(username=username, role=User.Role.SUPPORTER).first()
        for level, username in DEMO_SUPPORTERS.items()
    }
    moderator = User.objects.filter(username=DEMO_MODERATOR, role=User.Role.MODERATOR).first()
    one_to_one = agreement_current(kind=Room.Kind.ONE_TO_ONE)
    group = agreement_current(kind=Room.Kind.GROUP)
    if None in supporters.values() or moderator is None:
        raise DemoHistoryError("The demo accounts are missing: run `manage.py seed_demo` first.")
    if one_to_one is None or group is None:
        raise DemoHistoryError("There are no published agreements: run `manage.py migrate`.")
    history = _History(
        weeks=weeks,
        now=now,
        rng=random.Random(seed),
        supporters=supporters,
        moderator=moderator,
        agreements={Room.Kind.ONE_TO_ONE: one_to_one, Room.Kind.GROUP: group},
    )
    history.plan()
    with transaction.atomic():
        return history.write()


# Planning ---------------------------------------------------------------------------------------


@dataclass
class _Seeker:
    user: User
    # Their last finished chat, for "the same supporter again" (None: none to ask for).
    last_supporter: User | None = None
    # A returning seeker comes back a day or more after their last visit.
    back_from: datetime | None = None
    # When they first accepted each kind of agreement.
    accepted: dict = field(default_factory=dict)


@dataclass
class _Run:
    """A shift as the planned matching sees it: who, when they take chats, and their chats."""

    shift: Shift
    level: str
    capacity: int
    chats: list = field(default_factory=list)  # (start, end)
    last_assigned: datetime | None = None
    escalated: bool = False

    def takes(self, moment: datetime) -> bool:
        return self.shift.started_at <= moment < self.shift.ends_at - timedelta(minutes=5)

    def active(self, moment: datetime) -> int:
        # Chats planned to start later count too: a request that arrived later may be matched
        # earlier than one still waiting, and the chat it starts must not overlap a full load.
        return sum(1 for _start, end in self.chats if end > moment)

    def free(self, moment: datetime) -> bool:
        return self.takes(moment) and self.active(moment) < self.capacity


@dataclass
class _Chat:
    request: SupportRequest
    session: SupportSession
    run: _Run
    messages: list = field(default_factory=list)


class _History:
    def __init__(self, *, weeks, now, rng, supporters, moderator, agreements):
        self.rng = rng
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.cutoff = now - QUIET_BEFORE_NOW
        # The last day whose evening (and the chats running on past midnight) ends well before
        # the cutoff; the first day is a Monday, so every weekly figure but the last is whole.
        self.last_day = timezone.localtime(self.cutoff - timedelta(hours=6), self.tz).date()
        self.last_day -= timedelta(days=1)
        self.first_day = self.last_day - timedelta(days=7 * (weeks - 1) + self.last_day.weekday())
        self.weeks = weeks
        self.supporters = supporters
        self.moderator = moderator
        self.agreements = agreements
        self.policy = policy_files()
        self.topics = [code for code, _label in settings.SUPPORT["TOPICS"]]
        self.capacity = settings.SUPPORT["CAPACITY_BY_LEVEL"]
        self.continuity_wait = timedelta(minutes=settings.SUPPORT["CONTINUITY_WAIT_MINUTES"])
        self.session_grace = timedelta(seconds=settings.SUPPORT["SESSION_GRACE_SECONDS"])
        self.queue_grace = timedelta(seconds=settings.SUPPORT["QUEUE_GRACE_SECONDS"])
        self.taken_handles = set(User.objects.values_list("handle", flat=True))
        self.seekers: list[_Seeker] = []
        self.runs: list[_Run] = []
        self.requests: list[SupportRequest] = []
        self.chats: list[_Chat] = []
        self.rooms: list[Room] = []
        self.memberships: list[Membership] = []
        self.messages: list[Message] = []
        self.screenings: list[Screening] = []
        self.screened: set[int] = set()  # id() of the planned messages that have a screening
        self.meetings: list[GroupMeeting] = []
        self.escalations: list[Escalation] = []
        self.triggers: list[EscalationTrigger] = []
        self.events: list[EscalationEvent] = []
        self.debriefs: list[Debrief] = []
        self.slots: list[SupervisionSlot] = []
        self.bookings: list[Booking] = []
        self.feedback: list[Feedback] = []
        self.notes: list[HandoverNote] = []
        self.checkins: list[ShiftCheckIn] = []
        self.requests_by_week = [0] * weeks

    # Time ---------------------------------------------------------------------------------------

    def at(self, day: date, hours: float) -> datetime:
        """The wall-clock time `hours` after midnight starting `day` (past 24: the next day)."""
        whole = int(hours)
        local = datetime.combine(
            day + timedelta(days=whole // 24), time(whole % 24), tzinfo=self.tz
        ) + timedelta(hours=hours - whole)
        return local.astimezone(UTC)

    def days(self):
        day = self.first_day
        while day <= self.last_day:
            yield day
            day += timedelta(days=1)

    def week_of(self, day: date) -> int:
        return (day - self.first_day).days // 7

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))

    def pick(self, weights: dict):
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    # The plan -----------------------------------------------------------------------------------

    def plan(self) -> None:
        targets = self._weekly_targets()
        by_day: dict[date, int] = {}
        for week, target in enumerate(targets):
            days = [d for d in self.days() if self.week_of(d) == week]
            weights = [DAY_WEIGHT[d.weekday()] for d in days]
            for day in self.rng.choices(days, weights=weights, k=target):
                by_day[day] = by_day.get(day, 0) + 1
        for day in self.days():
            runs = self._shifts(day)
            for arrival in self._arrivals(day, by_day.get(day, 0)):
                self._request(arrival, runs)
                self.requests_by_week[self.week_of(day)] += 1
            if day.weekday() == GROUP_WEEKDAY:
                self._group_meeting(day)
        for chat in self.chats:
            self._conversation(chat)
        self._escalations()
        self._after_chats()
        self._after_shifts()
        self._group_supervision()

    def _weekly_targets(self) -> list[int]:
        """Requests a week: a rising trend, a two-week bump (a campaign), and some noise."""
        bump = {int(self.weeks * 0.6), int(self.weeks * 0.6) + 1} if self.weeks >= 4 else set()
        full = sum(DAY_WEIGHT.values())
        targets = []
        for week in range(self.weeks):
            trend = week / (self.weeks - 1) if self.weeks > 1 else 1.0
            target = (48 + 24 * trend) * (1.3 if week in bump else 1.0)
            target = min(85, max(44, target * self.rng.uniform(0.92, 1.08)))
            days = [d for d in self.days() if self.week_of(d) == week]
            share = sum(DAY_WEIGHT[d.weekday()] for d in days) / full
            targets.append(round(target * share))
        return targets

    def _shifts(self, day: date) -> list[_Run]:
        swap = self.week_of(day) % 2 == 1 and day.weekday() < 4
        runs = []
        for start, end, levels in ROTA[day.weekday()]:
            for level in levels:
                if swap:
                    level = {"peer": "senior", "senior": "peer"}.get(level, level)
                starts_at = self.at(day, start)
                shift = Shift(
                    supporter=self.supporters[level],
                    starts_at=starts_at,
                    ends_at=self.at(day, end),
                    started_at=starts_at + self.minutes(-10, 3),
                )
                runs.append(_Run(shift=shift, level=level, capacity=int(self.capacity[level])))
        self.runs += runs
        return runs

    def _arrivals(self, day: date, count: int) -> list[datetime]:
        hours = [h for start, end, _ in ROTA[day.weekday()] for h in range(start, end)]
        last = max(hours)
        arrivals = []
        for hour in self.rng.choices(hours, weights=[HOUR_WEIGHT[h] for h in hours], k=count):
            # Not in the last quarter of an hour before closing.
            arrivals.append(self.at(day, hour + self.rng.uniform(0, 0.75 if hour == last else 1)))
        return sorted(arrivals)

    # Requests and matching ----------------------------------------------------------------------

    def _request(self, arrival: datetime, runs: list[_Run]) -> None:
        rng = self.rng
        urgent = rng.random() < 0.10
        if urgent:
            safe_now = rng.choice([SupportRequest.SafeNow.NO, SupportRequest.SafeNow.NOT_SURE])
        else:
            safe_now = rng.choices([SupportRequest.SafeNow.YES, ""], weights=[65, 35])[0]
        seeker = self._seeker(arrival)
        preferred = self._asks_for(seeker, arrival, runs)
        request = SupportRequest(
            seeker=seeker.user,
            agreement=self.agreements[Room.Kind.ONE_TO_ONE],
            safe_now=safe_now,
            urgent=urgent,
            topic=self._topic(),
            preferred_supporter=preferred,
            preferred_until=arrival + self.continuity_wait if preferred else None,
            created_at=arrival,
        )
        self._accept(seeker, Room.Kind.ONE_TO_ONE, arrival)
        self.requests.append(request)
        # Waits of a few minutes (urgent ones shorter); some people leave whatever happens.
        patience = timedelta(minutes=rng.lognormvariate(math.log(13), 0.45))
        if rng.random() < 0.15:
            patience = self.minutes(1.5, 9)
        median = 0.9 if urgent else 3.2
        wait = timedelta(minutes=max(0.15, rng.lognormvariate(math.log(median), 0.75)))
        run, matched_at, continuity = self._match(request, arrival, arrival + wait, runs)
        if run is None or matched_at - arrival > patience:
            gave_up = arrival + patience
            if rng.random() < 0.65:
                request.state, request.seen_at = SupportRequest.State.LEFT, gave_up
                request.closed_at = gave_up
            else:  # their page stopped answering; the queue's grace period ran out
                request.state, request.seen_at = SupportRequest.State.GONE, gave_up
                request.closed_at = gave_up + self.queue_grace
            seeker.back_from = request.closed_at + timedelta(days=1)
            return
        request.state = SupportRequest.State.MATCHED
        request.matched_at = request.seen_at = matched_at
        request.continuity = continuity
        self._chat(request, seeker, run, matched_at)

    def _seeker(self, arrival: datetime) -> _Seeker:
        returning = [s for s in self.seekers[-200:] if s.back_from and s.back_from <= arrival]
        if returning and self.rng.random() < 0.32:
            seeker = self.rng.choice(returning)
            seeker.back_from = None  # until this visit is over
            return seeker
        return self._new_seeker(arrival)

    def _new_seeker(self, joined: datetime) -> _Seeker:
        while True:
            handle = handle_generate(self.rng)
            if handle not in self.taken_handles:
                break
        self.taken_handles.add(handle)
        user = User(
            username=f"{HISTORY_USERNAME_PREFIX}{self.uuid().hex}",
            role=User.Role.SEEKER,
            handle=handle,
            date_joined=joined,
        )
        user.set_unusable_password()
        seeker = _Seeker(user=user)
        self.seekers.append(seeker)
        return seeker

    def _accept(self, seeker: _Seeker, kind: str, moment: datetime) -> None:
        first = seeker.accepted.get(kind)
        seeker.accepted[kind] = moment if first is None else min(first, moment)

    def _asks_for(self, seeker: _Seeker, arrival: datetime, runs: list[_Run]) -> User | None:
        """A returning seeker often asks for their last supporter, more so when on shift."""
        supporter = seeker.last_supporter
        if supporter is None:
            return None
        on_shift = any(r.shift.supporter is supporter and r.takes(arrival) for r in runs)
        return supporter if self.rng.random() < (0.8 if on_shift else 0.3) else None

    def _topic(self) -> str:
        if not self.topics or self.rng.random() < 0.12:
            return ""
        weights = [len(self.topics) - i + 1 for i in range(len(self.topics))]
        return self.rng.choices(self.topics, weights=weights)[0]

    def _match(self, request: SupportRequest, arrival: datetime, ready: datetime, runs):
        """(run, when, continuity), as the queue would have matched it; run None: nobody."""
        continuity = SupportRequest.Continuity.NOT_ASKED
        if request.preferred_supporter is not None:
            own = [
                r
                for r in runs
                if r.shift.supporter is request.preferred_supporter and r.takes(arrival)
            ]
            if not own:
                continuity = SupportRequest.Continuity.NOT_ON_SHIFT
            else:
                found = self._first_free(own, ready, until=arrival + self.continuity_wait)
                if found is not None:
                    return found[1][0], found[0], SupportRequest.Continuity.SAME
                continuity = SupportRequest.Continuity.WAIT_EXPIRED
                ready = max(ready, arrival + self.continuity_wait)
        found = self._first_free(runs, ready, until=arrival + timedelta(hours=1))
        if found is None:
            return None, None, continuity
        moment, free = found
        if request.urgent:
            free = [r for r in free if r.level != "trainee"] or free
        run = min(
            free,
            key=lambda r: (
                r.active(moment) / r.capacity,
                r.last_assigned or datetime.min.replace(tzinfo=UTC),
                self.rng.random(),
            ),
        )
        return run, moment, continuity

    def _first_free(self, runs: list[_Run], ready: datetime, *, until: datetime):
        """The first moment from `ready` (up to `until`) someone in `runs` has a place."""
        moments = {ready}
        for run in runs:
            moments.update(end for _start, end in run.chats if ready < end <= until)
            if ready < run.shift.started_at <= until:
                moments.add(run.shift.started_at)
        for moment in sorted(moments):
            free = [r for r in runs if r.free(moment)]
            if free:
                return moment, free
        return None

    def _chat(self, request: SupportRequest, seeker: _Seeker, run: _Run, start: datetime):
        rng = self.rng
        length = timedelta(minutes=rng.triangular(15, 70, 30))
        end = start + length
        reason = self.pick(
            {
                SupportSession.EndReason.SEEKER_ENDED: 52,
                SupportSession.EndReason.SUPPORTER_ENDED: 38,
                SupportSession.EndReason.SEEKER_GONE: 10,
            }
        )
        gone = reason == SupportSession.EndReason.SEEKER_GONE
        room = Room(kind=Room.Kind.ONE_TO_ONE, created_at=start)
        session = SupportSession(
            room=room,
            request=request,
            seeker=seeker.user,
            supporter=run.shift.supporter,
            state=SupportSession.State.ENDED,
            phase=SupportSession.Phase.TALKING if gone else SupportSession.Phase.CLOSING,
            started_at=start,
            ended_at=end,
            end_reason=reason,
            seeker_seen_at=end - self.session_grace if gone else end,
        )
        run.chats.append((start, end))
        run.last_assigned = start
        self.rooms.append(room)
        self.memberships.append(
            Membership(room=room, user=seeker.user, role=Membership.Role.SEEKER, joined_at=start)
        )
        self.chats.append(_Chat(request=request, session=session, run=run))
        seeker.last_supporter = None if gone else run.shift.supporter
        seeker.back_from = end + timedelta(days=1)

    # Messages and the filter --------------------------------------------------------------------

    def _conversation(self, chat: _Chat) -> None:
        """A handful of placeholder messages, a few of them screened by the filter."""
        session = chat.session
        minutes = (session.ended_at - session.started_at).total_seconds() / 60
        count = min(10, max(4, int(2 + minutes / 10) + self.rng.randint(-1, 2)))
        last = session.seeker_seen_at - timedelta(seconds=30)
        sender = "supporter"
        senders = []
        for index in range(count):
            if index and self.rng.random() < 0.65:
                sender = "seeker" if sender == "supporter" else "supporter"
            senders.append(sender)
        chat.messages = self._messages(
            room=session.room,
            start=session.started_at + timedelta(seconds=20),
            end=last,
            senders=[(session.seeker if s == "seeker" else session.supporter, s) for s in senders],
        )

    def _messages(self, *, room: Room, start: datetime, end: datetime, senders) -> list[Message]:
        """Messages at spread-out times; visible ones numbered 1..n without gaps."""
        span = max((end - start).total_seconds(), 1)
        moments = sorted(start + timedelta(seconds=self.rng.uniform(0, span)) for _ in senders)
        made = []
        for number, ((user, role), moment) in enumerate(zip(senders, moments, strict=True), 1):
            message = Message(
                room=room,
                sender=user,
                sender_role=role,
                client_msg_id=self.uuid(),
                body=f"demo message {number}",
                sent_at=moment,
            )
            made.append(message)
            screened = "group" if room.kind == Room.Kind.GROUP and role == "seeker" else role
            if self.rng.random() < SCREENED_SHARE[screened]:
                category = self.pick(SCREENED_CATEGORIES[screened])
                self._screen(message, category, moments[number] if number < len(moments) else None)
        seq = 0
        for message in made:
            if message.status in (Message.Status.DELIVERED, Message.Status.MASKED):
                seq += 1
                message.seq = seq
                room.last_message_at = message.sent_at
        room.last_seq = seq
        self.messages += made
        return made

    def _rule(self, category: str):
        return self.rng.choice([r for r in self.policy.rules if r.category == category])

    def _screen(self, message: Message, category: str, next_at: datetime | None) -> Screening:
        """The filter's verdict on `message` as the policy has it, decided by a moderator."""
        room_kind = message.room.kind
        original = ""
        if category == "contact":
            action, rule_id = self.policy.contact_action, self.rng.choice(CONTACT_RULES)
        elif category == "links":
            action, rule_id = self.policy.links_action, "links.url"
        else:
            rule = self._rule(category)
            action, rule_id = rule.action.get(room_kind, "hold"), rule.id
        screening = Screening(
            message=message,
            room=message.room,
            room_kind=room_kind,
            action=action,
            escalate=category == "imminent",
            categories=[category],
            rule_ids=[rule_id],
            policy_version=self.policy.version,
            created_at=message.sent_at,
        )
        if action == "mask":
            original = f"{message.body} (demo contact details)"
            message.body = f"{message.body} {self.policy.mask_text}"
            message.status = Message.Status.MASKED
        elif action == "content_warning":
            message.content_warning = CONTENT_WARNING_GRAPHIC
        elif action in ("hold", "block"):
            # Decided within minutes, before the next message, so numbering stays in order.
            decided = message.sent_at + self.minutes(0.5, 12)
            if next_at is not None and next_at - message.sent_at > timedelta(seconds=30):
                decided = min(decided, next_at - timedelta(seconds=5))
            screening.reviewed_by, screening.reviewed_at = self.moderator, decided
            if self.rng.random() < RELEASED_SHARE.get(category, 0.3):
                screening.review = Screening.Review.RELEASED
            else:
                screening.review = Screening.Review.KEPT
                held = action == "hold"
                message.status = Message.Status.HELD if held else Message.Status.BLOCKED
        screening.original_body = original
        self.screenings.append(screening)
        self.screened.add(id(message))
        return screening

    # Escalations and debriefs -------------------------------------------------------------------

    def _escalations(self) -> None:
        """Two to five a week, mostly from urgent requests, each resolved and debriefed."""
        latest = self.cutoff - timedelta(days=3)  # room for a debrief before the cutoff
        by_week: dict[int, list[_Chat]] = {}
        for chat in self.chats:
            session = chat.session
            week = self.week_of(timezone.localtime(session.started_at, self.tz).date())
            # Not a chat that runs into the next week: each week's figure gets what it was given.
            ends_in = self.week_of(timezone.localtime(session.seeker_seen_at, self.tz).date())
            if session.started_at < latest and ends_in == week:
                by_week.setdefault(week, []).append(chat)
        for _week, chats in sorted(by_week.items()):
            count = self.rng.choices([2, 3, 4, 5], weights=[20, 35, 30, 15])[0]
            days = len({timezone.localtime(c.session.started_at, self.tz).date() for c in chats})
            count = min(len(chats), round(count * min(days, 7) / 7))
            weights = [6 if c.request.urgent else 1 for c in chats]
            chosen: list[int] = []
            while len(chosen) < count:
                index = self.rng.choices(range(len(chats)), weights=weights)[0]
                if index not in chosen:
                    chosen.append(index)
            for index in sorted(chosen):
                self._escalation(chats[index])

    def _escalation(self, chat: _Chat) -> None:
        rng = self.rng
        session, run = chat.session, chat.run
        kind = self.pick(ESCALATION_KINDS)
        length = session.seeker_seen_at - session.started_at
        opened = session.started_at + length * rng.uniform(0.25, 0.7)
        trigger_message = None
        if kind == Escalation.Kind.FILTER:
            candidates = [
                m
                for m in chat.messages
                if m.sender_role == "seeker" and m.seq and id(m) not in self.screened
            ]
            if candidates:
                trigger_message = rng.choice(candidates)
                opened = trigger_message.sent_at
                self._screen_imminent(trigger_message)
            else:
                kind = Escalation.Kind.SUPPORTER
        raised_by = {
            Escalation.Kind.FILTER: session.seeker,
            Escalation.Kind.SEEKER: session.seeker,
            Escalation.Kind.SUPPORTER: session.supporter,
            Escalation.Kind.MODERATOR: self.moderator,
        }[kind]
        # Acknowledged within 20 seconds to 6 minutes, most in a minute or two.
        delay = timedelta(seconds=min(360, max(20, rng.lognormvariate(math.log(75), 0.7))))
        acknowledged = opened + delay
        resolved = max(acknowledged + self.minutes(6, 35), session.ended_at + self.minutes(2, 15))
        gone = session.end_reason == SupportSession.EndReason.SEEKER_GONE
        outcome = Escalation.Outcome.LOST_CONTACT if gone else self.pick(OUTCOMES)
        escalation = Escalation(
            room=session.room,
            session=session,
            kind=kind,
            raised_by=raised_by,
            state=Escalation.State.RESOLVED,
            opened_at=opened,
            acknowledged_by=self.moderator,
            acknowledged_at=acknowledged,
            resolved_by=self.moderator,
            resolved_at=resolved,
            outcome=outcome,
            resolution_note="Demo history: resolved (placeholder note).",
            last_trigger_at=opened,
        )
        session.escalated_at = opened
        run.escalated = True
        triggers = [(kind, raised_by, trigger_message, opened)]
        steps = [(EscalationEvent.Type.OPENED, raised_by, {"kind": kind}, opened)]
        if kind in (Escalation.Kind.FILTER, Escalation.Kind.SEEKER) and rng.random() < 0.15:
            also = opened + timedelta(seconds=rng.uniform(15, 240))
            triggers.append((Escalation.Kind.SUPPORTER, session.supporter, None, also))
            steps.append(
                (EscalationEvent.Type.TRIGGER_ADDED, session.supporter, {"kind": "supporter"}, also)
            )
            escalation.last_trigger_at = also
        config = settings.ESCALATIONS
        for stage, after, step in (
            (1, config["RENOTIFY_AFTER_SECONDS"], EscalationEvent.Type.RENOTIFIED),
            (2, config["ON_CALL_AFTER_SECONDS"], EscalationEvent.Type.ON_CALL),
        ):
            if delay.total_seconds() > after:
                escalation.stage = stage
                steps.append((step, None, {"stage": stage}, opened + timedelta(seconds=after)))
        steps.append((EscalationEvent.Type.ACKNOWLEDGED, self.moderator, {}, acknowledged))
        steps.append(
            (EscalationEvent.Type.RESOLVED, self.moderator, {"outcome": outcome}, resolved)
        )
        escalation.trigger_count = len(triggers)
        escalation.last_sequence = len(steps)
        self.escalations.append(escalation)
        for trigger_kind, by, message, moment in triggers:
            self.triggers.append(
                EscalationTrigger(
                    escalation=escalation,
                    kind=trigger_kind,
                    by=by,
                    message=message,
                    created_at=moment,
                )
            )
        for sequence, (step, actor, detail, moment) in enumerate(
            sorted(steps, key=lambda s: s[3]), 1
        ):
            self.events.append(
                EscalationEvent(
                    escalation=escalation,
                    event_id=self.uuid(),
                    sequence=sequence,
                    type=step,
                    actor=actor,
                    detail=detail,
                    created_at=moment,
                )
            )
        self._debrief(escalation, session.supporter, opened)

    def _screen_imminent(self, message: Message) -> None:
        rule = self._rule("imminent")
        self.screenings.append(
            Screening(
                message=message,
                room=message.room,
                room_kind=message.room.kind,
                action="allow",
                escalate=True,
                categories=["imminent"],
                rule_ids=[rule.id],
                policy_version=self.policy.version,
                created_at=message.sent_at,
            )
        )

    def _debrief(self, escalation: Escalation, supporter: User, opened: datetime) -> None:
        """Held with Kai within the 48 hours, mostly; some a day or two late."""
        due_by = opened + timedelta(hours=settings.ESCALATIONS["DEBRIEF_DUE_HOURS"])
        starts = None
        if self.rng.random() < 0.18:
            starts = self._free_time(supporter, after=due_by + timedelta(hours=2))
        for earliest in (self.rng.uniform(2, 30), 2):
            if starts is None:
                after = opened + timedelta(hours=earliest)
                starts = self._free_time(supporter, after=after, before=due_by)
        if starts is None:  # nothing in office hours: straight after the chat
            starts = opened + timedelta(hours=2)
        slot = self._slot(
            starts,
            minutes=45,
            kind=SlotKind.ONE_TO_ONE,
            purpose=SlotPurpose.DEBRIEF,
            published=opened - timedelta(days=self.rng.randint(1, 10)),
        )
        debrief = Debrief(
            supporter=supporter,
            escalation=escalation,
            state=Debrief.State.DONE,
            due_by=due_by,
            created_at=opened,
            completed_at=starts,
        )
        self.debriefs.append(debrief)
        self.bookings.append(
            Booking(
                slot=slot,
                supporter=supporter,
                purpose=Booking.Purpose.DEBRIEF,
                debrief=debrief,
                state=Booking.State.ATTENDED,
                automatic=True,
                created_at=opened + self.minutes(1, 10),
                recorded_at=slot.ends_at + self.minutes(2, 30),
                recorded_by=self.moderator,
            )
        )

    def _free_time(self, supporter: User, *, after: datetime, before: datetime | None = None):
        """The first office-hours time after `after` free for Kai and for the supporter."""
        day = timezone.localtime(after, self.tz).date()
        latest = self.cutoff - timedelta(hours=2)
        if before is not None:
            latest = min(latest, before)
        busy = [(s.starts_at, s.ends_at) for s in self.slots]
        busy += [
            (r.shift.starts_at, r.shift.ends_at)
            for r in self.runs
            if r.shift.supporter is supporter
        ]
        for offset in range(5):
            for hour in DEBRIEF_HOURS:
                starts = self.at(day + timedelta(days=offset), hour)
                ends = starts + timedelta(minutes=45)
                if starts < after or ends > latest:
                    continue
                if not any(s < ends and e > starts for s, e in busy):
                    return starts
        return None

    def _slot(self, starts, *, minutes, kind, purpose, published, capacity=1) -> SupervisionSlot:
        slot = SupervisionSlot(
            supervisor=self.moderator,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=minutes),
            kind=kind,
            capacity=capacity,
            purpose=purpose,
            location="Video call: the link comes by email"
            if kind == SlotKind.ONE_TO_ONE
            else "Group room, first floor",
            created_at=published,
        )
        self.slots.append(slot)
        return slot

    # What follows chats and shifts --------------------------------------------------------------

    def _after_chats(self) -> None:
        """Close notes for every chat (none is left awaiting one), and feedback on some."""
        for chat in self.chats:
            session = chat.session
            ended = session.ended_at
            self.notes.append(
                HandoverNote(
                    session=session,
                    author=session.supporter,
                    kind=HandoverNote.Kind.CLOSE,
                    body="Demo handover note (placeholder).",
                    created_at=ended + self.minutes(1, 8),
                )
            )
            gone = session.end_reason == SupportSession.EndReason.SEEKER_GONE
            if self.rng.random() < (0.05 if gone else 0.45):
                self.feedback.append(
                    Feedback(
                        session=session,
                        listened=self._scale([2, 3, 10, 35, 50]),
                        helpful=self._scale([4, 7, 17, 35, 37]),
                        would_return=self.rng.choices(
                            [Feedback.Return.YES, Feedback.Return.MAYBE, Feedback.Return.NO, ""],
                            weights=[66, 22, 7, 5],
                        )[0],
                        created_at=ended + self.minutes(0.5, 5),
                    )
                )

    def _scale(self, weights: list[int]) -> int | None:
        if self.rng.random() < 0.06:
            return None  # left unanswered
        return self.rng.choices([1, 2, 3, 4, 5], weights=weights)[0]

    def _after_shifts(self) -> None:
        """Each shift ends after its last chat; every supporter checked in afterwards."""
        calm = {"good": 50, "okay": 33, "low": 8, "struggling": 2, "skipped": 7}
        hard = {"good": 10, "okay": 40, "low": 35, "struggling": 10, "skipped": 5}
        for run in self.runs:
            shift = run.shift
            last = max([shift.ends_at, *(end for _start, end in run.chats)])
            shift.ended_at = last + self.minutes(1, 6)
            self.checkins.append(
                ShiftCheckIn(
                    shift=shift,
                    supporter=shift.supporter,
                    feeling=self.pick(hard if run.escalated else calm),
                    created_at=shift.ended_at + self.minutes(2, 40),
                )
            )

    def _group_supervision(self) -> None:
        """Kai's group supervision every Tuesday; each supporter comes every few weeks."""
        tuesdays = []
        for day in self.days():
            starts = self.at(day, SUPERVISION_AT.hour + SUPERVISION_AT.minute / 60)
            if day.weekday() == SUPERVISION_WEEKDAY and starts < self.cutoff - timedelta(hours=3):
                tuesdays.append(
                    self._slot(
                        starts,
                        minutes=60,
                        kind=SlotKind.GROUP,
                        purpose=SlotPurpose.SUPERVISION,
                        capacity=6,
                        published=starts - timedelta(days=self.rng.randint(14, 21)),
                    )
                )
        for level, supporter in self.supporters.items():
            every = SUPERVISION_EVERY_WEEKS[level]
            attended = list(range(len(tuesdays) - 1 - SUPERVISION_LAST_OFFSET[level], -1, -every))
            if not attended:
                continue
            # Each of them missed one once (and a few more now and then), and came the week after.
            once = self.rng.choice(attended[1:-1] or attended)
            for index in attended:
                self._supervision_booking(tuesdays[index], supporter, Booking.State.ATTENDED)
                if index >= 1 and (index == once or self.rng.random() < 0.08):
                    self._supervision_booking(tuesdays[index - 1], supporter, Booking.State.MISSED)

    def _supervision_booking(self, slot: SupervisionSlot, supporter: User, state: str) -> None:
        self.bookings.append(
            Booking(
                slot=slot,
                supporter=supporter,
                purpose=Booking.Purpose.SUPERVISION,
                state=state,
                created_at=slot.starts_at - timedelta(days=self.rng.randint(2, 12)),
                recorded_at=slot.ends_at + self.minutes(5, 90),
                recorded_by=self.moderator,
            )
        )

    def _group_meeting(self, day: date) -> None:
        """A weekly group before the evening shifts, with a few seekers and placeholder talk."""
        if self.week_of(day) % 2 == 0:
            facilitator = self.supporters["senior"]
        else:
            facilitator = self.supporters["peer"]
        starts = self.at(day, GROUP_AT.hour + GROUP_AT.minute / 60)
        ends = starts + timedelta(minutes=GROUP_MINUTES)
        room = Room(
            kind=Room.Kind.GROUP, name="Check-in group", created_at=starts - timedelta(days=7)
        )
        self.rooms.append(room)
        self.meetings.append(
            GroupMeeting(
                room=room,
                title="Check-in group",
                description="A small, gentle group to share how the day went. Come and listen, "
                "or talk.",
                starts_at=starts,
                ends_at=ends,
                max_members=8,
                facilitator=facilitator,
                opened_at=starts - self.minutes(2, 10),
                facilitator_seen_at=ends,
            )
        )
        members: list[_Seeker] = []
        for _ in range(self.rng.randint(3, 7)):
            returning = [
                s
                for s in self.seekers[-120:]
                if s.back_from and s.back_from <= starts and all(s is not m for m in members)
            ]
            if returning and self.rng.random() < 0.5:
                seeker = self.rng.choice(returning)
            else:
                seeker = self._new_seeker(starts - self.minutes(5, 120))
                seeker.back_from = ends + timedelta(days=1)
            members.append(seeker)
            self._accept(seeker, Room.Kind.GROUP, starts - self.minutes(2, 6))
            self.memberships.append(
                Membership(
                    room=room,
                    user=seeker.user,
                    role=Membership.Role.SEEKER,
                    joined_at=starts - self.minutes(0, 5),
                )
            )
        senders = []
        for _ in range(self.rng.randint(12, 26)):
            if self.rng.random() < 0.3:
                senders.append((facilitator, "supporter"))
            else:
                senders.append((self.rng.choice(members).user, "seeker"))
        self._messages(
            room=room,
            start=starts + timedelta(minutes=2),
            end=ends - timedelta(minutes=2),
            senders=senders,
        )

    # Writing ------------------------------------------------------------------------------------

    def write(self) -> dict:
        sessions = [chat.session for chat in self.chats]
        _create(User, [s.user for s in self.seekers])
        acceptances = []
        for seeker in self.seekers:
            for kind, first in seeker.accepted.items():
                acceptances.append(
                    AgreementAcceptance(
                        user=seeker.user, agreement=self.agreements[kind], accepted_at=first
                    )
                )
        _create(AgreementAcceptance, acceptances, backdate=["accepted_at"])
        _create(Shift, [r.shift for r in self.runs])
        _create(ShiftCheckIn, self.checkins)
        _create(SupportRequest, self.requests, backdate=["created_at", "seen_at"])
        _create(Room, self.rooms, backdate=["created_at"])
        _create(Membership, self.memberships, backdate=["joined_at"])
        _create(SupportSession, sessions, backdate=["started_at", "seeker_seen_at"])
        _create(GroupMeeting, self.meetings)
        _create(Message, self.messages, backdate=["sent_at"])
        _create(Screening, self.screenings, backdate=["created_at"])
        _create(Escalation, self.escalations)
        _create(EscalationTrigger, self.triggers)
        _create(EscalationEvent, self.events)
        _create(Debrief, self.debriefs, backdate=["created_at"])
        _create(SupervisionSlot, self.slots, backdate=["created_at"])
        _create(Booking, self.bookings)
        _create(Feedback, self.feedback, backdate=["created_at"])
        _create(HandoverNote, self.notes, backdate=["created_at"])
        self._supporters_trained()
        states = [r.state for r in self.requests]
        return {
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "weeks": self.weeks,
            "requests": len(self.requests),
            "requests_by_week": self.requests_by_week,
            "matched": states.count(SupportRequest.State.MATCHED),
            "left": states.count(SupportRequest.State.LEFT),
            "gone": states.count(SupportRequest.State.GONE),
            "sessions": len(sessions),
            "seekers": len(self.seekers),
            "messages": len(self.messages),
            "screenings": len(self.screenings),
            "escalations": len(self.escalations),
            "debriefs": len(self.debriefs),
            "feedback": len(self.feedback),
            "shifts": len(self.runs),
            "checkins": len(self.checkins),
            "supervision_bookings": sum(
                b.purpose == Booking.Purpose.SUPERVISION for b in self.bookings
            ),
            "group_meetings": len(self.meetings),
        }

    def _supporters_trained(self) -> None:
        """The demo supporters were trained before the history starts.

        These older completions change nothing now: the newest completion of a module counts.
        (Their `date_joined` is left alone: with no supervision recorded it is when supervision
        falls due, and a short history must not make them overdue.)
        """
        trained_on = self.first_day - timedelta(days=21)
        modules = list(TrainingModule.objects.all())
        TrainingRecord.objects.bulk_create(
            [
                TrainingRecord(supporter=supporter, module=module, completed_on=trained_on)
                for level, supporter in self.supporters.items()
                for module in modules
                if level in (module.required_levels or [])
            ]
        )


def _create(model, objects: list, *, backdate: Sequence[str] = ()) -> None:
    """bulk_create, then put back the historical times `auto_now_add` stamped over."""
    if not objects:
        return
    wanted = [[getattr(obj, name) for name in backdate] for obj in objects]
    model.objects.bulk_create(objects, batch_size=BATCH)
    if not backdate:
        return
    # One UPDATE per row through executemany: bulk_update's CASE expressions take seconds for
    # thousands of rows on SQLite.
    fields = [model._meta.get_field(name) for name in backdate]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments} "  # noqa: S608 - names from _meta
        f"WHERE {quote(model._meta.pk.column)} = %s"
    )
    rows = []
    for obj, values in zip(objects, wanted, strict=True):
        for f, value in zip(fields, values, strict=True):
            setattr(obj, f.attname, value)
        rows.append(
            [
                *(f.get_db_prep_value(v, connection) for f, v in zip(fields, values, strict=True)),
                obj.pk,
            ]
        )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
