"""Create the demo accounts and the demo group room, and print them."""

import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from peerchat.models import Membership, Room, User
from peerchat.services.rooms import room_create, room_member_add
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
