"""Supervision pages: the supporter's schedule and the supervisor's calendar (DESIGN.md §9).

Plain server-rendered forms with POST/redirect/GET, so they work on a phone at 3 a.m. and
without JavaScript. Each POST parses a small form, calls one service, and says the outcome
with `messages` (a refusal's `detail` is already a kind sentence meant for the person).
"""

from datetime import date, datetime, timedelta
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from peerchat.errors import PeerchatError
from peerchat.models import (
    Booking,
    GateException,
    ShiftCheckIn,
    SlotKind,
    SlotPurpose,
    SupervisionSlot,
    User,
)
from peerchat.selectors.calendar import calendar_link_context
from peerchat.selectors.supervision import (
    is_supervisor,
    supervisor_calendar,
    supporter_records,
    supporter_schedule,
    talk_offer,
    when,
)
from peerchat.services.supervision.bookings import (
    booking_cancel,
    booking_create,
    booking_move,
    booking_record,
)
from peerchat.services.supervision.checkins import NOTE_MAX_CHARS, checkin_submit
from peerchat.services.supervision.gates import (
    REASON_MAX_CHARS,
    gate_exception_grant,
    gate_exception_revoke,
)
from peerchat.services.supervision.notices import notices_mark_read
from peerchat.services.supervision.slots import SlotSpec, series_end, slot_cancel, slot_publish

# "I'd like to talk to someone": the time offered, kept until it is booked or has gone.
SESSION_TALK_OFFER = "supervision_talk_offer"
FORM_TROUBLE = "Something in that form didn't come through. Please reload the page and try again."
RECORDS_WEEKS = 4
REPEAT_TIMES_DEFAULT = 8
REPEAT_TIMES_MAX = 52
EXTRA_TIME_ZONES = ("Europe/London", "Europe/Dublin", "UTC", "America/New_York")
# (value, label, RRULE with {n} for how many times); "none" is a one-off.
REPEATS = [
    ("none", "Does not repeat", ""),
    ("weekly", "Every week", "FREQ=WEEKLY;COUNT={n}"),
    ("fortnightly", "Every 2 weeks", "FREQ=WEEKLY;INTERVAL=2;COUNT={n}"),
    ("weekdays", "Every day (weekdays)", "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT={n}"),
]
REPEAT_WORDS = {rule.split(";COUNT")[0]: label.lower() for _, label, rule in REPEATS if rule}
FEELINGS = [
    (value, label)
    for value, label in ShiftCheckIn.Feeling.choices
    if value != ShiftCheckIn.Feeling.SKIPPED
]


# Who may see which page ---------------------------------------------------------------------


def supporters_page(view):
    """The schedule is for supporters: strangers sign in, supervisors go to their own page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(reverse("staff-schedule"))
        if request.user.role != User.Role.SUPPORTER:
            return redirect("supervision" if is_supervisor(request.user) else "chat")
        return view(request, *args, **kwargs)

    return wrapped


def supervisors_page(view):
    """The supervision page is for moderators, admins and seniors given the permission."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(reverse("supervision"))
        if not is_supervisor(request.user):
            supporter = request.user.role == User.Role.SUPPORTER
            context = {"not_allowed": True, "is_supporter": supporter}
            return render(request, "peerchat/supervision.html", context, status=403)
        return view(request, *args, **kwargs)

    return wrapped


def _outcome(request, service, success, **kwargs):
    """Call `service`; say `success(result)` or the refusal's detail. Return the result."""
    try:
        result = service(**kwargs)
    except PeerchatError as error:
        messages.error(request, error.detail)
        return None
    messages.success(request, success(result))
    return result


def _slot_words(slot: SupervisionSlot) -> str:
    return f"{when(slot.starts_at)} with {slot.supervisor.handle}"


# Small forms --------------------------------------------------------------------------------


