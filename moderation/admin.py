"""Read-only views of moderation's records for admins. Decisions go through the moderators'
console, whose services audit them and tell every process (policy changes bump the revision)."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages

from moderation.models import (
    AuditEntry,
    Escalation,
    EscalationEvent,
    EscalationTrigger,
    FilterCase,
    PolicyTerm,
    RetentionRun,
    SafeguardingHold,
    Screening,
)
from moderation.retention import kinds as retention_kinds
from moderation.retention import selectors as retention_selectors
from moderation.retention import services as retention_services


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Screening)
class ScreeningAdmin(ReadOnly):
    list_display = ("created_at", "room_kind", "action", "escalate", "review", "policy_version")
    list_filter = ("action", "escalate", "review", "room_kind")
    date_hierarchy = "created_at"


@admin.register(PolicyTerm)
class PolicyTermAdmin(ReadOnly):
    list_display = ("group", "term", "added_by", "added_at", "removed_at")
    list_filter = ("group",)


@admin.register(FilterCase)
class FilterCaseAdmin(ReadOnly):
    list_display = ("created_at", "kind", "expected", "room_kind", "got_action")
    list_filter = ("kind", "expected")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnly):
    """Who did what, and which transcripts staff read (`transcript_read`), newest first."""

    list_display = ("action", "actor", "room", "subject", "created_at")
    list_filter = ("action",)
    list_select_related = ("actor", "room", "subject")
    search_fields = ("actor__handle",)
    search_help_text = "Search by the handle of the person who did it."
    date_hierarchy = "created_at"
    readonly_fields = ("action", "actor", "room", "subject", "detail", "created_at")


class EscalationTriggerInline(admin.TabularInline):
    model = EscalationTrigger
    fields = ("created_at", "kind", "by", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class EscalationEventInline(admin.TabularInline):
    model = EscalationEvent
    fields = ("sequence", "created_at", "type", "actor", "event_id")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Escalation)
class EscalationAdmin(ReadOnly):
    """Every escalation with its triggers and steps; moderators act on the console."""

    list_display = (
        "opened_at",
        "room",
        "kind",
        "state",
        "stage",
        "acknowledged_by",
        "acknowledged_at",
        "resolved_at",
        "outcome",
        "trigger_count",
    )
    list_filter = ("state", "kind", "outcome", "stage")
    date_hierarchy = "opened_at"
    inlines = [EscalationTriggerInline, EscalationEventInline]


# Data retention ----------------------------------------------------------------------------------


class SafeguardingHoldForm(forms.ModelForm):
    class Meta:
        model = SafeguardingHold
        fields = ("room", "escalation", "reason")

    def clean(self):
        cleaned = super().clean()
        room = cleaned.get("room")
        if room is not None and retention_selectors.hold_active(room_id=room.pk) is not None:
            raise forms.ValidationError("This room is already under a safeguarding hold.")
        escalation = cleaned.get("escalation")
        if escalation is not None and room is not None and escalation.room_id != room.pk:
            raise forms.ValidationError("That escalation is about another room.")
        return cleaned


@admin.register(SafeguardingHold)
class SafeguardingHoldAdmin(admin.ModelAdmin):
    """Holds that keep a room's record past retention. Placing and releasing go through the
    services, so each is audited like a moderator's; a hold is never edited or deleted."""

    form = SafeguardingHoldForm
    list_display = ("room", "placed_by", "placed_at", "reason", "released_by", "released_at")
    list_filter = (("released_at", admin.EmptyFieldListFilter),)
    list_select_related = ("room", "placed_by", "released_by")
    raw_id_fields = ("room", "escalation")
    date_hierarchy = "placed_at"
    actions = ["release_selected"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (
            "room",
            "escalation",
            "reason",
            "placed_by",
            "placed_at",
            "released_by",
            "released_at",
            "release_note",
        )

    def get_fields(self, request, obj=None):
        return (
            ("room", "escalation", "reason")
            if obj is None
            else self.get_readonly_fields(request, obj)
        )

    def has_change_permission(self, request, obj=None):
        # The change page is read-only; releasing is the list's action.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_release_permission(self, request):
        return request.user.has_perm("moderation.change_safeguardinghold")

    def save_model(self, request, obj, form, change):
        hold, _created = retention_services.hold_place(
            room_id=obj.room_id,
            moderator=request.user,
            reason=obj.reason,
            escalation_id=obj.escalation_id,
        )
        obj.pk = hold.pk
        obj.placed_by = hold.placed_by
        obj.placed_at = hold.placed_at

    @admin.action(description="Release selected holds", permissions=["release"])
    def release_selected(self, request, queryset):
        released = 0
        for hold in queryset.filter(released_at__isnull=True):
            retention_services.hold_release(
                room_id=hold.room_id, moderator=request.user, note="Released in the admin."
            )
            released += 1
        self.message_user(
            request,
            f"{released} hold(s) released: the next purge clears what is past retention there."
            if released
            else "None of the selected holds was active.",
            messages.SUCCESS if released else messages.WARNING,
        )


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnly):
    """Every run of the retention purge, newest first, under a summary of its health."""

    list_display = (
        "started_at",
        "finished_at",
        "state",
        "complete",
        "purged_count",
        "held_back_count",
        "worker",
        "error",
    )
    list_filter = ("state", "complete")
    date_hierarchy = "started_at"
    change_list_template = "admin/moderation/retentionrun/change_list.html"
    readonly_fields = (
        "started_at",
        "finished_at",
        "state",
        "complete",
        "worker",
        "job",
        "message_body_days",
        "notes_days",
        "purged",
        "held_back",
        "holds",
        "escalation_rooms",
        "error",
    )

    @admin.display(description="blanked")
    def purged_count(self, run):
        return run.purged_total

    @admin.display(description="kept back")
    def held_back_count(self, run):
        return run.held_back_total

    def changelist_view(self, request, extra_context=None):
        status = retention_selectors.purge_status()
        if status.warning:
            self.message_user(request, status.warning, messages.WARNING)
        last = status.last_run
        extra_context = {
            **(extra_context or {}),
            "retention": status,
            "retention_settings": settings.RETENTION,
            "last_purged": _by_kind(last.purged) if last else [],
            "last_held_back": _by_kind(last.held_back) if last else [],
        }
        return super().changelist_view(request, extra_context=extra_context)


def _by_kind(counts: dict) -> list[tuple[str, int]]:
    labels = {kind.key: kind.label for kind in retention_kinds.KINDS}
    return [(labels.get(key, key), n) for key, n in counts.items() if n]
