from django.apps import AppConfig


class ModerationConfig(AppConfig):
    """Content filter, held-message review, escalations, audit and metrics (issues 4 to 7)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "moderation"
    verbose_name = "Moderation"
