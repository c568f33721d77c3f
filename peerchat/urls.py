"""Every page and API route, gathered from the module that serves each area."""

from django.urls import include, path

urlpatterns = [
    path("", include("peerchat.views.accounts")),
    path("", include("peerchat.views.two_factor")),
    path("", include("peerchat.views.support")),
    path("", include("peerchat.views.staff")),
    path("", include("peerchat.views.groups")),
    path("", include("peerchat.views.seeker_data")),
    path("", include("peerchat.views.calendar")),
    path("", include("peerchat.views.supervision")),
    path("", include("peerchat.api.accounts")),
    path("", include("peerchat.api.support")),
    path("", include("peerchat.api.staff")),
    path("", include("peerchat.api.groups")),
    path("", include("peerchat.api.seeker_data")),
    path("", include("moderation.views")),
    path("", include("moderation.api")),
    path("", include("moderation.metrics.views")),
]
