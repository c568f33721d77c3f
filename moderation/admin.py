"""Read-only views of moderation's records for admins. Decisions go through the moderators'
console, whose services audit them and tell every process (policy changes bump the revision)."""

from django.contrib import admin

from moderation.models import (
    AuditEntry,
    Escalation,
    EscalationEvent,
    EscalationTrigger,
    FilterCase,
    PolicyTerm,
    Screening,
)


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
