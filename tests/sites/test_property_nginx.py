"""Property: whatever text reaches a field that ends up in nginx (the domain, the upstream, on
create and on a runtime change), the services either refuse it with a message, or the vhost has
exactly the directives of a known-good site with that value in its place and the real
`nginx -t` accepts it."""

from __future__ import annotations

import copy
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from panel.audit.models import AuditLog
from panel.jobs.models import Job
from panel.sites import nginx as ngx
from panel.sites import vhost_check
from panel.sites.models import Runtime, Site, SiteStatus
from panel.sites.services import site_create, site_update
from panel.tenancy import homes
from tests.conftest import require

HOSTILE = list(";{}#$\"'\\\n\r\t \x00\x0b\x1b%`()[]:/*,=")
UPSTREAM_PARTS = [
    "127.0.0.1",
    "localhost",
    "LocalHost",
    "[::1]",
    "[fe80::1",
    "fe80::1",
    "%eth0",
    "%25",
    "]",
    ":3000",
    ":80",
    ":22",
    ":8000",
    ":65535",
    ":0",
    ":03000",
    "10.0.0.1",
    "127.1",
    "0x7f000001",
    "2130706433",
    "unix:",
    "http://",
    "a.example",
    "server {",
    "location / {",
    "}",
    "listen 443;",
    "include /etc/passwd;",
]
DOMAIN_PARTS = [
    "shop",
    "example",
    "co",
    "id",
    ".",
    "-",
    "xn--bcher-kva",
    "bücher",
    "日本",
    "PANEL",
    "localhost",
    "server_name x;",
    "}",
    "{",
    "$host",
]


def _mixed(parts: list[str]) -> st.SearchStrategy[str]:
    piece = st.one_of(st.sampled_from(parts), st.sampled_from(HOSTILE))
    return st.lists(piece, min_size=1, max_size=8).map("".join)


# st.text draws from every code point but surrogates: control characters included.
ANY_TEXT = st.text(max_size=60)
# Values that should pass, with hostile bits sometimes glued on, so that the accepted branch
# (and the real nginx -t) is exercised too.
_LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True)
GOOD_DOMAIN = st.lists(_LABEL, min_size=2, max_size=4).map(".".join)
GOOD_UPSTREAM = st.tuples(
    st.sampled_from(["127.0.0.1", "localhost", "[::1]", "10.0.0.7", "8.8.4.4", "192.168.0.2"]),
    st.integers(min_value=1, max_value=65535),
).map(lambda hp: f"{hp[0]}:{hp[1]}")


