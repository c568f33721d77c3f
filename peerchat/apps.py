from django.apps import AppConfig


class PeerchatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "peerchat"
    verbose_name = "Peer support"
