"""manage.py healthcheck [--web]: exit 0 when healthy, 1 otherwise (container health checks).

Without options it checks the worker: the heartbeat is fresh (what /healthz calls "worker").
With --web it asks this host's gunicorn for /healthz and is satisfied when the web answers and
its database is up; a dead worker must not get the web container restarted.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from panel.ops.heartbeat import last_beat, max_age


def _host_header() -> str:
    for host in settings.ALLOWED_HOSTS:
        if host and host != "*" and not host.startswith("."):
            return host
    return "localhost"


class Command(BaseCommand):
    help = "Exit 0 when the worker's heartbeat is fresh (or, with --web, when the web answers)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--web", action="store_true", help="check the local web server")
        parser.add_argument(
            "--url",
            default=None,
            help="healthz URL for --web (default: http://127.0.0.1:<GUNICORN_BIND port>/healthz)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["web"]:
            self._web(options["url"])
        else:
            self._worker()

    def _worker(self) -> None:
        at, age = last_beat()
        if age is None or age > max_age():
            raise CommandError(f"worker heartbeat is stale or missing (last: {at}, age: {age})")
        self.stdout.write(f"worker ok: last heartbeat {age:.0f}s ago")

    def _web(self, url: str | None) -> None:
        if url is None:
            port = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").rpartition(":")[2]
            url = f"http://127.0.0.1:{port}/healthz"
        request = urllib.request.Request(  # noqa: S310 - a fixed local http URL
            url, headers={"Host": _host_header()}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise CommandError(f"web answered {exc.code}")
            body = json.load(exc)
        except (OSError, ValueError) as exc:
            raise CommandError(f"web did not answer: {type(exc).__name__}")
        if body.get("database", {}).get("status") != "ok":
            raise CommandError("web answers but its database is down")
        self.stdout.write(f"web ok (overall: {body.get('status')})")
