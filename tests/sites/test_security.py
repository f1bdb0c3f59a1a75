"""The Security issue's findings, one test each: nothing a customer types becomes nginx
configuration, reaches the panel's internals, or takes the panel's (or another's) name."""

from __future__ import annotations

import ipaddress
import socket
import uuid

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string

from panel.jobs.models import Job
from panel.sites import nginx as ngx
from panel.sites import vhost_check
from panel.sites.models import Runtime, Site
from panel.sites.services import site_create, site_update
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

# The reported attack: Python's ipaddress takes anything after `%` as an IPv6 zone id, and
# `.compressed` kept it, so this reached the vhost with its newline, `;`, `}` and `{`.
ZONE_ID_INJECTION = (
    "[fe80::1%x;\n}\nserver {\n listen 443;\n server_name panel.example.com;\n root etc;\n}\n"
    "server {\n location x { #]:80"
)


def test_ipaddress_really_accepts_the_injected_zone_id():
    # Why a grammar of our own is needed: the library says this is a valid address.
    host = ZONE_ID_INJECTION[1 : ZONE_ID_INJECTION.rindex("]")]
    assert "\n" in ipaddress.IPv6Address(host).compressed


def _files(nginx) -> set[str]:
    return {str(p) for d in (nginx.conf_dir, nginx.web_root) for p in d.rglob("*")}


@pytest.mark.parametrize(
    "upstream",
    [
        ZONE_ID_INJECTION,
        "[fe80::1%eth0]:80",
        "[fe80::1%25eth0]:80",
        "[::1%lo]:3000",
        "[::1%0]:3000",
        "127.0.0.1:3000;\n}\nserver { listen 80; }",
        "127.0.0.1:3000 backup",
        "127.0.0.1:3000#",
        "$host:80",
        '"127.0.0.1":80',
        "127.0.0.1\\:80",
    ],
    ids=repr,
)
def test_injection_through_site_create_is_refused_and_writes_nothing(nginx, owner, upstream):
    before = _files(nginx)
    with pytest.raises(ValidationError) as exc:
        site_create(user=owner, domain="inject.example", runtime="proxy", upstream=upstream)
    assert exc.value.message_dict["upstream"]
    assert not Site.objects.exists() and not Job.objects.exists()
    assert _files(nginx) == before


@pytest.mark.parametrize("upstream", [ZONE_ID_INJECTION, "[fe80::1%eth0]:80"], ids=repr)
def test_injection_through_site_update_is_refused(nginx, owner, upstream):
    site = SiteFactory(created_by=owner, domain="update.example")
    with pytest.raises(ValidationError) as exc:
        site_update(user=owner, site=site, runtime="proxy", upstream=upstream)
    assert exc.value.message_dict["upstream"]
    assert not Job.objects.exists()
    site.refresh_from_db()
    assert (site.runtime, site.upstream) == (Runtime.STATIC, None)


DENIED = [
    # link-local (cloud metadata lives at 169.254.169.254)
    ("169.254.169.254:80", "Link-local"),
    ("[fe80::1]:80", "Link-local"),
    # unspecified ("this host" to the kernel)
    ("0.0.0.0:3000", "not an address"),
    ("0.1.2.3:3000", "not an address"),
    ("[::]:3000", "not an address"),
    # multicast
    ("224.0.0.1:3000", "Multicast"),
    ("[ff02::1]:3000", "Multicast"),
    # reserved and broadcast
    ("240.0.0.1:3000", "Reserved"),
    ("255.255.255.255:3000", "Reserved"),
    ("[fec0::1]:3000", "Reserved"),
    # numeric shorthand the C library reads as 127.0.0.1
    ("127.1:3000", "four decimal numbers"),
    ("2130706433:3000", "four decimal numbers"),
    ("0x7f000001:3000", "four decimal numbers"),
    ("0177.0.0.1:3000", "four decimal numbers"),
    ("127.000.000.001:3000", "four decimal numbers"),
    # unix sockets
    ("unix:/run/mysqld/mysqld.sock", "unix socket"),
    ("UNIX:/var/run/docker.sock:80", "unix socket"),
    # the server's own services and the panel, on loopback and private addresses
    *[(f"127.0.0.1:{port}", f"Port {port}") for port in (22, 25, 3306, 5432, 6379, 11211)],
    *[(f"10.1.2.3:{port}", f"Port {port}") for port in (22, 3306)],
    ("192.168.1.10:6379", "Port 6379"),
    ("172.16.0.5:5432", "Port 5432"),
    ("100.64.0.1:22", "Port 22"),
    ("[::1]:22", "Port 22"),
    ("[fd00::1]:3306", "Port 3306"),
    ("[::ffff:127.0.0.1]:3306", "Port 3306"),
    ("127.0.0.1:8000", "Port 8000"),  # the panel (gunicorn)
]


