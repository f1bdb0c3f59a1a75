"""Job handlers for SFTP: `sftp.keys` and `sftp.password`, run by the django-q2 worker.

Both are idempotent: `sftp.keys` rewrites the site user's whole authorized_keys file from the
table (under the site row's lock, so two of them cannot interleave a stale read with a newer
write), `sftp.password` sets or locks the password. The password's encrypted token is wiped from
the job's payload whatever the outcome (panel.tenancy.sftp explains the design).
"""

from __future__ import annotations

from django.db import transaction

from panel.jobs.models import Job
from panel.jobs.runner import JobFailed, job_log, register
from panel.jobs.secrets import wipe_secret
from panel.sites.models import Site, SiteStatus

from . import rootcmd
from .models import SiteSshKey
from .sftp import KEYS_JOB, PASSWORD_JOB, decrypt_password


def _write_keys(job: Job) -> None:
    with transaction.atomic():
        site = Site.objects.select_for_update().of_job(job).first()
        user = site.system_user if site else job.payload.get("user")
        if site is None or site.status == SiteStatus.DELETING or not user:
            # The site's deletion removes the file (and the user): nothing to write.
            job_log(job, "the site is gone or being deleted: no key file to write")
            return
        lines = list(
            SiteSshKey.objects.filter(site=site)
            .order_by("created_at")
            .values_list("public_key", flat=True)
        )
        try:
            result = rootcmd.run("keys-write", user, stdin="".join(f"{k}\n" for k in lines))
        except rootcmd.HelperError as exc:
            raise JobFailed(f"The SSH keys of {user} could not be written: {exc}")
    job_log(job, result)


def _apply_password(job: Job) -> None:
    user = job.payload.get("user") or ""
    try:
        if job.payload.get("action") == "set":
            token = job.payload.get("secret")
            if not token:
                raise JobFailed(
                    "The password was not kept after a first attempt (the panel never stores "
                    "it): set it again on the site page."
                )
            try:
                password = decrypt_password(token)
            except ValueError:
                raise JobFailed(
                    "The password could no longer be read (it waited too long, or the secret "
                    "key changed): set it again on the site page."
                )
            result = rootcmd.run("password-set", user, stdin=password + "\n")
        else:
            result = rootcmd.run("password-clear", user)
    except rootcmd.HelperError as exc:
        raise JobFailed(f"The SFTP password of {user} could not be changed: {exc}")
    finally:
        wipe_secret(job)
    job_log(job, result)


register(KEYS_JOB)(_write_keys)
# on_failure wipes too: the reaper fails a job whose worker died without running the handler.
register(PASSWORD_JOB, on_failure=wipe_secret)(_apply_password)
