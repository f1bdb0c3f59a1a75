"""Write the root helper's configuration (/etc/nusantara/helper.json) from the settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from panel.tenancy import helper
from panel.tenancy.rootcmd import helper_config


class Command(BaseCommand):
    help = "Write the root helper's JSON configuration from the panel's settings (run as root)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", default=helper.CONFIG_PATH)
        parser.add_argument("--print", action="store_true", help="Print it instead.")

    def handle(self, *args: object, output: str, print: bool = False, **options: object) -> None:
        try:
            text = json.dumps(helper_config(), indent=2, sort_keys=True) + "\n"
        except helper.HelperError as exc:
            raise CommandError(str(exc)) from exc
        if print:
            self.stdout.write(text)
            return
        if os.geteuid() != 0:
            raise CommandError("Run this as root: the helper trusts only a root-owned file.")
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.chown(tmp, 0, 0)
        tmp.chmod(0o644)
        os.replace(tmp, path)
        self.stdout.write(f"wrote {path} (root, 0644)")
