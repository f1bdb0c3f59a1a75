"""Benchmark: certificate request -> HTTPS served, against a real Pebble, nginx and worker.

    uv run python bench/certificates.py [--runs N] [--no-write]

Each run provisions a fresh static site, then measures from `certificate_request()` until an
HTTPS request with SNI to nginx verifies against Pebble's issuing root and returns 200. Pebble
runs with PEBBLE_VA_NOSLEEP=1 (no artificial validation delay). Everything (database, nginx,
Pebble, the qcluster worker) is private, on free loopback ports, and removed afterwards.
The result goes into docs/benchmarks.md, section "Certificates".
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BASE_DIR))

from bench.acme_run import percentile, setup_django, wait_job  # noqa: E402
from bench.docs_section import database_label, run_facts, write_section  # noqa: E402

TARGET_P50 = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="np-bench-certs-"))
    tmp.chmod(0o755)
    setup_django(tmp)

    from django.conf import settings
    from django.core.management import call_command

    from tests.services.nginx import start_nginx, stop_nginx
    from tests.services.pebble import start_pebble
    from tests.services.worker import Worker, worker_env

    nginx = pebble = worker = None
    try:
        nginx = start_nginx(tmp / "nginx")
        for name, value in nginx.settings.items():
            setattr(settings, name, value)
        pebble = start_pebble(tmp / "pebble", nginx.http_port)
        for name, value in pebble.env.items():
            setattr(settings, name, value)
        call_command("migrate", verbosity=0)

        from panel.accounts.models import Role, User
        from panel.certificates.services import certificate_request
        from panel.jobs.models import Job
        from panel.sites.services import site_create

        admin = User.objects.create(username="bench-admin", role=Role.ADMIN)
        worker = Worker(worker_env())
        timings: list[float] = []
        for i in range(args.runs + 1):  # run 0 warms up (account registration, worker start)
            domain = f"bench-{i}-{int(time.time())}.example.com"
            site = site_create(user=admin, domain=domain, runtime="static")
            provision = Job.objects.get(site_id=site.pk, type="site.provision")
            if wait_job(provision.pk).status != "success":
                raise RuntimeError(f"provisioning failed: {Job.objects.get(pk=provision.pk)}")
            site.refresh_from_db()
            start = time.monotonic()
            job = certificate_request(user=admin, site=site)
            deadline = start + 60
            while True:
                try:
                    resp = nginx.https_get(domain, cafile=str(pebble.root_path), timeout=2)
                    if resp.status == 200:
                        break
                except OSError:
                    pass  # not HTTPS yet (no vhost on 443 or another certificate)
                row = Job.objects.get(pk=job.pk)
                if row.status == "failed":
                    raise RuntimeError(f"issuance failed: {row.error_message}")
                if time.monotonic() > deadline:
                    raise RuntimeError("HTTPS not served within 60 s")
                time.sleep(0.02)
            elapsed = time.monotonic() - start
            if i:
                timings.append(elapsed)
            print(f"run {i}{' (warm-up)' if not i else ''}: {elapsed:.3f} s", flush=True)

        p50, p90 = statistics.median(timings), percentile(timings, 90)
        verdict = "meets" if p50 < TARGET_P50 else "MISSES"
        text = (
            "## Certificates\n\n"
            "Request -> HTTPS served: from `certificate_request()` until an HTTPS request with "
            "SNI to nginx verifies against Pebble's root and returns 200 (pre-flight, ACME "
            "order, HTTP-01 through nginx, finalize, files written, `nginx -t`, reload), with a "
            "real qcluster worker (ORM broker) and Pebble with `PEBBLE_VA_NOSLEEP=1`.\n"
            "Run: `uv run python bench/certificates.py`.\n\n"
            f"{run_facts(debug=settings.DEBUG, database=database_label())}\n\n"
            "| runs | p50 | p90 | min | max | target p50 |\n|---|---|---|---|---|---|\n"
            f"| {len(timings)} | {p50:.2f} s | {p90:.2f} s | {min(timings):.2f} s | "
            f"{max(timings):.2f} s | < {TARGET_P50:.0f} s ({verdict}) |\n\n"
            f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, Python "
            f"{platform.python_version()}; {time.strftime('%Y-%m-%d', time.gmtime())}.\n"
        )
        print(text)
        if not args.no_write:
            print(f"written to {write_section(text)}")
        return 0 if p50 < TARGET_P50 else 1
    finally:
        if worker is not None:
            worker.stop()
        if pebble is not None:
            pebble.stop()
        if nginx is not None:
            stop_nginx(nginx)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
