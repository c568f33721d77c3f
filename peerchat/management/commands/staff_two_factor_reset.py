"""Reset a staff member's two-factor sign-in (a lost or replaced phone)."""

from django.core.management.base import BaseCommand, CommandError

from peerchat.models import User
from peerchat.services.two_factor import two_factor_reset


class Command(BaseCommand):
    help = (
        "Forget a staff member's authenticator app and backup codes, so they set up a new app "
        "at their next sign-in. Their open pages are signed out. Audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, **options):
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No account with the username {options['username']!r}.")
        if user.role == User.Role.SEEKER:
            raise CommandError("Seekers have no password and no two-factor sign-in.")
        entry = two_factor_reset(user=user, by=None, via="manage.py staff_two_factor_reset")
        had = "their authenticator app and backup codes were removed"
        if not entry.detail["had_app"]:
            had = "they had no authenticator app set up"
        self.stdout.write(
            f"{user.username}: two-factor reset ({had}); they set it up at their next sign-in."
        )
