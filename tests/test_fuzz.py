"""Hostile input on every URL, as every role: no answer is ever a 5xx.

Every URL pattern of the resolver is requested (`<uuid>` filled with the owner's real objects,
another user's and a random one), as anonymous, the owner, an outsider and an admin, with:
- GETs whose query string sets every known parameter name (the filter forms' fields, paging,
  `next`, the admin's changelist parameters) plus junk names to one hostile value at a time,
  and a few raw, malformed query strings;
- POSTs (with a valid CSRF token: the client enforces CSRF like a browser) whose every form
  field, as scraped from the pages and the form classes, holds one hostile value at a time,
  and every `action` value a page offers.

A deterministic corpus, not random: a failure names the exact request to replay. Jobs are only
queued (no worker). The admin site gets a smaller corpus: it is Django's code around our
ModelAdmins, and its URLs are many.
"""

from __future__ import annotations

import html
import logging
import re
import traceback
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from panel.audit.services import audit_record
from panel.certificates.models import SslCertificate
from panel.jobs.models import Job, JobStatus
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

HOSTILE = [
    "9" * 40,
    "-1",
    "9999-12-31",
    "0001-01-01",
    "\x00",
    "%00",
    "'\"<>&;--",
    "ünï 🦜 \u202e\ufeff",
    "x" * 10_000,
    "../../../etc/passwd",
    "",
    "1e309",
]
ADMIN_HOSTILE = ["9" * 40, "9999-12-31", "\x00", "'\"<>"]
RAW_QUERIES = [
    "%ff%fe%00=%ff",
    "page=1&page=2&page=-3",
    ";;;&&&===&=&",
    "q[]=1&q[x]=2",
    "a=" + "%" * 50,
    "=" * 3000,
]
GET_PARAMS = {
    "page",
    "q",
    "status",
    "actor",
    "action",
    "target_type",
    "target_id",
    "date_from",
    "date_to",
    "next",
    "type",
    "site",
    "runtime",
    "domain",
    "language",
    "lang",
    # Django admin changelist
    "o",
    "p",
    "e",
    "all",
    "_popup",
    "_to_field",
    "_changelist_filters",
    "role__exact",
    "status__exact",
    "is_active__exact",
    # junk names
    "zzz",
    "page[]",
    "ä" * 40,
    "n" * 1000,
}
FORM_CLASSES = [
    "panel.sites.forms.SiteCreateForm",
    "panel.sites.forms.SiteSettingsForm",
    "panel.sites.forms.SiteSuspendForm",
    "panel.sites.forms.SiteDeleteForm",
    "panel.certificates.forms.CertificateUploadForm",
    "panel.sites.forms.SiteFilterForm",
    "panel.jobs.forms.JobFilterForm",
    "panel.audit.views.AuditFilterForm",
    "panel.accounts.forms.UserCreateForm",
    "panel.accounts.forms.RoleForm",
    "panel.accounts.forms.OTPTokenForm",
    "panel.accounts.forms.ConfirmDeviceForm",
    "panel.accounts.forms.PasswordConfirmForm",
    "panel.nodes.forms.NodeCreateForm",
    "panel.nodes.forms.NodeStatusForm",
]
# Posting these as a signed-in user ends the session; they are posted last.
LOGOUT = ("accounts/logout/", "admin/logout/")
# healthz answers 503 by design when the worker's heartbeat is stale (no worker runs here).
EXPECTED_5XX = {("healthz", 503)}

_NAME = re.compile(r'\bname="([^"]+)"')
_ACTION_VALUE = re.compile(r'name="action"\s+value="([^"]+)"|value="([^"]+)"\s+name="action"')


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def _form_fields() -> set[str]:
    from django.utils.module_loading import import_string

    names: set[str] = set()
    for dotted in FORM_CLASSES:
        names.update(import_string(dotted).base_fields)
    return names


