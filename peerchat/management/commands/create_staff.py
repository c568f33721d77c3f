"""Create or update a staff account (supporter, moderator, evaluator or admin)."""

import getpass
import os

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from peerchat.models import User
from peerchat.services.users import staff_user_upsert

STAFF_ROLES = [role for role in User.Role.values if role != User.Role.SEEKER]


class Command(BaseCommand):
    help = (
        "Create or update a staff account. The password is asked for, or read from "
        "STAFF_PASSWORD with --no-input."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=STAFF_ROLES)
        parser.add_argument("--handle", required=True, help="The name other people see.")
        parser.add_argument(
            "--level",
            default="",
            choices=["", *User.SupporterLevel.values],
            help="Supporter level (supporters only).",
        )
        parser.add_argument("--no-input", action="store_true")

    def handle(self, *args, **options):
        if options["role"] == User.Role.SUPPORTER and not options["level"]:
            raise CommandError("Supporters need --level (trainee, peer or senior).")
        password = self._password(options)
        candidate = User(username=options["username"], handle=options["handle"])
        try:
            validate_password(password, candidate)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        try:
            user = staff_user_upsert(
                username=options["username"],
                role=options["role"],
                password=password,
                handle=options["handle"],
                supporter_level=options["level"],
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(f"{user.username}: {user.role}, handle '{user.handle}'")

    def _password(self, options) -> str:
        if options["no_input"]:
            password = os.environ.get("STAFF_PASSWORD", "")
            if not password:
                raise CommandError("--no-input needs the password in STAFF_PASSWORD.")
            return password
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ.")
        return password
