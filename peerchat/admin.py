from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import Exists, OuterRef
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from peerchat.models import (
    Agreement,
    Booking,
    Debrief,
    GateException,
    GroupMeeting,
    Membership,
    Room,
    Shift,
    SlotSeries,
    SupervisionSlot,
    SupporterProfile,
    TrainingModule,
    TrainingRecord,
    User,
)
from peerchat.services.rooms import room_member_remove
from peerchat.services.two_factor import two_factor_reset
from peerchat.services.users import staff_user_deactivate

# Two-factor devices are changed only by their owner (set-up) and by the audited reset below,
# never edited here: django-otp's own admin pages would show keys and skip the audit log.
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class SupporterProfileInline(admin.StackedInline):
    """Who supervises a supporter (the one person besides them who reads their check-ins)."""

    model = SupporterProfile
    fk_name = "user"
    fields = ("supervisor",)
    autocomplete_fields = ("supervisor",)
    can_delete = False
    extra = 0
    max_num = 1


@admin.register(User)
class PeerchatUserAdmin(UserAdmin):
    list_display = ("username", "handle", "role", "supporter_level", "is_active", "two_factor")
    list_filter = ("role", "supporter_level", "is_active")
    search_fields = ("username", "handle")
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Peer support", {"fields": ("role", "supporter_level", "handle")}),
    )
    add_fieldsets = (
        *UserAdmin.add_fieldsets,
        ("Peer support", {"fields": ("role", "supporter_level", "handle")}),
    )
    inlines = (SupporterProfileInline,)
    actions = ("close_accounts", "reset_two_factor")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                has_two_factor=Exists(
                    TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
                )
            )
        )

    @admin.display(boolean=True, description="Two-factor set up", ordering="has_two_factor")
    def two_factor(self, obj):
        if obj.role == User.Role.SEEKER:
            return None
        return obj.has_two_factor

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None and obj.role == User.Role.SUPPORTER else ()

    def save_model(self, request, obj, form, change):
        """Closing an account (unticking "active") goes through the service: off shift,
        bookings given up, and the supervisors and supporters affected told."""
        closing = change and "is_active" in form.changed_data and not obj.is_active
        if closing and obj.role != User.Role.SEEKER:
            obj.is_active = True
            super().save_model(request, obj, form, change)
            staff_user_deactivate(user=obj, by=request.user)
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Close the selected staff accounts")
    def close_accounts(self, request, queryset):
        closed = 0
        for user in queryset.filter(is_active=True).exclude(role=User.Role.SEEKER):
            staff_user_deactivate(user=user, by=request.user)
            closed += 1
        self.message_user(request, f"Closed {closed} account(s); their bookings were released.")

    @admin.action(description="Reset two-factor of the selected staff (lost or new phone)")
    def reset_two_factor(self, request, queryset):
        reset = 0
        for user in queryset.exclude(role=User.Role.SEEKER):
            two_factor_reset(user=user, by=request.user, via="admin")
            reset += 1
        self.message_user(
            request,
            f"Reset two-factor for {reset} account(s). They set up an authenticator app again "
            "at their next sign-in; their open pages were signed out.",
        )


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("__str__", "kind", "last_seq", "created_at")
    list_filter = ("kind",)
    readonly_fields = ("last_seq",)
    inlines = (MembershipInline,)

    def save_formset(self, request, form, formset, change):
        """Remove members through the service, so their open sockets stop at once."""
        instances = formset.save(commit=False)
        for membership in formset.deleted_objects:
            room_member_remove(room=membership.room, user=membership.user)
        for membership in instances:
            membership.save()
        formset.save_m2m()


# Message is deliberately not registered: transcript reads are a moderator action with an
# audit record (DESIGN.md §11), which the moderation issues build.


@admin.register(GroupMeeting)
class GroupMeetingAdmin(admin.ModelAdmin):
    """Scheduled groups. New ones are best made with the service, which also makes the room."""

    list_display = ("title", "starts_at", "ends_at", "facilitator", "max_members", "opened_at")
    list_filter = ("starts_at",)
    search_fields = ("title", "facilitator__handle")
    raw_id_fields = ("room", "facilitator")
    readonly_fields = ("opened_at",)