class BookForm(forms.Form):
    slot = forms.IntegerField()
    purpose = forms.ChoiceField(choices=Booking.Purpose.choices)
    debrief = forms.IntegerField(required=False)


class MoveForm(forms.Form):
    booking = forms.IntegerField()
    to_slot = forms.IntegerField(error_messages={"required": "Pick the time to move to."})


class BookingForm(forms.Form):
    booking = forms.IntegerField()


class CheckInForm(forms.Form):
    shift = forms.IntegerField()
    feeling = forms.ChoiceField(choices=FEELINGS, required=False)
    note = forms.CharField(required=False, strip=True)
    wants_to_talk = forms.BooleanField(required=False)
    skip = forms.BooleanField(required=False)


class RecordForm(forms.Form):
    booking = forms.IntegerField()
    attended = forms.ChoiceField(choices=[("yes", "Came"), ("no", "Didn't come")])


class CancelSlotForm(forms.Form):
    slot = forms.IntegerField()
    reason = forms.CharField(required=False, max_length=200, strip=True)


class SeriesForm(forms.Form):
    series = forms.IntegerField()


class GrantForm(forms.Form):
    supporter = forms.IntegerField()
    gate = forms.ChoiceField(choices=GateException.Gate.choices)
    days = forms.IntegerField(error_messages={"required": "Say for how many days."})
    reason = forms.CharField(
        max_length=REASON_MAX_CHARS,
        strip=True,
        error_messages={"required": "Say why, for the record."},
    )


class RevokeForm(forms.Form):
    exception = forms.IntegerField()


