"""Create the django-q2 schedules (the job reaper, certificate renewal, the worker heartbeat,
disk use) if they are missing. Idempotent."""

from django.core.management.base import BaseCommand

from panel.certificates.services import RENEWAL_SCHEDULE
from panel.certificates.services import ensure_schedules as ensure_renewal
from panel.jobs.recovery import SCHEDULE_NAME, ensure_schedules
from panel.ops.heartbeat import SCHEDULE_NAME as HEARTBEAT
from panel.ops.heartbeat import ensure_schedule as ensure_heartbeat
from panel.tenancy.usage import SCHEDULE_NAME as DISK_USAGE
from panel.tenancy.usage import ensure_schedule as ensure_disk_usage


class Command(BaseCommand):
    help = "Create the panel's schedules if they are missing (also done after every migrate)."

    def handle(self, *args: object, **options: object) -> None:
        ensure_schedules()
        ensure_renewal()
        ensure_heartbeat()
        ensure_disk_usage()
        for name in (SCHEDULE_NAME, RENEWAL_SCHEDULE, HEARTBEAT, DISK_USAGE):
            self.stdout.write(f"schedule {name} is in place")
