"""First run of the embedded default: create an admin account once and show its password once.

Does nothing when any admin exists. The password is printed to the terminal only, never logged.
"""

from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from panel.accounts.models import Role, User
from panel.audit.actions import AuditAction
from panel.audit.services import audit_record


class Command(BaseCommand):
    help = "Create the first admin account (username 'admin') if there is no admin yet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: object, username: str = "admin", **options: object) -> None:
        with transaction.atomic():
            if User.objects.filter(role=Role.ADMIN).exists():
                return
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username, password)
            audit_record(
                actor=None,
                action=AuditAction.USER_CREATE,
                target=user,
                metadata={"username": username, "role": "admin", "via": "first run"},
            )
        bar = "=" * 64
        self.stdout.write(
            f"\n{bar}\n Nusantara Panel: first admin account created (shown only once)\n"
            f"   username: {username}\n   password: {password}\n"
            f" Sign in to the panel and change it under Password.\n{bar}\n"
        )