@pytest.mark.parametrize(("upstream", "message"), DENIED, ids=[u for u, _ in DENIED])
def test_denied_upstreams_are_refused_with_a_reason(owner, upstream, message):
    with pytest.raises(ValidationError) as exc:
        site_create(user=owner, domain="deny.example", runtime="proxy", upstream=upstream)
    assert message in " ".join(exc.value.message_dict["upstream"])
    assert not Site.objects.exists()


def test_nginx_s_own_listen_ports_are_refused_a_proxy_to_itself_loops(nginx, owner):
    for port in (nginx.http_port, nginx.https_port):
        with pytest.raises(ValidationError, match=f"Port {port}"):
            site_create(
                user=owner, domain="loop.example", runtime="proxy", upstream=f"127.0.0.1:{port}"
            )


def test_the_deny_and_panel_port_settings_are_followed(owner, settings):
    settings.NUSANTARA_UPSTREAM_DENY_PORTS = [9200]
    settings.NUSANTARA_PANEL_PORTS = [8443]
    for port in (9200, 8443):
        with pytest.raises(ValidationError, match=f"Port {port}"):
            site_create(user=owner, domain="s.example", runtime="proxy", upstream=f"[::1]:{port}")
    # 22 is no longer on the list: allowed once the admin says so.
    site = site_create(user=owner, domain="s.example", runtime="proxy", upstream="127.0.0.1:22")
    assert site.upstream == "127.0.0.1:22"


def test_this_server_s_public_address_counts_as_its_own(owner, settings):
    settings.NUSANTARA_PUBLIC_ADDRESSES = ["93.184.215.14"]
    with pytest.raises(ValidationError, match="Port 3306"):
        site_create(user=owner, domain="p.example", runtime="proxy", upstream="93.184.215.14:3306")
    site = site_create(user=owner, domain="p.example", runtime="proxy", upstream="8.8.8.8:22")
    assert site.upstream == "8.8.8.8:22"  # someone else's server: any port


@pytest.mark.parametrize(
    ("upstream", "stored"),
    [
        ("127.0.0.1:3000", "127.0.0.1:3000"),
        ("localhost:3000", "localhost:3000"),
        ("LocalHost:3000", "localhost:3000"),
        ("[::1]:3000", "[::1]:3000"),
        ("10.0.0.5:8080", "10.0.0.5:8080"),
    ],
)
def test_a_customer_s_own_app_keeps_working(owner, upstream, stored):
    site = site_create(user=owner, domain="app.example", runtime="proxy", upstream=upstream)
    assert site.upstream == stored


@pytest.mark.parametrize("port", [22, 3306, 8000])
def test_a_name_resolving_to_a_denied_port_is_refused(owner, port):
    with pytest.raises(ValidationError) as exc:
        site_create(
            user=owner, domain="name.example", runtime="proxy", upstream=f"localhost:{port}"
        )
    message = " ".join(exc.value.message_dict["upstream"])
    assert "localhost resolves to 127.0.0.1" in message and f"Port {port}" in message


def test_a_name_that_does_not_resolve_is_refused_on_the_form(owner):
    with pytest.raises(ValidationError) as exc:
        site_create(user=owner, domain="n.example", runtime="proxy", upstream="nowhere.invalid:80")
    assert "nowhere.invalid does not resolve" in " ".join(exc.value.message_dict["upstream"])


