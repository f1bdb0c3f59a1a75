"""Create the jobs' django-q2 schedules (the reaper) if they are missing. Idempotent."""

from django.core.management.base import BaseCommand

from panel.jobs.recovery import SCHEDULE_NAME, ensure_schedules


class Command(BaseCommand):
    help = "Create the job reaper schedule if it is missing (also done after every migrate)."

    def handle(self, *args: object, **options: object) -> None:
        ensure_schedules()
        self.stdout.write(f"schedule {SCHEDULE_NAME} is in place")
