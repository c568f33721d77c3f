from django.contrib import admin
from django.urls import include, path

from peerchat.views import LogoutView

urlpatterns = [
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("peerchat.urls")),
]
