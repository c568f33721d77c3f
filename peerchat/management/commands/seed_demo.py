"""Create the demo accounts and the demo group room, and print them."""

import secrets
from datetime import timedelta

from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from peerchat.models import (
    Booking,
    GroupMeeting,
    Membership,
    Room,
    Shift,
    SlotKind,
    SupervisionSlot,
    SupporterProfile,
    TrainingModule,
    TrainingRecord,
    User,
)
from peerchat.selectors.supervision import supervision_status
from peerchat.services.groups import group_meeting_create
from peerchat.services.rooms import room_create, room_member_add
from peerchat.services.supervision.slots import SlotSpec, slot_publish
from peerchat.services.users import staff_user_upsert

DEMO_ROOM_NAME = "Demo group room"

# (username, role, handle, supporter level, room role or None)
DEMO_ACCOUNTS = [
    (
        "supporter1",
        User.Role.SUPPORTER,
        "Alex",
        User.SupporterLevel.PEER,
        Membership.Role.SUPPORTER,
    ),
    (
        "supporter2",
        User.Role.SUPPORTER,
        "Sam",
        User.SupporterLevel.SENIOR,
        Membership.Role.SUPPORTER,
    ),
    (
        "trainee1",
        User.Role.SUPPORTER,
        "Robin",
        User.SupporterLevel.TRAINEE,
        Membership.Role.SUPPORTER,
    ),
    ("moderator", User.Role.MODERATOR, "Kai (moderator)", "", Membership.Role.MODERATOR),
    ("evaluator", User.Role.EVALUATOR, "Evaluator Lee", "", None),
    ("admin", User.Role.ADMIN, "Admin", "", None),
]


class Command(BaseCommand):
    help = "Create (or reset) demo accounts and a demo group room, then print them."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            help="Password for every demo account (default: a random one, printed).",
        )

    def handle(self, *args, **options):
        password = options["password"] or secrets.token_urlsafe(12)
        with transaction.atomic():
            users = [
                (
                    staff_user_upsert(
                        username=username,
                        role=role,
                        password=password,
                        handle=handle,
                        supporter_level=level,
                    ),
                    room_role,
                )
                for username, role, handle, level, room_role in DEMO_ACCOUNTS
            ]
            room = Room.objects.filter(name=DEMO_ROOM_NAME, kind=Room.Kind.GROUP).first()
            if room is None:
                room = room_create(kind=Room.Kind.GROUP, name=DEMO_ROOM_NAME)
            for user, room_role in users:
                if room_role is not None:
                    room_member_add(room=room, user=user, role=room_role)
            supporters = [u for u, _ in users if u.role == User.Role.SUPPORTER]
            shifts = [_demo_shift(user) for user in supporters]
            for user in supporters:
                _demo_training(user)
            meeting = _demo_group(facilitator=next(u for u in supporters if u.handle == "Sam"))
            supervisor = next(u for u, _ in users if u.role == User.Role.MODERATOR)
            senior = next(u for u in supporters if u.handle == "Sam")
            slots = _demo_supervision(supervisor=supervisor, senior=senior, supporters=supporters)

        self.stdout.write("Demo accounts (sign in at /accounts/login/):")
        self.stdout.write(f"  {'username':<12} {'role':<10} {'level':<8} handle")
        for user, _ in users:
            self.stdout.write(
                f"  {user.username:<12} {user.role:<10} {user.supporter_level or '-':<8} "
                f"{user.handle}"
            )
        self.stdout.write(f"  password for all: {password}")
        self.stdout.write(
            f"Demo room: '{room.name}' (id {room.pk}), members: "
            + ", ".join(u.username for u, r in users if r is not None)
        )
        end = timezone.localtime(max(shift.ends_at for shift in shifts))
        self.stdout.write(
            "Supporters have a shift scheduled now (until "
            f"{end:%H:%M}) and current training: sign in and press 'Start shift'."
        )
        self.stdout.write(
            f"Supervision: Kai supervises the supporters, and Sam may supervise too; {slots} open "
            "supervision times are published (My schedule, Supervision)."
        )
        self.stdout.write(
            f"Demo group: '{meeting.title}', facilitated by Sam, "
            f"{timezone.localtime(meeting.starts_at):%H:%M}-{timezone.localtime(meeting.ends_at):%H:%M}."
        )


