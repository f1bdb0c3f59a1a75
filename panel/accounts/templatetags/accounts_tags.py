"""Template helpers for the account pages."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.translation import ngettext

register = template.Library()


@register.filter
def duration(value: dt.timedelta | None) -> str:
    """A cool-off period in words, rounded up to whole minutes ("15 minutes", "2 hours")."""
    if not value:
        return ""
    minutes = max(1, -(-int(value.total_seconds()) // 60))
    if minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
    return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
