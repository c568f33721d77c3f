from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from peerchat.models import Membership, Room, User
from peerchat.services.rooms import room_member_remove


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
