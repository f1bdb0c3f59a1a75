"""Browser uploads into a site's `public/`: the service that stages them, the `site.upload` job.

The web process only stages: it writes what the browser sent into
`<NUSANTARA_DATA_DIR>/uploads/<job id>/` (directory 0700, files 0600, the panel's own user) in
the same transaction as the job and the audit entry. The worker installs it as the site's user
(root helper verb `unpack`; with isolation off, the worker itself) through
panel.tenancy.unpack, and removes the staged files when the job ends, however it ends.
Staged layout: `upload.zip` (a zip to unpack) or `files/<name>...` (files to install as they are).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from panel.accounts.models import Role, User
from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.jobs.limits import rate_check_form
from panel.jobs.models import Job
from panel.jobs.runner import JobFailed, job_log, register
from panel.jobs.services import ensure_site_idle, job_create
from panel.jobs.types import JobType
from panel.nodes.services import ensure_files_here
from panel.sites.models import Site, SiteStatus

from . import homes, rootcmd, unpack

JOB_TYPE = JobType.SITE_UPLOAD
ZIP_NAME = "upload.zip"
FILES_DIR = "files"
# The sub-directory field: plain ASCII names, the grammar the root helper checks again.
SUBDIR_RE = re.compile(
    r"^(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9._-]{1,128}(?:/[A-Za-z0-9._-]{1,128}){0,8}$"
)


def messages() -> dict[str, str]:
    """What each refusal of panel.tenancy.unpack means, for the job's error (translated)."""
    return {
        "not_zip": _("The file is not a valid .zip archive."),
        "corrupt": _("The archive is damaged: %(name)s."),
        "lying_sizes": _(
            "The archive lies about the size of %(name)s (a zip bomb?). Nothing was unpacked."
        ),
        "traversal": _(
            "The archive entry %(name)s points outside the folder. Nothing was unpacked."
        ),
        "absolute": _("The archive entry %(name)s has an absolute path. Nothing was unpacked."),
        "backslash": _(
            "The archive entry %(name)s contains a backslash (a Windows path?). Nothing was "
            "unpacked."
        ),
        "control_chars": _("The name %(name)s contains control characters. Nothing was unpacked."),
        "bad_name": _("The name %(name)s is not allowed. Nothing was unpacked."),
        "too_long": _("The name %(name)s is too long. Nothing was unpacked."),
        "symlink": _(
            "The archive entry %(name)s is a symbolic link; links are not unpacked. Nothing was "
            "unpacked."
        ),
        "special": _(
            "The archive entry %(name)s is a device or pipe, not a file. Nothing was unpacked."
        ),
        "encrypted": _("The archive entry %(name)s is encrypted. Nothing was unpacked."),
        "duplicate": _("The name %(name)s appears twice. Nothing was unpacked."),
        "file_dir_clash": _(
            "The archive has %(name)s both as a file and as a folder. Nothing was unpacked."
        ),
        "too_many": _(
            "The archive has %(name)s entries; at most %(max_entries)s are allowed. Nothing was "
            "unpacked."
        ),
        "too_large": _("Unpacked, the upload would exceed %(max_unpacked)s. Nothing was unpacked."),
        "ratio": _(
            "The archive entry %(name)s is compressed suspiciously well (a zip bomb?). Nothing "
            "was unpacked."
        ),
        "symlink_in_public": _(
            "%(name)s in your site's files is a symbolic link; the upload does not write through "
            "links. Remove the link and upload again. Nothing was changed."
        ),
        "dir_in_way": _(
            "%(name)s is a folder on your site; a file would replace it. Remove or rename the "
            "folder first. Nothing was changed."
        ),
        "file_in_way": _(
            "%(name)s is a file on your site where the upload has a folder. Remove or rename the "
            "file first. Nothing was changed."
        ),
    }


def refusal_message(code: str, name: str = "") -> str:
    template = messages().get(code)
    if template is None:
        return _("The upload was refused (%(code)s).") % {"code": code}
    return template % {
        "name": f"“{name}”",
        "max_entries": settings.NUSANTARA_UPLOAD_MAX_ENTRIES,
        "max_unpacked": human_size(settings.NUSANTARA_UPLOAD_MAX_UNPACKED),
    }


