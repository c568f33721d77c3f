"""The seeker's own pages: their safety plan, and downloading or deleting their data.

Plain server-rendered forms (they work without JavaScript); every change goes through the
same services as the JSON API.
"""

from functools import wraps

from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from peerchat.api.seeker_data import DELETE_CONFIRMATION, seeker_delete_and_sign_out
from peerchat.errors import PeerchatError
from peerchat.models import SafetyPlan
from peerchat.models.safety import PLAN_FIELD_MAX_CHARS
from peerchat.selectors.safety_plans import safety_plan_for_seeker, safety_plan_sharing
from peerchat.services.safety_plans import (
    FIELD_LABELS,
    safety_plan_check,
    safety_plan_save,
    safety_plan_share,
    safety_plan_withdraw,
)

FIELD_HELP = {
    "warning_signs": "Thoughts, feelings or situations that tell you things are getting harder. "
    "For example: not sleeping, or wanting to be on your own.",
    "things_that_help": "Things you can do by yourself to get through a hard moment. "
    "For example: holding something cold, going for a walk, a song you love.",
    "people_and_places": "People you can talk to, and places where you feel a bit safer. "
    "You could add how to reach them.",
    "professional_contacts": "Your GP, a counsellor or a service you use, and how to contact "
    "them. The helplines at the bottom of every page are there too, any time.",
}


def seekers_page(view):
    """Pages for seekers: strangers go to the home page, staff to their chat page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect("home")
        if not request.user.is_seeker:
            return redirect("chat")
        return view(request, *args, **kwargs)

    return wrapped


# Safety plan -------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
@seekers_page
def safety_plan_page(request):
    plan = safety_plan_for_seeker(seeker=request.user)
    values = {name: getattr(plan, name) if plan else "" for name in SafetyPlan.FIELDS}
    errors = {}
    if request.method == "POST":
        # Browsers send line breaks as CRLF; what the person typed has one character each.
        values = {
            name: request.POST.get(name, "").replace("\r\n", "\n") for name in SafetyPlan.FIELDS
        }
        for name, value in values.items():
            try:
                safety_plan_check(**{name: value})
            except PeerchatError as error:
                errors[name] = error.detail
        if not errors:
            safety_plan_save(seeker=request.user, **values)
            return redirect(reverse("safety-plan") + "?saved=1")
    return _plan_page(request, values=values, errors=errors, status=400 if errors else 200)


@require_POST
@seekers_page
def safety_plan_share_page(request):
    return _sharing_change(request, safety_plan_share)


@require_POST
@seekers_page
def safety_plan_withdraw_page(request):
    return _sharing_change(request, safety_plan_withdraw)


def _sharing_change(request, service):
    try:
        room_id = int(request.POST.get("room", ""))
        service(seeker=request.user, room_id=room_id)
    except ValueError:
        return HttpResponseBadRequest("Choose a chat.")  # not sent by our form
    except PeerchatError as error:
        plan = safety_plan_for_seeker(seeker=request.user)
        values = {name: getattr(plan, name) if plan else "" for name in SafetyPlan.FIELDS}
        return _plan_page(request, values=values, sharing_error=error.detail, status=409)
    return redirect(reverse("safety-plan") + "?sharing=1")


def _plan_page(request, *, values, errors=None, sharing_error="", status=200):
    errors = errors or {}
    fields = [
        {
            "name": name,
            "label": FIELD_LABELS[name],
            "help": FIELD_HELP[name],
            "value": values[name],
            "error": errors.get(name, ""),
        }
        for name in SafetyPlan.FIELDS
    ]
    return render(
        request,
        "peerchat/safety_plan.html",
        {
            "fields": fields,
            "max_chars": PLAN_FIELD_MAX_CHARS,
            "saved": request.method == "GET" and request.GET.get("saved") == "1",
            "sharing_changed": request.method == "GET" and request.GET.get("sharing") == "1",
            "has_errors": bool(errors),
            "sharing": safety_plan_sharing(seeker=request.user),
            "sharing_error": sharing_error,
        },
        status=status,
    )


# My data -----------------------------------------------------------------------------------


@never_cache
@require_GET
@seekers_page
def my_data_page(request):
    return _my_data(request)


@require_POST
def my_data_delete_page(request):
    if not request.user.is_authenticated:
        # Most likely the second click of a double click: the first one deleted everything.
        return redirect("my-data-deleted")
    if not request.user.is_seeker:
        return redirect("chat")
    if request.POST.get("confirm") != DELETE_CONFIRMATION:
        return _my_data(request, confirm_missing=True, status=400)
    seeker_delete_and_sign_out(request)
    return redirect("my-data-deleted")


@require_GET
def data_deleted_page(request):
    return render(request, "peerchat/data_deleted.html")


def _my_data(request, *, confirm_missing=False, status=200):
    return render(
        request,
        "peerchat/my_data.html",
        {
            "in_chat": bool(safety_plan_sharing(seeker=request.user)),
            "confirm_missing": confirm_missing,
            "confirmation": DELETE_CONFIRMATION,
        },
        status=status,
    )


urlpatterns = [
    path("safety-plan/", safety_plan_page, name="safety-plan"),
    path("safety-plan/share/", safety_plan_share_page, name="safety-plan-share"),
    path("safety-plan/withdraw/", safety_plan_withdraw_page, name="safety-plan-withdraw"),
    path("my-data/", my_data_page, name="my-data"),
    path("my-data/delete/", my_data_delete_page, name="my-data-delete"),
    path("my-data/deleted/", data_deleted_page, name="my-data-deleted"),
]