class PublishForm(forms.Form):
    """A time to offer, as the supervisor thinks of it: a day, a start, how long, how often."""

    date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"required": "Pick a date.", "invalid": "Pick a date."},
    )
    start = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        error_messages={"required": "Pick a start time.", "invalid": "Pick a start time."},
    )
    duration = forms.IntegerField(
        initial=60,
        widget=forms.NumberInput(attrs={"min": 15, "max": 240, "step": 5}),
        error_messages={"required": "Say how many minutes.", "invalid": "Say how many minutes."},
    )
    kind = forms.ChoiceField(
        choices=SlotKind.choices, initial=SlotKind.ONE_TO_ONE, widget=forms.RadioSelect
    )
    places = forms.IntegerField(
        required=False,
        initial=6,
        widget=forms.NumberInput(attrs={"min": 2, "max": 30}),
        error_messages={"invalid": "Say how many places the group has."},
    )
    purpose = forms.ChoiceField(choices=SlotPurpose.choices, initial=SlotPurpose.ANY)
    location = forms.CharField(
        required=False,
        max_length=200,
        strip=True,
        widget=forms.TextInput(attrs={"aria-describedby": "publish-location-help"}),
        error_messages={"max_length": "Keep the place to 200 characters."},
    )
    time_zone = forms.ChoiceField()
    repeat = forms.ChoiceField(choices=[(v, label) for v, label, _ in REPEATS], initial="none")
    times = forms.IntegerField(
        required=False,
        initial=REPEAT_TIMES_DEFAULT,
        min_value=2,
        max_value=REPEAT_TIMES_MAX,
        widget=forms.NumberInput(attrs={"min": 2, "max": REPEAT_TIMES_MAX}),
        error_messages={
            "invalid": "Say how many times it repeats.",
            "min_value": "A repeat happens at least 2 times.",
            "max_value": f"A repeat happens at most {REPEAT_TIMES_MAX} times.",
        },
    )
    skip = forms.CharField(
        required=False,
        strip=True,
        widget=forms.TextInput(attrs={"aria-describedby": "publish-skip-help"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "publish-%s")
        super().__init__(*args, **kwargs)
        zones = list(dict.fromkeys((settings.TIME_ZONE, *EXTRA_TIME_ZONES)))
        self.fields["time_zone"].choices = [(z, z.replace("_", " ")) for z in zones]
        self.fields["time_zone"].initial = settings.TIME_ZONE

    def clean_skip(self) -> tuple[date, ...]:
        days = []
        for part in self.cleaned_data["skip"].replace(";", ",").split(","):
            if not part.strip():
                continue
            try:
                days.append(date.fromisoformat(part.strip()))
            except ValueError:
                raise forms.ValidationError(
                    "Write dates to skip like 2026-12-25, separated by commas."
                ) from None
        return tuple(days)

    def spec(self) -> SlotSpec:
        data = self.cleaned_data
        group = data["kind"] == SlotKind.GROUP
        rule = dict((v, r) for v, _, r in REPEATS)[data["repeat"]]
        return SlotSpec(
            starts_local=datetime.combine(data["date"], data["start"]),
            duration_minutes=data["duration"],
            kind=data["kind"],
            capacity=(data["places"] or 0) if group else 1,
            purpose=data["purpose"],
            location=data["location"],
            time_zone=data["time_zone"],
            rrule=rule.format(n=data["times"] or REPEAT_TIMES_DEFAULT) if rule else "",
            except_dates=data["skip"] if rule else (),
        )


def _form_trouble(form: forms.Form) -> str:
    """The first problem of an invalid form, as a sentence (our own messages say which part)."""
    for field_errors in form.errors.values():
        return field_errors[0]
    return FORM_TROUBLE


# The supporter's schedule -------------------------------------------------------------------


@never_cache
@require_safe
@supporters_page
def schedule_page(request):
    now = timezone.now()
    user = request.user
    data = supporter_schedule(user=user, now=now)
    context = {
        **data,
        "debrief_rows": data["debriefs"],
        "open_rows": [{"slot": s, "left": s.capacity - s.taken} for s in data["open_slots"]],
        "now": now,
        "talk_offer": _talk_offer(request, now=now),
        "feelings": FEELINGS,
        "note_max_chars": NOTE_MAX_CHARS,
        "time_zone": settings.TIME_ZONE,
        "calendar": calendar_link_context(request=request, next_url=reverse("staff-schedule")),
    }
    return render(request, "peerchat/schedule.html", context)


def _talk_offer(request, *, now) -> SupervisionSlot | None:
    """The time offered after "I'd like to talk", while it can still be booked."""
    slot = talk_offer(user=request.user, slot_id=request.session.get(SESSION_TALK_OFFER), now=now)
    if slot is None:
        request.session.pop(SESSION_TALK_OFFER, None)
    return slot


@never_cache
@require_POST
@supporters_page
def schedule_book(request):
    form = BookForm(request.POST)
    if not form.is_valid():
        messages.error(request, FORM_TROUBLE)
        return redirect("staff-schedule")
    purpose = form.cleaned_data["purpose"]
    booking = _outcome(
        request,
        booking_create,
        lambda b: f"Booked: your {b.get_purpose_display().lower()}, {_slot_words(b.slot)}.",
        supporter=request.user,
        slot_id=form.cleaned_data["slot"],
        purpose=purpose,
        debrief_id=form.cleaned_data["debrief"],
    )
    if booking is not None and purpose == Booking.Purpose.TALK:
        request.session.pop(SESSION_TALK_OFFER, None)
    return redirect("staff-schedule")


@never_cache
@require_POST
@supporters_page
def schedule_move(request):
    form = MoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_trouble(form))
        return redirect("staff-schedule")
    _outcome(
        request,
        booking_move,
        lambda b: f"Moved: your {b.get_purpose_display().lower()} is now {_slot_words(b.slot)}.",
        booking_id=form.cleaned_data["booking"],
        supporter=request.user,
        to_slot_id=form.cleaned_data["to_slot"],
    )
    return redirect("staff-schedule")


@never_cache
@require_POST
@supporters_page
def schedule_cancel(request):
    form = BookingForm(request.POST)
    if not form.is_valid():
        messages.error(request, FORM_TROUBLE)
        return redirect("staff-schedule")
    _outcome(
        request,
        booking_cancel,
        lambda b: (
            f"Cancelled your {b.get_purpose_display().lower()} on "
            f"{when(b.slot.starts_at)}. {b.slot.supervisor.handle} has been told."
        ),
        booking_id=form.cleaned_data["booking"],
        by=request.user,
    )
    return redirect("staff-schedule")


@never_cache
@require_POST
@supporters_page
def schedule_checkin(request):
    form = CheckInForm(request.POST)
    if not form.is_valid():
        messages.error(request, FORM_TROUBLE)
        return redirect("staff-schedule")
    data = form.cleaned_data
    skipped = data["skip"]
    if not skipped and not data["feeling"]:
        messages.error(request, "Pick how you are, or choose 'Not now'.")
        return redirect("staff-schedule")
    try:
        checkin, offered = checkin_submit(
            supporter=request.user,
            shift_id=data["shift"],
            feeling=ShiftCheckIn.Feeling.SKIPPED if skipped else data["feeling"],
            note=data["note"],
            wants_to_talk=data["wants_to_talk"],
        )
    except PeerchatError as error:
        messages.error(request, error.detail)
        return redirect("staff-schedule")
    if skipped:
        messages.success(request, "That's fine. We won't ask about that shift again.")
    elif not checkin.wants_to_talk:
        messages.success(request, "Thank you for checking in.")
    elif offered is not None:
        request.session[SESSION_TALK_OFFER] = offered.pk
        messages.success(
            request,
            "Thank you. We've let a supervisor know you'd like to talk (not what you wrote). "
            "There's a time you can book straight away, below.",
        )
    else:
        messages.success(
            request,
            "Thank you. We've let a supervisor know you'd like to talk (not what you wrote). "
            "There's no free time just now, so they'll offer you one.",
        )
    return redirect("staff-schedule")


@never_cache
@require_POST
@supporters_page
def schedule_notices_read(request):
    notices_mark_read(user=request.user)
    return redirect("staff-schedule")


# The supervisor's calendar ------------------------------------------------------------------


@never_cache
@require_safe
@supervisors_page
def supervision_page(request):
    return _supervision_page(request, form=PublishForm())


def _supervision_page(request, *, form: PublishForm, status: int = 200):
    now = timezone.now()
    since = now - timedelta(weeks=RECORDS_WEEKS)
    user = request.user
    data = supervisor_calendar(supervisor=user, now=now)
    context = {
        **data,
        "form": form,
        "series": [
            {
                "series": series,
                "repeat": REPEAT_WORDS.get(series.rrule.split(";COUNT")[0], series.rrule),
                "kind": series.get_kind_display(),
            }
            for series in data["series"]
        ],
        "records": supporter_records(since=since, until=now, now=now),
        "records_weeks": RECORDS_WEEKS,
        "exception_days": range(1, settings.SUPERVISION["EXCEPTION_MAX_DAYS"] + 1),
        "reason_max_chars": REASON_MAX_CHARS,
        "calendar": calendar_link_context(request=request, next_url=reverse("supervision")),
    }
    return render(request, "peerchat/supervision.html", context, status=status)


@never_cache
@require_POST
@supervisors_page
def supervision_publish(request):
    form = PublishForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_trouble(form))
        return _supervision_page(request, form=form, status=400)
    try:
        made = slot_publish(supervisor=request.user, spec=form.spec())
    except PeerchatError as error:
        messages.error(request, error.detail)
        return _supervision_page(request, form=form, status=400)
    if len(made) == 1:
        messages.success(request, f"Published: {when(made[0].starts_at)}.")
    else:
        messages.success(
            request, f"Published {len(made)} times, starting {when(made[0].starts_at)}."
        )
    return redirect("supervision")