def human_size(size: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            return (
                f"{size / factor:.0f} {unit}"
                if size % factor == 0
                else f"{size / factor:.1f} {unit}"
            )
    return f"{size} B"


def uploads_dir() -> Path:
    return Path(settings.NUSANTARA_DATA_DIR) / "uploads"


def staged_dir(job_id: Any) -> Path:
    return uploads_dir() / str(job_id)


def limits() -> unpack.Limits:
    return unpack.Limits(
        max_entries=settings.NUSANTARA_UPLOAD_MAX_ENTRIES,
        max_total=settings.NUSANTARA_UPLOAD_MAX_UNPACKED,
    )


def check_subdir(subdir: str) -> str:
    subdir = (subdir or "").strip().strip("/")
    if subdir and not SUBDIR_RE.fullmatch(subdir):
        raise ValidationError(
            {
                "subdir": _(
                    "Give a folder inside your site, such as images or blog/2026: letters, "
                    "digits, dots, dashes and underscores, separated by /; no “..”."
                )
            },
            code="subdir",
        )
    return subdir


def _check_files(files: list[UploadedFile], unpack_zip: bool) -> str:
    """The staged mode ("zip" or "files"); ValidationError on the `files` field otherwise."""
    if not files:
        raise ValidationError({"files": _("Choose at least one file.")}, code="required")
    total = sum(f.size or 0 for f in files)
    limit = settings.NUSANTARA_UPLOAD_MAX_SIZE
    if total > limit:
        raise ValidationError(
            {
                "files": _("The upload is %(size)s; at most %(limit)s are allowed.")
                % {"size": human_size(total), "limit": human_size(limit)}
            },
            code="too_large",
        )
    names = [f.name or "" for f in files]
    for name in names:
        try:
            unpack.split_path(name)
        except unpack.UnpackError as exc:
            raise ValidationError(
                {"files": refusal_message(exc.code, exc.name)}, code=exc.code
            ) from None
        if "/" in name:
            raise ValidationError({"files": refusal_message("bad_name", name)}, code="bad_name")
    if len(set(names)) != len(names):
        raise ValidationError({"files": refusal_message("duplicate", "")}, code="duplicate")
    if unpack_zip and len(files) == 1 and names[0].lower().endswith(".zip"):
        return "zip"
    return "files"


def _stage(job_id: Any, files: list[UploadedFile], mode: str) -> None:
    root = uploads_dir()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = staged_dir(job_id)
    target.mkdir(mode=0o700)
    if mode == "files":
        (target / FILES_DIR).mkdir(mode=0o700)
    for upload in files:
        path = target / ZIP_NAME if mode == "zip" else target / FILES_DIR / str(upload.name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)


def site_upload(
    *, user: User, site: Site, files: list[UploadedFile], subdir: str = "", unpack_zip: bool = True
) -> Job:
    """Stage the browser's files and queue the `site.upload` job that installs them into the
    site's public/ (a single .zip is unpacked when `unpack_zip`). Raises ValidationError keyed by
    form field ("files", "subdir", "__all__"), JobBusy while another job runs for the site."""
    if user.role != Role.ADMIN and site.created_by_id != user.pk:
        raise PermissionDenied
    subdir = check_subdir(subdir)
    mode = _check_files(files, unpack_zip)
    with transaction.atomic():
        site = Site.objects.select_for_update().get(pk=site.pk)
        if site.status != SiteStatus.ACTIVE:
            raise ValidationError(
                {"__all__": _("Files can be uploaded once the site is active.")}, code="status"
            )
        # The web stages the files on its own disk: only its own node's worker can see them.
        ensure_files_here(site, _("Uploads"))
        ensure_site_idle(site.pk)
        rate_check_form("site.upload", user=user, site_id=site.pk)
        names = [f.name for f in files]
        size = sum(f.size or 0 for f in files)
        job = job_create(
            type=JOB_TYPE,
            payload={"domain": site.domain, "mode": mode, "subdir": subdir, "names": names[:50]},
            user=user,
            site_id=site.pk,
            exclusive=False,  # checked above, under the same row lock
        )
        audit_record(
            actor=user,
            action=AuditAction.SITE_UPLOAD,
            target=site,
            metadata={
                "domain": site.domain,
                "mode": mode,
                "subdir": subdir,
                "files": names[:20],
                "count": len(names),
                "bytes": size,
                "job_id": str(job.pk),
            },
        )
        try:
            _stage(job.pk, files, mode)
        except BaseException:
            shutil.rmtree(staged_dir(job.pk), ignore_errors=True)
            raise
    return job


# --- the job ----------------------------------------------------------------------------------


def _install(site: Site, staged: Path, subdir: str) -> dict[str, Any]:
    """Run the install as the site user (root helper) or, with isolation off, right here.
    Returns {"ok": True, files, dirs, bytes} or {"ok": False, code, name}."""
    if homes.isolated(site):
        assert site.system_user  # isolated() says so
        args = [site.system_user, site.domain, str(staged)]
        if subdir:
            args.append(subdir)
        return json.loads(rootcmd.run("unpack", *args))
    home = homes.home_path(site.domain)
    return install_staged(staged, home / "public", home / "tmp", subdir, limits())


def install_staged(
    staged: Path, public: Path, tmp: Path, subdir: str, limit: unpack.Limits
) -> dict[str, Any]:
    """Install a staged upload (`.../upload.zip` or `.../files`) into `public`."""
    try:
        if staged.name == ZIP_NAME:
            with staged.open("rb") as archive:
                summary = unpack.install(
                    public=public, tmp=tmp, subdir=subdir, archive=archive, limits=limit
                )
        else:
            streams = [(p.name, p.open("rb")) for p in sorted(staged.iterdir()) if p.is_file()]
            try:
                summary = unpack.install(
                    public=public, tmp=tmp, subdir=subdir, files=streams, limits=limit
                )
            finally:
                for _name, stream in streams:
                    stream.close()
    except unpack.UnpackError as exc:
        return {"ok": False, "code": exc.code, "name": exc.name}
    return {"ok": True, "files": summary.files, "dirs": summary.dirs, "bytes": summary.bytes}


def _run_upload(job: Job) -> None:
    staged_root = staged_dir(job.pk)
    try:
        site = Site.objects.of_job(job).first()
        if site is None:
            raise JobFailed(_("The site no longer exists."))
        mode = job.payload.get("mode")
        staged = staged_root / (ZIP_NAME if mode == "zip" else FILES_DIR)
        if not staged.exists():
            raise JobFailed(
                _("The uploaded files are no longer there (a retried upload?). Upload them again.")
            )
        subdir = job.payload.get("subdir") or ""
        who = site.system_user if homes.isolated(site) else "the panel's user"
        job_log(job, f"installing the upload ({mode}) into public/{subdir} as {who}")
        try:
            result = _install(site, staged, subdir)
        except (rootcmd.HelperError, OSError, ValueError) as exc:
            raise JobFailed(str(exc)) from exc
        if not result.get("ok"):
            raise JobFailed(refusal_message(str(result.get("code")), str(result.get("name", ""))))
        job_log(
            job,
            ngettext(
                "%(files)d file installed (%(bytes)s).",
                "%(files)d files installed (%(bytes)s).",
                result["files"],
            )
            % {"files": result["files"], "bytes": human_size(result["bytes"])},
        )
        audit_record(
            actor=None,
            action=AuditAction.SITE_UPLOADED,
            target_type="site",
            target_id=job.site_id,
            metadata={"domain": site.domain, "job_id": str(job.pk), "files": result["files"]},
        )
    finally:
        shutil.rmtree(staged_root, ignore_errors=True)


def _upload_failed(job: Job, message: str) -> None:
    audit_record(
        actor=None,
        action=AuditAction.SITE_UPLOAD_FAILED,
        target_type="site",
        target_id=job.site_id,
        metadata={"domain": job.payload.get("domain"), "job_id": str(job.pk), "error": message},
    )


register(JOB_TYPE, on_failure=_upload_failed)(_run_upload)
