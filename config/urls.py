from django.contrib import admin
from django.urls import include, path

from peerchat.views import LoginView, LogoutView

urlpatterns = [
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("peerchat.urls")),
]

# A malformed or oversized request (413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE).
handler400 = "peerchat.api.bad_request"