@never_cache
@require_POST
@supervisors_page
def supervision_cancel(request):
    form = CancelSlotForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_trouble(form))
        return redirect("supervision")
    _outcome(
        request,
        slot_cancel,
        lambda s: (
            f"Cancelled the time on {when(s.starts_at)}. Anyone who had booked it has "
            "been told and offered other times."
        ),
        slot_id=form.cleaned_data["slot"],
        by=request.user,
        reason=form.cleaned_data["reason"],
    )
    return redirect("supervision")


@never_cache
@require_POST
@supervisors_page
def supervision_end_series(request):
    form = SeriesForm(request.POST)
    if not form.is_valid():
        messages.error(request, FORM_TROUBLE)
        return redirect("supervision")
    _outcome(
        request,
        series_end,
        lambda n: (
            f"Ended this regular time: {n} coming time{'s' if n != 1 else ''} cancelled. "
            "Anyone who had booked has been told."
        ),
        series_id=form.cleaned_data["series"],
        by=request.user,
    )
    return redirect("supervision")


@never_cache
@require_POST
@supervisors_page
def supervision_record(request):
    form = RecordForm(request.POST)
    if not form.is_valid():
        messages.error(request, FORM_TROUBLE)
        return redirect("supervision")
    _outcome(
        request,
        booking_record,
        lambda b: (
            f"Recorded: {b.supporter.handle} "
            + ("came." if b.state == Booking.State.ATTENDED else "didn't come.")
        ),
        booking_id=form.cleaned_data["booking"],
        by=request.user,
        attended=form.cleaned_data["attended"] == "yes",
    )
    return redirect("supervision")