def _demo_shift(user: User) -> Shift:
    """A shift covering now, so the demo can be tried at any hour."""
    now = timezone.now()
    current = Shift.objects.filter(
        supporter=user, starts_at__lte=now, ends_at__gt=now + timedelta(hours=1)
    ).first()
    if current is not None:
        return current
    return Shift.objects.create(
        supporter=user, starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=12)
    )


def _demo_training(user: User) -> None:
    today = timezone.localdate()
    for module in TrainingModule.objects.all():
        if user.supporter_level in module.required_levels:
            TrainingRecord.objects.get_or_create(
                supporter=user,
                module=module,
                completed_on=today - timedelta(days=30),
            )


def _demo_group(*, facilitator: User) -> GroupMeeting:
    now = timezone.now()
    meeting = GroupMeeting.objects.filter(ends_at__gt=now + timedelta(hours=1)).first()
    if meeting is not None:
        return meeting
    return group_meeting_create(
        title="Check-in group",
        description="A small, gentle group to share how the day went. Come and listen, or talk.",
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=12),
        max_members=8,
        facilitator=facilitator,
    )


def _demo_supervision(*, supervisor: User, senior: User, supporters: list[User]) -> int:
    """Kai supervises the others and publishes times; Sam may supervise. Nobody is overdue.

    Times start after the demo shifts end (a supporter can't be in supervision on shift), so
    a debrief after a demo escalation is booked into one of them. Returns the open times.
    """
    senior.user_permissions.add(Permission.objects.get(codename="supervise"))
    now = timezone.now()
    for user in supporters:
        profile, _ = SupporterProfile.objects.get_or_create(user=user)
        if profile.supervisor_id is None:
            profile.supervisor = supervisor
            profile.save(update_fields=["supervisor"])
        if supervision_status(user=user, now=now).overdue:
            # Re-running the demo weeks later: record a supervision a week ago, so the demo
            # supporters can still go on shift.
            held = SupervisionSlot.objects.create(
                supervisor=supervisor,
                starts_at=now - timedelta(days=7),
                ends_at=now - timedelta(days=7) + timedelta(minutes=45),
                kind=SlotKind.ONE_TO_ONE,
            )
            Booking.objects.create(
                slot=held,
                supporter=user,
                purpose=Booking.Purpose.SUPERVISION,
                state=Booking.State.ATTENDED,
                created_at=held.starts_at,
            )
    open_times = SupervisionSlot.objects.filter(
        supervisor=supervisor, state=SupervisionSlot.State.OPEN, starts_at__gt=now
    )
    if not open_times.exists():
        # 10:00 on the first day after the demo shifts (12 hours from now) end.
        day = timezone.localtime(now + timedelta(hours=12)).replace(tzinfo=None)
        after_shifts = day.replace(hour=10, minute=0, second=0, microsecond=0)
        if after_shifts < day:
            after_shifts += timedelta(days=1)
        for hours in (0, 1, 28):
            slot_publish(
                supervisor=supervisor,
                spec=SlotSpec(
                    starts_local=after_shifts + timedelta(hours=hours),
                    duration_minutes=45,
                    location="Video call: the link comes by email",
                ),
                now=now,
            )
        slot_publish(
            supervisor=supervisor,
            spec=SlotSpec(
                starts_local=after_shifts + timedelta(days=2, hours=8),
                duration_minutes=60,
                kind=SlotKind.GROUP,
                capacity=6,
                purpose="supervision",
                location="Group room, first floor",
                rrule="FREQ=WEEKLY;COUNT=6",
            ),
            now=now,
        )
    return open_times.count()