def _maybe_spoiled(good: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    spoiled = st.tuples(good, st.sampled_from(HOSTILE), st.booleans()).map(
        lambda t: t[0] + t[1] if t[2] else t[1] + t[0]
    )
    return st.one_of(good, spoiled)


# The reported attack's shape: an IPv6 zone id carrying whatever follows `%`.
ZONE_ID = st.tuples(
    st.sampled_from(["fe80::1", "::1", "fe80::dead:beef"]),
    st.one_of(_mixed(UPSTREAM_PARTS), ANY_TEXT),
    st.integers(min_value=1, max_value=65535),
).map(lambda t: f"[{t[0]}%{t[1]}]:{t[2]}")
UPSTREAMS = st.one_of(ANY_TEXT, _mixed(UPSTREAM_PARTS), _maybe_spoiled(GOOD_UPSTREAM), ZONE_ID)


FIELDS = st.one_of(
    st.tuples(
        st.just("domain"),
        st.one_of(ANY_TEXT, _mixed(DOMAIN_PARTS), _maybe_spoiled(GOOD_DOMAIN)),
    ),
    st.tuples(st.just("create-upstream"), UPSTREAMS),
    st.tuples(st.just("update-upstream"), UPSTREAMS),
)

_SCRATCH: dict[str, Path] = {}


@pytest.fixture(scope="module", autouse=True)
def _scratch():
    base = Path(tempfile.mkdtemp(prefix="np-nginx-property-"))
    (base / "tmp").mkdir()
    (base / "nginx.conf").write_text(
        f"pid {base}/nginx.pid;\nerror_log {base}/error.log;\nevents {{}}\n"
        f"http {{\n server_names_hash_bucket_size 512;\n"
        f" client_body_temp_path {base}/tmp;\n proxy_temp_path {base}/tmp;\n"
        f" include {base}/vhost.conf;\n}}\n"
    )
    _SCRATCH["dir"] = base
    yield
    shutil.rmtree(_SCRATCH.pop("dir"), ignore_errors=True)


def _nginx_t(text: str) -> None:
    base = _SCRATCH["dir"]
    (base / "vhost.conf").write_text(text)
    res = subprocess.run(
        ["nginx", "-t", "-q", "-p", str(base), "-c", str(base / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, f"nginx -t refused:\n{res.stderr}\n{text}"


def _tree(text: str) -> list[dict]:
    payload = vhost_check.parse_text(text)
    assert payload["status"] == "ok", payload["errors"]
    return payload["config"][0]["parsed"]


def _skeleton(tree: list[dict], values: dict[str, str]) -> list:
    """The directive tree with the site's own values put back as names."""
    out = []
    for stmt in tree:
        args = list(stmt["args"])
        for index, arg in enumerate(args):
            for name, value in values.items():
                arg = arg.replace(value, name)
            args[index] = arg
        out.append((stmt["directive"], args, _skeleton(stmt.get("block") or [], values)))
    return out


def _assert_intended(site: Site) -> None:
    """Same directives as a known-good site of this runtime, the values in their place, and
    accepted by the real nginx."""
    text = ngx.render_site(site)
    reference = Site(
        pk=site.pk,
        domain="reference.example",
        runtime=site.runtime,
        upstream="127.0.0.1:3000" if site.runtime == Runtime.PROXY else None,
        root_path=site.root_path.replace(site.domain, "reference.example"),
    )
    got_values = {"DOMAIN": site.domain}
    want_values = {"DOMAIN": "reference.example"}
    if site.runtime == Runtime.PROXY:
        # The vhost holds the checked address, not the name (docs/security.md).
        got_values["UPSTREAM"] = ngx.vhost_context(site)["upstream"]
        want_values["UPSTREAM"] = "127.0.0.1:3000"
    want = _skeleton(_tree(ngx.render_site(reference)), want_values)
    assert _skeleton(_tree(text), got_values) == want
    # nginx -t opens the site's log files: provisioning creates logs/ before the vhost.
    logs = homes.logs_dir(site)
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
    _nginx_t(text)


def _clean_up() -> None:
    AuditLog.objects.all().delete()
    Job.objects.all().delete()
    Site.objects.all().delete()


@pytest.mark.django_db
@hsettings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=FIELDS)
def test_any_text_is_refused_or_rendered_exactly_as_intended(nginx, admin_user, field):
    require(shutil.which("nginx") is not None, "nginx is not installed")
    kind, value = field
    try:
        try:
            if kind == "domain":
                site = site_create(user=admin_user, domain=value, runtime=Runtime.STATIC)
            elif kind == "create-upstream":
                site = site_create(
                    user=admin_user, domain="prop.example", runtime="proxy", upstream=value
                )
            else:
                current = Site.objects.create(
                    domain="prop-update.example",
                    root_path=str(nginx.web_root / "prop-update.example"),
                    runtime=Runtime.STATIC,
                    status=SiteStatus.ACTIVE,
                    created_by=admin_user,
                )
                job = site_update(user=admin_user, site=current, runtime="proxy", upstream=value)
                site = copy.copy(current)  # what the worker renders for this job
                site.runtime, site.upstream = job.payload["runtime"], job.payload["upstream"]
        except ValidationError as exc:
            assert exc.messages and all(len(m) > 10 for m in exc.messages), exc.messages
            assert not any("Traceback" in m for m in exc.messages)
            event(f"{kind}: refused")
            return
        _assert_intended(site)
        event(f"{kind}: accepted, nginx -t passed")
    finally:
        _clean_up()
