"""Template helpers: status badges, times in the user's zone, durations."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.template.defaultfilters import filesizeformat
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

register = template.Library()


def _status_labels() -> dict[str, Any]:
    from panel.certificates.models import CertStatus
    from panel.jobs.models import JobStatus
    from panel.sites.models import SiteStatus

    labels: dict[str, Any] = {}
    for choices in (SiteStatus, CertStatus, JobStatus):
        labels.update(dict(choices.choices))
    return labels


@register.simple_tag
def badge(value: str, label: Any = None) -> SafeString:
    """A status as text plus colour (never colour alone)."""
    if label is None:
        label = _status_labels().get(value, value)
    return format_html('<span class="badge badge-{}">{}</span>', value, label)


def _time_tag(value: datetime | None, fmt: str) -> SafeString | str:
    """A <time> in the active zone (the user's, default TIME_ZONE), machine-readable too."""
    if not value:
        return "—"
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(timespec="seconds"),
        timezone.get_current_timezone_name(),
        formats.date_format(local, fmt),
    )


@register.simple_tag
def ca_label() -> str:
    """The configured ACME CA by name: "Let's Encrypt (staging)", "Pebble (127.0.0.1:14000)"."""
    from panel.certificates.acme import ca_label as label

    return label()


@register.filter
def when(value: datetime | None) -> SafeString | str:
    return _time_tag(value, "j M Y, H:i")


@register.filter
def when_seconds(value: datetime | None) -> SafeString | str:
    return _time_tag(value, "j M Y, H:i:s")


@register.filter
def duration(job: Any) -> str:
    """How long a job ran (or has been running)."""
    if not job.started_at:
        return "—"
    end = job.finished_at or timezone.now()
    return format_seconds(end - job.started_at)


@register.filter
def format_delta(delta: timedelta | None) -> str:
    return "—" if delta is None else format_seconds(delta)


def format_seconds(delta: timedelta) -> str:
    seconds = max(delta.total_seconds(), 0)
    if seconds < 60:
        return _("%(n).1f s") % {"n": seconds}
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": secs}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}


@register.filter
def parse_iso(value: str) -> datetime | None:
    """Job log lines carry ISO timestamps as strings."""
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


@register.filter
def days_left(value: datetime | None) -> int | None:
    if not value:
        return None
    return (value - timezone.now()).days


@register.filter
def pretty_json(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.simple_tag
def node_waiting(node: Any) -> str:
    """ "Waiting for node X (last seen HH:MM)": a queued job whose node is offline."""
    if node.last_heartbeat_at is None:
        return _("Waiting for node %(node)s (never seen): its worker has not reported yet.") % {
            "node": node.name
        }
    seen = timezone.localtime(node.last_heartbeat_at)
    return _(
        "Waiting for node %(node)s (last seen %(time)s): the job runs when its worker is back."
    ) % {"node": node.name, "time": formats.date_format(seen, "H:i")}


@register.simple_tag
def site_badge(site: Any) -> SafeString:
    """A site's status as a user sees it: an active site an administrator suspended is
    "Suspended" (it answers 503), never "Active"."""
    from panel.sites.models import SiteStatus

    if site.suspended_at and site.status == SiteStatus.ACTIVE:
        return badge("suspended", _("Suspended"))
    return badge(site.status, site.get_status_display())


@register.simple_tag
def zone_name() -> str:
    """The zone the times on the page are in, as people say it: "WIB" for Asia/Jakarta (the
    default), else the zone's abbreviation now, else its name."""
    local = timezone.localtime()
    abbreviation = local.tzname() or ""
    name = timezone.get_current_timezone_name()
    if abbreviation and not abbreviation.lstrip("+-").isdigit():
        return abbreviation
    return name


@register.simple_tag
def disk_use(site: Any, short: bool = False) -> SafeString:
    """A site's disk use as the schedule measured it (panel/tenancy/usage.py): "12.3 MB,
    measured 10 minutes ago" (short: "12.3 MB", the time in the tooltip), or "not measured
    yet". Never computed here: a page load does not walk a tree."""
    measured_at, size = site.disk_measured_at, site.disk_bytes
    if measured_at is None or size is None:
        return format_html('<span class="muted">{}</span>', _("not measured yet"))
    local = timezone.localtime(measured_at)
    text = filesizeformat(size)
    if not short:
        text = _("%(size)s, measured %(ago)s ago") % {"size": text, "ago": timesince(measured_at)}
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(timespec="seconds"),
        formats.date_format(local, "j M Y, H:i"),
        text,
    )
