"""A site's files and logs pages: `/sites/<id>/files/` (POST: upload into public/) and
`/sites/<id>/logs/` (the access and error logs, newest line first)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from panel.accounts.access import AuthedRequest
from panel.jobs.services import JobBusy
from panel.jobs.types import JobType
from panel.web.access import get_site_for
from panel.web.decorators import login_required
from panel.web.forms import PanelForm, add_service_errors

from . import logs
from .uploads import human_size

# Multipart framing around the files: a request this much larger than the limit is refused
# before its body is read.
MULTIPART_SLACK = 1024 * 1024


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        items = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items if item]


class UploadForm(PanelForm):
    # A field (the form metaclass moves it out of the class), not BaseForm.files.
    files = MultipleFileField(label=gettext_lazy("Files"), required=True)  # type: ignore[assignment]
    subdir = forms.CharField(
        label=gettext_lazy("Into folder"),
        required=False,
        max_length=1200,
        help_text=gettext_lazy("Optional: a folder inside your site, e.g. images or blog/2026."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    unpack = forms.BooleanField(
        label=gettext_lazy("Unpack a .zip archive"),
        required=False,
        initial=True,
        help_text=gettext_lazy(
            "A single .zip is unpacked into the folder; files with the same names are replaced."
        ),
    )


class LogFilterForm(forms.Form):
    which = forms.ChoiceField(
        choices=[("access", "access"), ("error", "error")], required=False, initial="access"
    )
    status = forms.ChoiceField(
        choices=[("", "")] + [(c, c) for c in logs.STATUS_CLASSES], required=False
    )
    cursor = forms.CharField(required=False, max_length=50)


def files_card(
    request: AuthedRequest, site: Any, context: dict[str, Any], forms: dict[str, Any]
) -> dict[str, Any]:
    """The files card of the site page (registered in panel.sites.extensions)."""
    return upload_context(site, context["jobs"], forms.get("files_form"))


def upload_context(site: Any, jobs: list[Any], form: UploadForm | None = None) -> dict[str, Any]:
    """What the site page's Files card shows (the last upload comes from the jobs it has)."""
    return {
        "files_form": form or UploadForm(),
        "upload_limit": human_size(settings.NUSANTARA_UPLOAD_MAX_SIZE),
        "upload_unpacked_limit": human_size(settings.NUSANTARA_UPLOAD_MAX_UNPACKED),
        "upload_max_entries": settings.NUSANTARA_UPLOAD_MAX_ENTRIES,
        "last_upload": next((job for job in jobs if job.type == JobType.SITE_UPLOAD), None),
    }


def _render_detail(
    request: AuthedRequest, site: Any, form: UploadForm, status: int
) -> HttpResponse:
    from panel.sites.views import _detail_context

    context = _detail_context(request, site, files_form=form)
    return render(request, "web/site_detail.html", context, status=status)


@csrf_exempt  # checked by site_files_upload below, once the body may be read
@login_required
@require_POST
def site_files(request: AuthedRequest, pk: Any) -> HttpResponse:
    site = get_site_for(request.user, pk)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.NUSANTARA_UPLOAD_MAX_SIZE + MULTIPART_SLACK:
        # Refused before the body is read: nothing of it is stored.
        form = UploadForm({}, {})
        form.is_valid()
        form.errors.clear()  # only the reason below, not "this field is required"
        form.add_error(
            None,
            _("The upload is larger than %(limit)s; nothing was stored.")
            % {"limit": human_size(settings.NUSANTARA_UPLOAD_MAX_SIZE)},
        )
        return _render_detail(request, site, form, 413)
    return _site_files_upload(request, site)


@csrf_protect
def _site_files_upload(request: AuthedRequest, site: Any) -> HttpResponse:
    from .uploads import site_upload

    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            job = site_upload(
                user=request.user,
                site=site,
                files=data["files"],
                subdir=data["subdir"],
                unpack_zip=data["unpack"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        except JobBusy as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("Upload received. Installing it into %(domain)s.")
                % {"domain": site.display_domain},
            )
            return redirect("job_detail", pk=job.pk)
    return _render_detail(request, site, form, 400)


@login_required
@require_GET
def site_logs(request: AuthedRequest, pk: Any) -> HttpResponse:
    from . import homes

    site = get_site_for(request.user, pk)
    filters = LogFilterForm(request.GET)
    data = filters.cleaned_data if filters.is_valid() else {}
    which = data.get("which") or "access"
    status = (data.get("status") or "") if which == "access" else ""
    cursor = data.get("cursor") or ""
    logs_dir = homes.logs_dir(site)
    page, problem = None, None
    if site.node.name != settings.NUSANTARA_NODE:
        # The web never reads another node's files (DESIGN.md "Nodes").
        problem = _(
            "This site lives on node %(node)s; its logs are on that server and the panel reads "
            "them only on the site's own node."
        ) % {"node": site.node.name}
    elif logs_dir is None:
        problem = _("This site has no logs of its own yet (its home has not been set up).")
    else:
        try:
            page = logs.tail(
                logs.log_files(logs_dir, which),
                limit=settings.NUSANTARA_LOG_PAGE_LINES,
                cursor=cursor,
                match=logs.status_filter(status),
            )
        except PermissionError:
            problem = _(
                "The panel may not read this site's logs. The logs folder must belong to the "
                "panel's group (docs/operations.md, “Site logs”)."
            )
    context = {
        "site": site,
        "which": which,
        "status": status,
        "cursor": cursor,
        "page": page,
        "problem": problem,
        "status_classes": logs.STATUS_CLASSES,
    }
    return render(request, "tenancy/site_logs.html", context)
