"""The groups page: upcoming and open groups, the group agreement, joining and facilitating."""

from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import ensure_csrf_cookie

from peerchat.api.groups import GROUP_ROLES, chat_url
from peerchat.markup import staff_markup
from peerchat.selectors.groups import group_agreement_current, groups_upcoming


@ensure_csrf_cookie
def groups(request):
    """List groups; the page's script joins, leaves, mutes and facilitates through the API."""
    if not request.user.is_authenticated:
        return redirect("home")
    if request.user.role not in GROUP_ROLES:
        return render(request, "peerchat/groups.html", {"not_for_role": True}, status=403)
    listings = groups_upcoming(user=request.user, now=timezone.now())
    for listing in listings:
        listing["chat_url"] = chat_url(listing["room"])
    current = group_agreement_current()
    agreement = None
    if current is not None:
        agreement = {
            "version": current.version,
            "title": current.title,
            # Sanitised against the allow-list just above, so it may be shown as markup.
            "body": mark_safe(staff_markup(current.body)),  # noqa: S308
            "confidentiality": mark_safe(staff_markup(current.confidentiality)),  # noqa: S308
        }
    return render(request, "peerchat/groups.html", {"groups": listings, "agreement": agreement})


urlpatterns = [
    path("groups/", groups, name="groups"),
]
