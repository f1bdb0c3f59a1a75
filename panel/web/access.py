"""One object for a user, or a 404: thin wrappers over the models' `visible_to(user)` querysets
(admins see everything, owners their own), so another user's object is a 404, never a 403 that
would confirm it exists."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from panel.certificates.models import SslCertificate
from panel.jobs.models import Job
from panel.sites.models import Site


def _get(qs: QuerySet, pk: Any) -> Any:
    try:
        key = pk if isinstance(pk, uuid.UUID) else uuid.UUID(str(pk))
    except ValueError:
        raise Http404
    obj = qs.filter(pk=key).first()
    if obj is None:
        raise Http404
    return obj


def get_site_for(user: Any, pk: Any) -> Site:
    return _get(Site.objects.visible_to(user).select_related("created_by", "node"), pk)


def get_job_for(user: Any, pk: Any) -> Job:
    return _get(Job.objects.visible_to(user).select_related("created_by", "node"), pk)


def get_certificate_for(user: Any, pk: Any) -> SslCertificate:
    return _get(SslCertificate.objects.visible_to(user).select_related("site"), pk)
