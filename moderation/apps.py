from django.apps import AppConfig


class ModerationConfig(AppConfig):
    """Content filter, held-message review, escalations, audit and metrics (issues 4 to 7)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "moderation"
    verbose_name = "Moderation"

    def ready(self):
        from django.core import checks

        from moderation.escalations.services import TIMER_JOB, escalation_timer_fire
        from moderation.hooks import HOOK_JOB, hook_deliver
        from moderation.hooks.checks import hooks_check
        from peerchat import jobs

        checks.register(hooks_check)
        # Durable job kinds this app runs (`manage.py run_worker`).
        jobs.register(HOOK_JOB, hook_deliver)
        jobs.register(TIMER_JOB, escalation_timer_fire)
