"""HTML pages, one module per area."""

from peerchat.views.accounts import LogoutView

__all__ = ["LogoutView"]
