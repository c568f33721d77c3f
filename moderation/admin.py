"""Read-only views of the filter's records for admins; decisions go through the Review page,
whose services audit them and tell every process (policy changes bump the revision)."""

from django.contrib import admin

from moderation.models import AuditEntry, FilterCase, PolicyTerm, Screening


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
    list_display = ("created_at", "action", "actor", "room", "subject")
    list_filter = ("action",)
    date_hierarchy = "created_at"
