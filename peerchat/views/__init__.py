"""HTML pages, one module per area."""

from peerchat.views.accounts import LoginView, LogoutView

__all__ = ["LoginView", "LogoutView"]
