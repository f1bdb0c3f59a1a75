"""What the ACME benchmarks (bench/certificates.py, bench/domains.py) share: the private Django
setup, the percentile of their timings and waiting for a job to end."""

from __future__ import annotations

import os
import time
from pathlib import Path


def setup_django(tmp: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nusantara.settings")
    os.environ.setdefault("DEBUG", "True")  # the embedded setup; the settings default is off
    os.environ["NUSANTARA_DATA_DIR"] = str(tmp / "data")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'bench.sqlite3'}")
    os.environ["AXES_ENABLED"] = "False"
    import django

    django.setup()
    import logging

    logging.getLogger("django-q").setLevel(logging.WARNING)  # one line per enqueue otherwise


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def wait_job(job_id, timeout: float = 60):
    from panel.jobs.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status in ("success", "failed"):
            return job
        time.sleep(0.02)
    raise RuntimeError(f"job {job_id} did not finish")