@admin.register(Agreement)
class AgreementAdmin(admin.ModelAdmin):
    """Agreements are versioned: a published version is never edited, so every acceptance
    points at the words the person saw. To change one, add a new version of the same kind."""

    list_display = ("__str__", "title", "published_at", "acceptance_count")
    list_filter = ("kind",)
    ordering = ("kind", "-version")

    @admin.display(description="accepted by")
    def acceptance_count(self, agreement):
        return agreement.acceptances.count()

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.published_at is not None:
            return ("kind", "version", "title", "body", "confidentiality", "published_at")
        return ()

    def get_changeform_initial_data(self, request):
        """A new agreement starts as a copy of the newest one, one version up."""
        kind = request.GET.get("kind", Room.Kind.ONE_TO_ONE)
        latest = Agreement.objects.filter(kind=kind).order_by("-version").first()
        if latest is None:
            return {"kind": kind, "version": 1}
        return {
            "kind": kind,
            "version": latest.version + 1,
            "title": latest.title,
            "body": latest.body,
            "confidentiality": latest.confidentiality,
        }

    def has_delete_permission(self, request, obj=None):
        return obj is None or not obj.acceptances.exists()


@admin.register(TrainingModule)
class TrainingModuleAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "required_levels", "valid_days")


@admin.register(TrainingRecord)
class TrainingRecordAdmin(admin.ModelAdmin):
    list_display = ("supporter", "module", "completed_on", "expires_on")
    list_filter = ("module",)
    search_fields = ("supporter__handle", "supporter__username")
    autocomplete_fields = ("supporter",)


@admin.register(Shift)
class ShiftAdmin(admin.ModelAdmin):
    list_display = ("supporter", "starts_at", "ends_at", "started_at", "ended_at")
    list_filter = ("starts_at",)
    search_fields = ("supporter__handle", "supporter__username")
    autocomplete_fields = ("supporter",)
    readonly_fields = ("started_at", "ended_at")
    date_hierarchy = "starts_at"


@admin.register(Debrief)
class DebriefAdmin(admin.ModelAdmin):
    """Debriefs supporters are due after an escalation (the supervision pages book them)."""

    list_display = ("supporter", "due_by", "state", "escalation", "completed_at")
    list_filter = ("state",)
    search_fields = ("supporter__handle", "supporter__username")
    readonly_fields = ("supporter", "escalation", "created_at")
    date_hierarchy = "due_by"


class BookingInline(admin.TabularInline):
    model = Booking
    fields = ("supporter", "purpose", "state", "automatic", "created_at", "cancel_reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SupervisionSlot)
class SupervisionSlotAdmin(admin.ModelAdmin):
    """Supervision times. Publish, cancel and book them on the supervision pages (which tell
    the people affected); here they are for looking up."""

    list_display = ("supervisor", "starts_at", "kind", "capacity", "purpose", "state")
    list_filter = ("state", "kind", "purpose")
    search_fields = ("supervisor__handle",)
    date_hierarchy = "starts_at"
    inlines = (BookingInline,)

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(SlotSeries)
class SlotSeriesAdmin(admin.ModelAdmin):
    list_display = ("supervisor", "rrule", "first_starts_at", "time_zone", "ended_at")
    readonly_fields = ("made_until",)

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(GateException)
class GateExceptionAdmin(admin.ModelAdmin):
    """Exceptions supervisors granted to the gates on new shifts: the record, read-only."""

    list_display = ("supporter", "gate", "granted_by", "starts_at", "expires_at", "revoked_at")
    list_filter = ("gate",)
    search_fields = ("supporter__handle",)

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# ShiftCheckIn is deliberately not registered: a check-in is for the supporter and their own
# supervisor only (DESIGN.md §9), not for everyone with admin access.
