"""Durable jobs for admins: read-only, with dead letters one click away and a retry action."""

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from moderation.models import AuditEntry
from peerchat.jobs.models import Job

RETRYABLE = (Job.State.DEAD, Job.State.CANCELLED, Job.State.PENDING)


class NeedsAttention(admin.SimpleListFilter):
    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("dead", "Dead letters"), ("retrying", "Retrying (failed at least once)")]

    def queryset(self, request, queryset):
        if self.value() == "dead":
            return queryset.filter(state=Job.State.DEAD)
        if self.value() == "retrying":
            return queryset.filter(state=Job.State.PENDING, attempts__gt=0)
        return queryset


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "state",
        "attempts",
        "max_attempts",
        "run_at",
        "last_error",
        "result",
        "created_at",
        "finished_at",
    )
    list_filter = (NeedsAttention, "state", "kind")
    search_fields = ("key",)
    date_hierarchy = "created_at"
    actions = ["retry_selected"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_retry_permission(self, request):
        return request.user.has_perm("jobs.change_job")

    @admin.action(description="Retry selected", permissions=["retry"])
    def retry_selected(self, request, queryset):
        """Run the selected jobs again from their first attempt (dead letters, for instance)."""
        retried = skipped = 0
        now = timezone.now()
        with transaction.atomic():
            for job in queryset.select_for_update(of=("self",)).order_by("id"):
                if job.state not in RETRYABLE:
                    skipped += 1
                    continue
                job.state = Job.State.PENDING
                job.run_at = now
                job.attempts = 0
                job.locked_by = ""
                job.locked_until = None
                job.finished_at = None
                job.save(
                    update_fields=[
                        "state",
                        "run_at",
                        "attempts",
                        "locked_by",
                        "locked_until",
                        "finished_at",
                    ]
                )
                AuditEntry.objects.create(
                    actor=request.user,
                    action="job_retried",
                    detail={"job": job.pk, "kind": job.kind},
                )
                retried += 1
        if retried:
            self.message_user(request, f"{retried} job(s) will run again now.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} job(s) left alone: only pending, dead or cancelled jobs are retried.",
                messages.WARNING,
            )
