"""Who may see what: one helper per model. Admins see everything, owners their own, anyone else
gets a 404 (never a 403 that would confirm the object exists)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from panel.certificates.models import SslCertificate
from panel.jobs.models import Job
from panel.sites.models import Site


def _is_admin(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_admin)


def sites_for(user: Any) -> QuerySet[Site]:
    qs = Site.objects.all()
    return qs if _is_admin(user) else qs.filter(created_by_id=user.pk)


def certificates_for(user: Any) -> QuerySet[SslCertificate]:
    qs = SslCertificate.objects.all()
    return qs if _is_admin(user) else qs.filter(site__created_by_id=user.pk)


def jobs_for(user: Any) -> QuerySet[Job]:
    """A user's jobs: the ones they asked for, and every job on a site they own (an admin may
    have asked for it). The site ids are read first (one small query) because PostgreSQL can
    then OR two index scans; with a sub-select it scans the whole jobs table."""
    qs = Job.objects.all()
    if _is_admin(user):
        return qs
    own_sites = list(Site.objects.filter(created_by_id=user.pk).values_list("id", flat=True))
    return qs.filter(Q(created_by_id=user.pk) | Q(site_id__in=own_sites))


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
    return _get(sites_for(user).select_related("created_by", "node"), pk)


def get_job_for(user: Any, pk: Any) -> Job:
    return _get(jobs_for(user).select_related("created_by", "node"), pk)


def get_certificate_for(user: Any, pk: Any) -> SslCertificate:
    return _get(certificates_for(user).select_related("site"), pk)
