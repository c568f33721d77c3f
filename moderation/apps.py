from django.apps import AppConfig


class ModerationConfig(AppConfig):
    """Content filter, held-message review, escalations, audit and metrics (issues 4 to 7)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "moderation"
    verbose_name = "Moderation"

    def ready(self):
        from django.core import checks
        from django.db.backends.signals import connection_created

        from moderation.escalations.services import TIMER_JOB, escalation_timer_fire
        from moderation.hooks import HOOK_JOB, hook_deliver
        from moderation.hooks.checks import hooks_check
        from moderation.metrics.sql import register_sqlite_functions
        from moderation.retention.checks import retention_check
        from moderation.retention.services import PURGE_JOB, purge_run
        from peerchat import jobs

        checks.register(hooks_check)
        checks.register(retention_check)
        # The percentile aggregate evaluators' figures use, on the embedded SQLite default.
        connection_created.connect(register_sqlite_functions, dispatch_uid="peerchat-metrics-sql")
        # Durable job kinds this app runs (`manage.py run_worker`).
        jobs.register(HOOK_JOB, hook_deliver)
        jobs.register(TIMER_JOB, escalation_timer_fire)
        jobs.register(PURGE_JOB, purge_run)