class World:
    """The objects the URLs are filled with, and what the pages taught us about their forms."""

    def __init__(self, admin_user: Any, owner: Any, outsider: Any) -> None:
        self.users = {"admin": admin_user, "owner": owner, "outsider": outsider}
        mine = SiteFactory(domain="fuzz-own.example", created_by=owner)
        theirs = SiteFactory(domain="fuzz-other.example", created_by=outsider)
        failed = SiteFactory(domain="fuzz-failed.example", created_by=owner, status="failed")
        now = timezone.now()
        SslCertificate.objects.create(site=mine, status="issued", expires_at=now)
        jobs = [
            Job.objects.create(
                type="site.provision",
                status=JobStatus.FAILED,
                site_id=failed.pk,
                created_by=owner,
                payload={"domain": failed.domain},
                error_message="nginx said no",
                started_at=now,
                finished_at=now,
            ),
            Job.objects.create(
                type="site.provision", status=JobStatus.QUEUED, site_id=theirs.pk, payload={}
            ),
        ]
        audit_record(actor=owner, action="site.create", target=mine, metadata={"x": "<b>"})
        self.ids = {
            "sites/": [mine.pk, theirs.pk, failed.pk, uuid.uuid4()],
            "jobs/": [j.pk for j in jobs] + [uuid.uuid4()],
            "users/": [owner.pk, outsider.pk, admin_user.pk, uuid.uuid4()],
            "nodes/": [mine.node_id, uuid.uuid4()],
        }
        self.fields: set[str] = _form_fields() | {"next", "action", "language", "post"}
        self.actions: set[str] = set()

    def urls(self) -> list[str]:
        """Every route of the resolver as concrete paths."""
        out: list[str] = []
        for route in _routes(get_resolver().url_patterns):
            if route.startswith("admin/"):
                out.extend(self._admin_paths(route))
                continue
            if "<uuid:pk>" in route:
                prefix = route.split("<", 1)[0]
                out.extend("/" + route.replace("<uuid:pk>", str(pk)) for pk in self.ids[prefix])
            else:
                out.append("/" + route)
        return out

    def _admin_paths(self, route: str) -> list[str]:
        if route.startswith("admin/^("):
            return ["/admin/sites/", "/admin/nope/"]
        if route == "admin/(?P<url>.*)$":
            return ["/admin/does/not/exist/"]
        if "<" not in route:
            return ["/" + route]
        if route.startswith("admin/r/"):
            return ["/admin/r/1/1/", "/admin/r/999999/%00/"]
        model = route.split("/")[2] if route.count("/") > 2 else ""
        ids = self._admin_ids(model)
        paths = []
        for pk in ids:
            path = re.sub(r"<(?:path:object_id|int:pk|id)>", str(pk), route)
            paths.append("/" + path)
        return paths

    def _admin_ids(self, model: str) -> list[str]:
        from django.apps import apps

        for candidate in apps.get_models():
            if candidate._meta.model_name == model:
                first = candidate._default_manager.order_by("pk").first()
                ids = [str(first.pk)] if first is not None else []
                return [*ids, "999999", str(uuid.uuid4())]
        return ["1"]

    def visible_ids(self, role: str) -> list[Any]:
        if role == "admin":  # one object of each kind; the others get the short corpus
            return [
                self.ids["sites/"][0],
                self.ids["jobs/"][0],
                self.ids["users/"][0],
                self.ids["nodes/"][0],
            ]
        if role == "owner":
            return [self.ids["sites/"][0], self.ids["sites/"][2], self.ids["jobs/"][0]]
        return []

    def learn(self, body: str) -> None:
        self.fields.update(n for n in _NAME.findall(body) if n != "csrfmiddlewaretoken")
        for pair in _ACTION_VALUE.findall(body):
            self.actions.update(v for v in pair if v)


class Fuzzer:
    def __init__(self, world: World, role: str) -> None:
        self.world = world
        self.role = role
        self.failures: list[str] = []
        self.answered: set[str] = set()  # paths that answered 200 at least once
        self.client = Client(enforce_csrf_checks=True)
        self.user = world.users.get(role)
        if self.user is not None:
            self.client.force_login(self.user)
        self.login()

    def login(self) -> None:
        """Signed in as the role's user again if a POST changed that (logged out, deactivated,
        new password), with a CSRF cookie."""
        if self.user is not None:
            before = self.user.password
            self.user.refresh_from_db()
            if not self.user.is_active:
                self.user.is_active = True
                self.user.save(update_fields=["is_active"])
            if before != self.user.password or "_auth_user_id" not in self.client.session:
                self.client.force_login(self.user)
        if "csrftoken" not in self.client.cookies:
            # The CSRF cookie, as a browser gets it from any form page.
            self.client.get("/accounts/login/")

    def _check(self, method: str, path: str, send: Any, what: str) -> None:
        try:
            response = send()
        except Exception as exc:  # a view that raised: the server would answer 500
            line = traceback.format_exception_only(exc)[-1].strip()
            self.failures.append(f"{self.role} {method} {path} {what}: raised {line[:300]}")
            return
        status = response.status_code
        if status == 200:
            self.answered.add(path)
        if status >= 500 and (path.strip("/"), status) not in EXPECTED_5XX:
            self.failures.append(f"{self.role} {method} {path} {what}: {status}")
        elif method == "GET" and status == 200 and "html" in response.get("Content-Type", ""):
            self.world.learn(response.content.decode(errors="replace"))

    def get(self, path: str, values: list[str], raw: bool) -> None:
        self._check("GET", path, lambda: self.client.get(path), "(plain)")
        for value in values:
            query = {name: value for name in GET_PARAMS}
            self._check("GET", path, lambda q=query: self.client.get(path, q), f"all={value!r:.40}")
        for raw in RAW_QUERIES if raw else []:
            self._check("GET", path, lambda r=raw: self.client.get(f"{path}?{r}"), f"raw={raw:.40}")

    def _post(self, path: str, data: dict[str, str]) -> Any:
        # As a browser sends a form without files (and far cheaper to parse than multipart).
        body = urlencode(data)
        return self.client.post(path, body, content_type="application/x-www-form-urlencoded")

    def post(self, path: str, values: list[str], actions: bool) -> None:
        token = self.client.cookies["csrftoken"].value
        for value in values:
            data = {name: value for name in self.world.fields}
            data["csrfmiddlewaretoken"] = token
            self._check("POST", path, lambda d=data: self._post(path, d), f"all={value!r:.40}")
        if not actions:
            return
        for action in sorted(self.world.actions):
            for value in values[:1]:
                data = {name: value for name in self.world.fields}
                data.update(action=action, csrfmiddlewaretoken=token)
                what = f"action={action} all={value!r:.40}"
                self._check("POST", path, lambda d=data: self._post(path, d), what)
        # A POST with no fields at all, and one without a CSRF token (a 403, not a 500).
        self._check("POST", path, lambda: self._post(path, {"csrfmiddlewaretoken": token}), "empty")
        self._check("POST", path, lambda: self._post(path, {}), "no csrf")


