"""The moderators' console page; its scripts work through moderation/api/ and the socket."""

import json

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from moderation import services
from moderation.filter import policy as filter_policy


@never_cache
@ensure_csrf_cookie
def review_page(request):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if request.user.role not in ("moderator", "admin"):
        return redirect("after-sign-in")
    context = {
        "groups_json": json.dumps(services.policy_groups()),
        "categories_json": json.dumps(filter_policy.policy_files().descriptions),
    }
    return render(request, "moderation/review.html", context)


urlpatterns = [
    path("moderation/", review_page, name="moderation-review"),
]
