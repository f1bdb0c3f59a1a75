"""Run the certificate renewal now (what the daily `ssl-renewal` schedule runs), or list what
it would do. Also (re)creates the schedule if it is missing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from panel.certificates.models import CertStatus, SslCertificate
from panel.certificates.services import due_for_renewal, ensure_schedules, renewal_run


class Command(BaseCommand):
    help = "Mark expired certificates and queue ssl.renew jobs for those inside the window."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="only list what would be renewed or expired"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_schedules()
        if options["dry_run"]:
            now = timezone.now()
            expiring = SslCertificate.objects.filter(
                status=CertStatus.ISSUED, expires_at__lte=now
            ).select_related("site")
            for cert in expiring:
                self.stdout.write(f"would mark expired: {cert.site.domain} ({cert.expires_at})")
            for cert in due_for_renewal(now):
                self.stdout.write(f"would renew: {cert.site.domain} (expires {cert.expires_at})")
            return
        result = renewal_run()
        self.stdout.write(
            f"expired: {result['expired']}, renewals queued: {result['queued']}, "
            f"skipped (busy): {result['busy']}"
        )
