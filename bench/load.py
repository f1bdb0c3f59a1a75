"""Load test: 50 logged-in users browsing and creating sites for 60 s against gunicorn on
PostgreSQL, with a real django-q2 worker provisioning every site into a private nginx.

    uv run python bench/load.py [--users 50] [--duration 60] [--no-write]

What it does: creates the database `np_load` afresh (BENCH_DATABASE_URL to change), migrates,
collects static files, creates the users, starts a private nginx on a free loopback port (the
worker's `nginx -t` and `nginx -s reload` really run against it), gunicorn with
deploy/gunicorn.conf.py (DEBUG off, as in production) and one `qcluster`, then runs locust
headless. Afterwards it waits for the queued jobs to finish, prints the numbers and writes them
to docs/benchmarks.md, section "Load". The exit status is 0 only with zero errors.

This file is also the locustfile (locust imports it; the __main__ block does not run then).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import string

from locust import HttpUser, between, task

USER_PREFIX = "bench"
PASSWORD = "bench-Pa55word-not-secret"  # noqa: S105 - a throwaway database
_numbers = itertools.count(1)
SESSIONS: list[str] = json.loads(os.environ.get("BENCH_SESSIONS", "[]")) or ["none"]


class PanelUser(HttpUser):
    """A customer: looks at the dashboard, the site list, a site, jobs and certificates, and
    now and then creates a site."""

    wait_time = between(1, 3)

    def on_start(self) -> None:
        # Sessions are made before the run (bench/load_runner.py): the test measures logged-in
        # users. A login costs one PBKDF2 hash (~0.5 s of CPU by design) and is timed apart.
        number = next(_numbers)
        self.username = f"{USER_PREFIX}{number:03d}"
        self.site_ids: list[str] = []
        self.client.cookies.set("sessionid", SESSIONS[(number - 1) % len(SESSIONS)])
        self.client.get("/sites/new/", name="/sites/new/")  # sets the CSRF cookie

    def _get(self, path: str, name: str | None = None) -> None:
        self.client.get(path, name=name or path)

    @task(3)
    def dashboard(self) -> None:
        self._get("/")

    @task(3)
    def site_list(self) -> None:
        self._get("/sites/")

    @task(2)
    def site_detail(self) -> None:
        if self.site_ids:
            self._get(f"/sites/{random.choice(self.site_ids)}/", "/sites/[id]/")  # noqa: S311

    @task(2)
    def job_list(self) -> None:
        self._get("/jobs/")

    @task(1)
    def certificate_list(self) -> None:
        self._get("/certificates/")

    @task(1)
    def create_site(self) -> None:
        self._get("/sites/new/")
        suffix = "".join(random.choices(string.ascii_lowercase, k=6))  # noqa: S311
        domain = f"{self.username}-{suffix}.bench.test"
        with self.client.post(
            "/sites/new/",
            {
                "domain": domain,
                "runtime": "static",
                "csrfmiddlewaretoken": self.client.cookies.get("csrftoken", ""),
            },
            name="/sites/new/ [POST]",
            catch_response=True,
        ) as response:
            match = re.search(r"/sites/([0-9a-f-]{36})/$", response.url or "")
            if response.status_code != 200 or not match:
                response.failure(f"site not created (HTTP {response.status_code})")
            else:
                self.site_ids.append(match.group(1))


if __name__ == "__main__":
    from load_runner import main  # bench/ is sys.path[0] when run as a script

    raise SystemExit(main())