@never_cache
@require_POST
@supervisors_page
def supervision_grant(request):
    form = GrantForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_trouble(form))
        return redirect("supervision")
    supporter = User.objects.filter(pk=form.cleaned_data["supporter"]).first()
    if supporter is None:
        messages.error(request, "There is no such supporter.")
        return redirect("supervision")
    _outcome(
        request,
        gate_exception_grant,
        lambda e: (
            f"{supporter.handle} may start shifts until {when(e.expires_at)} "
            f"({e.get_gate_display().lower()}). They've been told, and the reason is kept "
            "on record."
        ),
        supporter=supporter,
        by=request.user,
        gate=form.cleaned_data["gate"],
        reason=form.cleaned_data["reason"],
        days=form.cleaned_data["days"],
    )
    return redirect("supervision")


@never_cache
@require_POST
@supervisors_page
def supervision_revoke(request):
    form = RevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, FORM_TROUBLE)
        return redirect("supervision")
    _outcome(
        request,
        gate_exception_revoke,
        lambda e: f"Ended the exception for {e.supporter.handle}.",
        exception_id=form.cleaned_data["exception"],
        by=request.user,
    )
    return redirect("supervision")


@never_cache
@require_POST
@supervisors_page
def supervision_notices_read(request):
    notices_mark_read(user=request.user)
    return redirect("supervision")


urlpatterns = [
    path("staff/schedule/", schedule_page, name="staff-schedule"),
    path("staff/schedule/book", schedule_book, name="schedule-book"),
    path("staff/schedule/move", schedule_move, name="schedule-move"),
    path("staff/schedule/cancel", schedule_cancel, name="schedule-cancel"),
    path("staff/schedule/checkin", schedule_checkin, name="schedule-checkin"),
    path("staff/schedule/notices-read", schedule_notices_read, name="schedule-notices-read"),
    path("supervision/", supervision_page, name="supervision"),
    path("supervision/publish", supervision_publish, name="supervision-publish"),
    path("supervision/cancel", supervision_cancel, name="supervision-cancel"),
    path("supervision/end-series", supervision_end_series, name="supervision-end-series"),
    path("supervision/record", supervision_record, name="supervision-record"),
    path("supervision/exception", supervision_grant, name="supervision-exception-grant"),
    path("supervision/exception/revoke", supervision_revoke, name="supervision-exception-revoke"),
    path("supervision/notices-read", supervision_notices_read, name="supervision-notices-read"),
]