@pytest.fixture
def world(admin_user, owner, outsider, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Throttling would turn the anonymous login posts into lockouts, hiding the login form.
    settings.AXES_ENABLED = False
    return World(admin_user, owner, outsider)


@pytest.mark.parametrize("role", ["anonymous", "outsider", "owner", "admin"])
def test_no_url_answers_5xx_to_hostile_input(world: World, role: str) -> None:
    # Every 4xx would be logged with its traceback: quiet, and twice as fast.
    logging.getLogger("django.request").setLevel(logging.CRITICAL)
    fuzzer = Fuzzer(world, role)
    urls = world.urls()
    # The whole corpus where code runs for this role: the pages without an object, and the
    # objects this role may see (its own; all of them for the admin). Elsewhere (another user's
    # object, a random id) the answer is a 404 or a login redirect before any input is read: a
    # short corpus shows that.
    visible = {str(pk) for pk in world.visible_ids(role)}

    def full(path: str) -> bool:
        ids = re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", path)
        return all(i in visible for i in ids)

    panel = [u for u in urls if not u.startswith("/admin/")]
    admin = [u for u in urls if u.startswith("/admin/")]
    short = HOSTILE[:2]
    # Pages first, so the POSTs know every field and action the pages offer.
    for path in panel:
        fuzzer.get(path, HOSTILE if full(path) else short, raw=full(path))
    for path in admin:
        # Other roles are sent to the admin's login page before anything is read.
        changelist = role == "admin" and path.count("/") == 4 and "/add/" not in path
        values = ADMIN_HOSTILE if changelist else short if role == "admin" else []
        fuzzer.get(path, values, raw=changelist)
    last = [u for u in urls if u.lstrip("/") in LOGOUT or u.endswith("/delete/")]
    for path in [u for u in panel if u not in last]:
        fuzzer.post(path, HOSTILE if full(path) else short, actions=full(path))
        fuzzer.login()  # a POST may have changed the user (deactivated, new password)
    for path in [u for u in admin if u not in last]:
        if role == "admin" or path == "/admin/login/":
            fuzzer.post(path, short[:1], actions=False)
    for path in last:
        fuzzer.post(path, short if role == "admin" or not path.startswith("/admin/") else [], False)
        fuzzer.login()
    assert len(urls) > 60 and len(world.fields) > 20, (len(urls), sorted(world.fields))
    # The corpus reached the code behind the login, not only redirects and 404s.
    own_site = f"/sites/{world.ids['sites/'][0]}/"
    reached = {
        "anonymous": {"/accounts/login/"},
        "outsider": {"/sites/", "/jobs/", "/accounts/password/"},
        "owner": {own_site, "/sites/new/", "/accounts/2fa/"},
        "admin": {own_site, "/audit/", "/users/", "/admin/sites/site/"},
    }[role]
    assert reached <= fuzzer.answered, reached - fuzzer.answered
    if role == "admin":
        assert {"suspend", "role", "password", "deactivate"} <= world.actions, world.actions
    assert not fuzzer.failures, f"{len(fuzzer.failures)} requests failed:\n" + "\n".join(
        html.unescape(f) for f in fuzzer.failures[:40]
    )
