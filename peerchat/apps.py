from django.apps import AppConfig


class PeerchatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "peerchat"
    verbose_name = "Peer support"

    def ready(self):
        from peerchat import jobs
        from peerchat.services.supervision import bookings, common, debriefs, notices, reminders

        # Durable job kinds of supervision (`manage.py run_worker`).
        jobs.register(notices.EMAIL_JOB, notices.notice_email_send)
        jobs.register(bookings.REMINDER_JOB, reminders.reminder_send)
        jobs.register(reminders.SCAN_JOB, reminders.scan_run)
        jobs.register(debriefs.OFFER_JOB, debriefs.offer_run)
        jobs.register(common.OFFER_ALL_JOB, debriefs.offer_all_run)
        jobs.register(debriefs.DEADLINE_JOB, debriefs.deadline_run)