@pytest.fixture
def metadata_name(monkeypatch):
    """A name whose DNS answer is link-local (a zone id on one answer, as glibc gives for
    fe80::): a fault no resolver on this machine produces, so getaddrinfo is patched."""
    real = socket.getaddrinfo
    name = "metadata.customer.example"

    def fake(host, *args, **kwargs):
        if host == name:
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("198.51.100.4", 0)),
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", 0, 0, 2)),
            ]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return name


def test_a_name_resolving_to_link_local_is_refused_on_the_form(owner, metadata_name):
    with pytest.raises(ValidationError) as exc:
        site_create(user=owner, domain="m.example", runtime="proxy", upstream=f"{metadata_name}:80")
    message = " ".join(exc.value.message_dict["upstream"])
    assert f"{metadata_name} resolves to fe80::1" in message and "Link-local" in message


def test_the_worker_checks_the_name_again_before_rendering(nginx, owner, metadata_name):
    # The row says what the form accepted; by the time the worker renders, DNS says otherwise.
    site = SiteFactory(
        created_by=owner, domain="rebind.example", runtime="proxy", upstream=f"{metadata_name}:80"
    )
    with pytest.raises(ngx.NginxError, match="Link-local"):
        ngx.sync_site(site)
    assert not ngx.conf_path(site.domain).exists()


PANEL_HOSTS = ["panel.example.com", ".hosting.example", "bücher.example"]


@pytest.mark.parametrize(
    "domain",
    [
        "panel.example.com",
        "PANEL.EXAMPLE.COM",
        "panel.example.com.",
        " Panel.Example.Com. ",
        "hosting.example",
        "customer.hosting.example",
        "A.B.HOSTING.EXAMPLE.",
        "bücher.example",
        "BÜCHER.example",
        "xn--bcher-kva.example",
        "panel2.example",  # from ALLOWED_HOSTS
    ],
)
def test_the_panel_s_own_host_names_are_refused_in_every_spelling(
    owner, admin_user, settings, domain
):
    settings.NUSANTARA_PANEL_HOSTS = PANEL_HOSTS
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "panel2.example", "*"]
    for user in (owner, admin_user):  # admins too: the conflict takes the panel down
        with pytest.raises(ValidationError) as exc:
            site_create(user=user, domain=domain, runtime="static")
        assert "control panel's own address" in " ".join(exc.value.message_dict["domain"])
    assert not Site.objects.exists()


@pytest.mark.parametrize(
    "domain", ["notpanel.example.com", "panel.example.com.au", "hosting.example.org"]
)
def test_neighbouring_names_stay_available(owner, settings, domain):
    settings.NUSANTARA_PANEL_HOSTS = PANEL_HOSTS
    assert site_create(user=owner, domain=domain, runtime="static").domain == domain


def test_the_renderer_refuses_a_stored_panel_host(nginx, owner, settings):
    # A row from before the rule (or from the admin site): the worker refuses to serve it.
    site = SiteFactory(created_by=owner, domain="panel.example.com")
    settings.NUSANTARA_PANEL_HOSTS = ["Panel.Example.Com"]
    with pytest.raises(ngx.NginxError, match="control panel's own address"):
        ngx.render_site(site)


# --- the structural check, fed values that bypass the grammar ---------------------------------


