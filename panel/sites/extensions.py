"""What the apps built on sites add to a site, without panel/sites importing them (they import
panel/sites, so the other way round would be an import cycle): the cards of the site page, the
columns of the site list, a step before a site's files are deleted and a step after a site went
live. Each app fills these lists in its AppConfig.ready(); tests/test_architecture.py keeps the
direction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from panel.accounts.access import AuthedRequest


def add[Hook](hooks: list[Hook], hook: Hook) -> None:
    """Register `hook` once (an app's ready() may run again, e.g. in tests)."""
    if hook not in hooks:
        hooks.append(hook)


# (request, site, the page's context so far, the forms the page re-shows) -> more context.
CardContext = Callable[[AuthedRequest, Any, dict[str, Any], dict[str, Any]], dict[str, Any]]

# The site page's cards of other apps (certificate upload, files, SFTP, databases).
site_cards: list[CardContext] = []
# Columns of the site list: () -> {name: expression} for QuerySet.annotate (e.g. the latest
# certificate's status and expiry).
site_list_columns: list[Callable[[], dict[str, Any]]] = []
# Before a deletion touches nginx or the disk (the site row still exists): each returns a note
# for the job's log, or raises JobFailed to stop the deletion with nothing removed yet.
before_site_delete: list[Callable[[Any], str]] = []
# After a `site.provision` job completed (inside its savepoint): e.g. request the certificate
# the customer asked for at creation.
after_site_provisioned: list[Callable[[Any], None]] = []
# After a `site.aliases` job completed (inside its savepoint): e.g. a new certificate that covers
# a name just added.
after_site_names_changed: list[Callable[[Any], None]] = []
