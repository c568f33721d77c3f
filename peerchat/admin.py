from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from peerchat.models import Membership, Room, User


@admin.register(User)
class PeerchatUserAdmin(UserAdmin):
    list_display = ("username", "handle", "role", "supporter_level", "is_active")
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


# Message is deliberately not registered: transcript reads are a moderator action with an
# audit record (DESIGN.md §11), which the moderation issues build.