def _proxy_site(domain: str = "check.example") -> Site:
    from django.conf import settings

    return Site(
        domain=domain,
        runtime=Runtime.PROXY,
        upstream="127.0.0.1:3000",
        root_path=str(settings.NUSANTARA_WEB_ROOT / domain),
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("upstream", "127.0.0.1:3000;\n}\nserver {\n location / { alias /etc/; }\n}\n#"),
        ("upstream", "127.0.0.1:3000 backup"),
        ("upstream", "127.0.0.1:3000;\n    location /etc { alias /etc/; }\n"),
        ("http_serve_names", ["check.example other.example"]),
        ("http_serve_names", ["check.example;\n    include /etc/nginx/nginx.conf"]),
        ("http_serve_names", ["check.example", "$host"]),
        ("challenge_root", '/tmp/x";\n    root "/etc'),
        ("max_body_size", "1m;\n    location /p { alias /etc/; }\n    #"),
        ("http_listen", "127.0.0.1:80 default_server"),
        ("site_id", "x\nlocation /c { alias /etc/; }"),  # out of a comment
        ("upstream", "127.0.0.1:3000/$host"),  # same structure, but an nginx variable
    ],
)
def test_the_structural_check_refuses_an_injected_value(nginx, key, value):
    context = ngx.vhost_context(_proxy_site())
    assert ngx.render_vhost(context)  # the honest values pass
    context[key] = value
    with pytest.raises(ngx.NginxError, match="nothing was written"):
        ngx.render_vhost(context)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("canonical", "check.example/ 302 http://evil.example"),
        ("canonical", "check.example$request_uri;\n    location /x { alias /etc/; }\n#"),
        ("http_redirect_names", ["www.check.example\n    server_name evil.example"]),
        ("target_scheme", "https://evil.example#"),
        ("target_port_suffix", ":8443 permanent"),
    ],
)
def test_the_structural_check_refuses_an_injected_redirect(nginx, key, value):
    site = _proxy_site()
    site.redirect_mode = "to_primary"
    site.alias_override = ["www.check.example"]
    context = ngx.vhost_context(site)
    assert context["http_redirect_names"] == ["www.check.example"]
    assert ngx.render_vhost(context)  # the honest values pass
    context[key] = value
    with pytest.raises(ngx.NginxError, match="nothing was written"):
        ngx.render_vhost(context)


def test_the_structural_check_refuses_an_extra_directive_in_the_text(nginx):
    context = ngx.vhost_context(_proxy_site())
    text = ngx.render_vhost(context)
    injected = text.replace(
        "    client_max_body_size", "    location /x { alias /etc/; }\n    client_max_body_size"
    )
    assert injected != text

    def render(values):
        return render_to_string(ngx.VHOST_TEMPLATE, dict(values))

    with pytest.raises(vhost_check.VhostCheckError, match="location"):
        vhost_check.verify(injected, render, context, ngx.VHOST_CONTROL_KEYS)
    changed = text.replace("proxy_http_version 1.1", "proxy_http_version 1.0")
    with pytest.raises(vhost_check.VhostCheckError, match="proxy_http_version"):
        vhost_check.verify(changed, render, context, ngx.VHOST_CONTROL_KEYS)


def test_an_injection_past_the_grammar_fails_the_job_and_writes_nothing(nginx, owner, monkeypatch):
    # Suppose a grammar had a hole: the structural check still stops the vhost before disk.
    # (the grammar, the policy and the pinned address all bypassed at once).
    monkeypatch.setattr(ngx, "_upstream", lambda value, check: value)
    site = _proxy_site("hole.example")
    site.upstream = (
        "127.0.0.1:3000;\n location /etc { alias /etc/; }\n proxy_pass http://127.0.0.1:3000"
    )
    before = _files(nginx)
    with pytest.raises(ngx.NginxError, match="differs from what the panel meant"):
        ngx.sync_site(site)
    assert _files(nginx) == before
    assert not ngx.conf_path(site.domain).exists() and not ngx.rejected_path(site.domain).exists()


@pytest.mark.django_db
def test_the_vhost_holds_the_checked_address_never_the_name(owner):
    """nginx resolves a proxy_pass name again at every reload: a name re-pointed at a refused
    address after the check would be proxied to. The vhost gets the checked address instead."""
    from panel.sites.models import Site as SiteModel

    site = SiteModel(
        pk=uuid.uuid4(),
        domain="pinned.example",
        runtime="proxy",
        upstream="localhost:3000",
        status="active",
        root_path=str(settings.NUSANTARA_WEB_ROOT / "pinned.example" / "public"),
        created_by=owner,
    )
    text = ngx.render_site(site)
    proxy = [line.strip() for line in text.splitlines() if "proxy_pass" in line]
    assert proxy in (["proxy_pass http://127.0.0.1:3000;"], ["proxy_pass http://[::1]:3000;"])
    assert "localhost" not in text
