from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Durable jobs: rows in the database that `manage.py run_worker` runs with retries."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "peerchat.jobs"
    label = "jobs"
    verbose_name = "Durable jobs"

    def ready(self):
        from django.core import checks

        from peerchat.jobs.checks import worker_check

        checks.register(worker_check)
