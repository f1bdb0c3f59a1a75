"""A real `manage.py qcluster` worker for the tests, pointed at the pytest test database.

The worker is a separate process: it gets the test database as DATABASE_URL, the test process's
SECRET_KEY (django-q2 signs task payloads with it) and every NUSANTARA_* setting as environment
variables, so it writes exactly where the test process's nginx/php-fpm fixtures look.
One worker is kept for the session and restarted only when that environment changes (a fixture
overrode a setting, or a test asked for e.g. a short NUSANTARA_JOB_TIMEOUT).

Tests that use it need the `transactional_db` (the worker cannot see uncommitted rows).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]
FINISHED = ("success", "failed")


def _database_url() -> str:
    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    auth = quote(conf.get("USER") or "")
    if conf.get("PASSWORD"):
        auth += ":" + quote(conf["PASSWORD"])
    host = conf.get("HOST") or "127.0.0.1"
    port = conf.get("PORT") or "5432"
    return f"postgres://{auth}@{host}:{port}/{conf['NAME']}"


def _env_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str | int | float | Path):
        return str(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    return None


def worker_env(**overrides: Any) -> dict[str, str]:
    """The environment a worker needs to act like the test process (plus overrides)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["DATABASE_URL"] = _database_url()
    env["SECRET_KEY"] = settings.SECRET_KEY
    env["DJANGO_SETTINGS_MODULE"] = "nusantara.settings"
    env.setdefault("DEBUG", "True")  # the embedded setup, like the test process (debug_env.py)
    env["PYTHONUNBUFFERED"] = "1"
    for name in dir(settings):
        if name.startswith("NUSANTARA_"):
            value = _env_value(getattr(settings, name))
            if value is not None:
                env[name] = value
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class Worker:
    """One qcluster process group; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        fd, name = tempfile.mkstemp(prefix="np-qcluster-", suffix=".log")
        os.close(fd)
        self.log_path = Path(name)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: we stop exactly what we started
            )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.alive:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass  # qcluster has been seen to ignore SIGTERM (FACTS.md)
            except ProcessLookupError:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of the group
        self.proc.wait(timeout=10)
        self.log_path.unlink(missing_ok=True)

    def wait_for_job(self, job: Any, timeout: float = 30) -> Any:
        return wait_for_job(job, timeout=timeout, worker=self)


def wait_for_job(job: Any, timeout: float = 30, worker: Worker | None = None) -> Any:
    """Poll the jobs table until the job is success/failed; return the fresh row."""
    from panel.jobs.models import Job

    job_id = getattr(job, "pk", job)
    deadline = time.monotonic() + timeout
    while True:
        row = Job.objects.get(pk=job_id)
        if row.status in FINISHED:
            return row
        if time.monotonic() > deadline:
            detail = worker.log_tail() if worker else ""
            if worker and not worker.alive:
                detail = f"worker exited with {worker.proc.returncode}\n{detail}"
            pytest.fail(
                f"job {row.type} {job_id} still {row.status} after {timeout}s; "
                f"log: {row.log[-5:]}\n{detail}"
            )
        time.sleep(0.05)


class WorkerManager:
    """Keeps one worker for the session; restarts it when the wanted environment changes."""

    def __init__(self) -> None:
        self.worker: Worker | None = None

    def ensure(self, env: dict[str, str]) -> Worker:
        if self.worker is not None and (self.worker.env != env or not self.worker.alive):
            self.stop()
        if self.worker is None:
            self.worker = Worker(env)
        return self.worker

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


@pytest.fixture(scope="session")
def worker_manager(django_db_setup):
    # Depends on the test database so that the worker stops before the database is dropped.
    manager = WorkerManager()
    yield manager
    manager.stop()


@pytest.fixture
def worker(worker_manager, transactional_db, nginx, phpfpm) -> Iterator[Worker]:
    """A running qcluster sharing the test database and the nginx/php-fpm fixtures' settings.
    Afterwards the sites' system users, homes and pools go (the database rows go anyway)."""
    yield worker_manager.ensure(worker_env())
    from tests.services.tenancy import reset_tenancy

    reset_tenancy()
