"""A site's other names: served by the real nginx, redirect modes, one owner per name in every
spelling, hostile names refused, and the jobs that change them."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from hypothesis import HealthCheck, given, reject
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from panel.audit.models import AuditLog
from panel.jobs.models import Job
from panel.sites import nginx as ngx
from panel.sites.aliases import alias_add, alias_remove, site_set_redirect_mode
from panel.sites.domains import is_apex, normalize_domain
from panel.sites.models import RedirectMode, Site, SiteDomain
from panel.sites.services import site_create
from tests.conftest import require
from tests.factories import SiteFactory, UserFactory
from tests.sites.test_hostile_input import (  # the scratch nginx and its clean-up
    HOSTILE,
    _cleanup_scratch,  # noqa: F401
    _label,
    _scratch_nginx,
)


def _wait_redirect(nginx, host, path, expected):
    """The 301 for `host`, once it points at `expected`: a reload is asynchronous, and the
    previous mode's workers may still answer 301 to another target briefly."""
    deadline = time.monotonic() + 5
    while True:
        resp = nginx.wait_for(host, path, status=301)
        if resp.headers.get("Location") == expected or time.monotonic() > deadline:
            return resp
        time.sleep(0.05)


def _static(
    domain: str,
    aliases: list[str],
    mode: str = RedirectMode.SERVE_ALL,
    redirect_to: str | None = None,
) -> Site:
    from django.conf import settings

    site = Site(
        domain=domain,
        runtime="static",
        root_path=str(settings.NUSANTARA_WEB_ROOT / domain),
        redirect_mode=mode,
        redirect_to=redirect_to,
    )
    site.alias_override = aliases
    ngx.ensure_docroot(site)
    ngx.sync_site(site)
    return site


# --- served by the real nginx ------------------------------------------------------------------


def test_www_and_an_alias_are_served_like_the_primary(nginx):
    _static("names.example", ["www.names.example", "toko.example"])
    for host in ("names.example", "www.names.example", "toko.example", "WWW.Names.Example."):
        resp = nginx.wait_for(host)
        assert resp.status == 200 and "<h1>names.example</h1>" in resp.body, host
    assert nginx.get("other.names.example").status == 404


@pytest.mark.parametrize(
    ("mode", "canonical"),
    [
        (RedirectMode.TO_PRIMARY, "mode.example"),
        (RedirectMode.TO_WWW, "www.mode.example"),
        (RedirectMode.TO_ALIAS, "old-name.example"),
    ],
)
def test_redirect_modes_keep_the_path_and_the_query(nginx, mode, canonical):
    _static(
        "mode.example",
        ["www.mode.example", "old-name.example"],
        mode,
        redirect_to="old-name.example" if mode == RedirectMode.TO_ALIAS else None,
    )
    port = nginx.http_port
    others = {"mode.example", "www.mode.example", "old-name.example"} - {canonical}
    for host in others:
        expected = f"http://{canonical}:{port}/shop/item?id=7&q=a%20b"
        resp = _wait_redirect(nginx, host, "/shop/item?id=7&q=a%20b", expected)
        assert resp.status == 301, host
        assert resp.headers["Location"] == expected
    assert "<h1>mode.example</h1>" in nginx.wait_for(canonical).body
    # The ACME challenge is answered under every name, so each can be in the certificate.
    challenge = nginx.settings["NUSANTARA_CHALLENGE_DIR"] / ".well-known" / "acme-challenge"
    challenge.mkdir(parents=True, exist_ok=True)
    (challenge / "tok-mode").write_text("tok-mode.thumb")
    for host in others:
        assert nginx.wait_for(host, "/.well-known/acme-challenge/tok-mode").body == (
            "tok-mode.thumb"
        )


def test_the_rendered_names_pass_the_grammar_again(nginx):
    site = Site(domain="grammar.example", runtime="static", root_path="/srv/x/grammar.example")
    for bad in ("evil.example;", "*.grammar.example", "EVIL.example", "a b.example", "$host.x"):
        site.alias_override = [bad]
        with pytest.raises(ngx.NginxError):
            ngx.render_site(site)


# --- the services: one owner per name, in every spelling ---------------------------------------


@pytest.fixture
def two_customers(db):
    alice, bob = UserFactory(), UserFactory()
    return (
        SiteFactory(created_by=alice, domain="alice.example"),
        SiteFactory(created_by=bob, domain="xn--bcher-kva.example"),
    )


@pytest.mark.parametrize(
    "spelling",
    [
        "shared.example",
        "SHARED.Example",
        "shared.example.",
        " shared.example ",
        "ＳＨＡＲＥＤ.example",  # full-width letters: UTS 46 maps them
    ],
)
def test_an_alias_is_refused_in_every_spelling_of_another_customers_alias(two_customers, spelling):
    alice_site, bob_site = two_customers
    alias_add(user=alice_site.created_by, site=alice_site, domain="shared.example")
    with pytest.raises(ValidationError) as exc:
        alias_add(user=bob_site.created_by, site=bob_site, domain=spelling)
    assert "already used by a site" in str(exc.value.message_dict["domain"])
    assert SiteDomain.objects.filter(domain="shared.example").count() == 1


@pytest.mark.parametrize("spelling", ["bücher.example", "XN--BCHER-KVA.example", "Bücher.Example."])
def test_an_alias_equal_to_someone_elses_primary_is_refused(two_customers, spelling):
    alice_site, _bob_site = two_customers
    with pytest.raises(ValidationError, match="already used by a site"):
        alias_add(user=alice_site.created_by, site=alice_site, domain=spelling)
    assert not SiteDomain.objects.exists()


@pytest.mark.parametrize("spelling", ["shared.example", "Shared.Example.", "www.alice.example"])
def test_a_new_site_cannot_take_someone_elses_alias(two_customers, spelling):
    alice_site, bob_site = two_customers
    alias_add(user=alice_site.created_by, site=alice_site, domain="shared.example")
    # www.alice.example: the pair of alice.example, added with the www option.
    SiteDomain.objects.create(site=alice_site, domain="www.alice.example")
    with pytest.raises(ValidationError, match="is already used by a site"):
        site_create(user=bob_site.created_by, domain=spelling, runtime="static")


def test_an_alias_equal_to_the_sites_own_primary_is_refused(two_customers):
    alice_site, _ = two_customers
    with pytest.raises(ValidationError, match="already used"):
        alias_add(user=alice_site.created_by, site=alice_site, domain="ALICE.example.")


@pytest.mark.parametrize("value", [v for v in HOSTILE if v is not None])
def test_hostile_alias_is_refused_and_nothing_is_written(two_customers, value):
    alice_site, _ = two_customers
    with pytest.raises(ValidationError) as exc:
        alias_add(user=alice_site.created_by, site=alice_site, domain=value)
    assert "domain" in exc.value.message_dict or "__all__" in exc.value.message_dict
    assert not SiteDomain.objects.exists()
    assert not Job.objects.exists()


def test_the_panels_own_names_are_refused_as_aliases(two_customers, settings):
    alice_site, _ = two_customers
    settings.NUSANTARA_PANEL_HOSTS = [".panel.example"]
    for name in ("panel.example", "Admin.Panel.Example."):
        with pytest.raises(ValidationError, match="control panel"):
            alias_add(user=alice_site.created_by, site=alice_site, domain=name)


def test_an_outsider_cannot_touch_the_names(two_customers):
    alice_site, bob_site = two_customers
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        alias_add(user=bob_site.created_by, site=alice_site, domain="mine.example")


def test_the_alias_limit_is_a_setting(two_customers, settings):
    alice_site, _ = two_customers
    settings.NUSANTARA_SITE_ALIAS_LIMIT = 1
    alias_add(user=alice_site.created_by, site=alice_site, domain="one.example")
    Job.objects.all().delete()  # the first job's end (not what this test is about)
    with pytest.raises(ValidationError, match="at most 1 other names"):
        alias_add(user=alice_site.created_by, site=alice_site, domain="two.example")


def test_to_alias_needs_one_of_the_sites_own_aliases(two_customers):
    alice_site, bob_site = two_customers
    SiteDomain.objects.create(site=bob_site, domain="bobs.example")
    for target in ("bobs.example", "alice.example", "nowhere.example", ""):
        with pytest.raises(ValidationError) as exc:
            site_set_redirect_mode(
                user=alice_site.created_by, site=alice_site, mode="to_alias", redirect_to=target
            )
        assert "redirect_to" in exc.value.message_dict, target
    assert not Job.objects.exists()


def test_the_database_refuses_a_redirect_target_without_its_mode(two_customers):
    alice_site, _ = two_customers
    with pytest.raises(IntegrityError), transaction.atomic():
        Site.objects.filter(pk=alice_site.pk).update(redirect_to="x.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        Site.objects.filter(pk=alice_site.pk).update(redirect_mode="to_alias")
    with pytest.raises(IntegrityError), transaction.atomic():
        Site.objects.filter(pk=alice_site.pk).update(redirect_mode="elsewhere")


def test_to_www_needs_the_www_alias_and_keeps_it(two_customers):
    alice_site, _ = two_customers
    with pytest.raises(ValidationError, match="www.alice.example"):
        site_set_redirect_mode(user=alice_site.created_by, site=alice_site, mode="to_www")
    with pytest.raises(ValidationError, match="redirect mode"):
        site_set_redirect_mode(user=alice_site.created_by, site=alice_site, mode="nowhere")
    SiteDomain.objects.create(site=alice_site, domain="www.alice.example")
    Site.objects.filter(pk=alice_site.pk).update(redirect_mode="to_www")
    with pytest.raises(ValidationError, match="choose another redirect mode"):
        alias_remove(user=alice_site.created_by, site=alice_site, domain="www.alice.example")


def test_www_option_adds_the_pair_at_creation(db):
    user = UserFactory()
    site = site_create(user=user, domain="Toko.co.id", runtime="static", www=True)
    assert list(site.aliases.values_list("domain", flat=True)) == ["www.toko.co.id"]
    www_first = site_create(user=user, domain="www.kedai.id", runtime="static", www=True)
    assert list(www_first.aliases.values_list("domain", flat=True)) == ["kedai.id"]
    plain = site_create(user=user, domain="plain.id", runtime="static")
    assert not plain.aliases.exists()
    with pytest.raises(ValidationError) as exc:
        site_create(user=UserFactory(), domain="www.toko.co.id", runtime="static", www=True)
    assert "domain" in exc.value.message_dict


def test_www_option_refused_when_the_pair_is_taken(db):
    alice, bob = UserFactory(), UserFactory()
    site_create(user=alice, domain="www.warung.id", runtime="static")
    with pytest.raises(ValidationError) as exc:
        site_create(user=alice, domain="warung.id", runtime="static", www=True)
    assert "already used" in str(exc.value.message_dict["www"])
    # Another customer cannot even take the name without www. (it goes with Alice's).
    with pytest.raises(ValidationError) as exc:
        site_create(user=bob, domain="warung.id", runtime="static", www=True)
    assert "another customer" in str(exc.value.message_dict["domain"])
    assert not Site.objects.filter(domain="warung.id").exists()


def test_apex_names():
    assert is_apex("example.co.id") and is_apex("example.com") and is_apex("xn--bcher-kva.id")
    assert not is_apex("www.example.co.id") and not is_apex("shop.example.com")
    assert not is_apex("co.id")


# --- the database guarantee --------------------------------------------------------------------


def test_the_database_refuses_a_name_in_both_tables(two_customers):
    alice_site, bob_site = two_customers
    with pytest.raises(IntegrityError), transaction.atomic():
        SiteDomain.objects.create(site=alice_site, domain=bob_site.domain)
    SiteDomain.objects.create(site=alice_site, domain="taken.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        Site.objects.filter(pk=bob_site.pk).update(domain="taken.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        SiteFactory(domain="taken.example")


@pytest.mark.django_db(transaction=True)
def test_two_transactions_adding_one_name_to_both_tables_cannot_both_commit():
    """The trigger's advisory lock serialises them: the second waits, then sees the first."""
    owner = UserFactory()
    holder = SiteFactory(created_by=owner, domain="holder.example")
    inserted = threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                SiteFactory(created_by=owner, domain="race.example")
                inserted.set()
                time.sleep(0.5)  # still uncommitted: the other insert cannot see this row
        finally:
            connections.close_all()

    def second() -> None:
        inserted.wait(10)
        started = time.monotonic()
        try:
            with transaction.atomic():
                SiteDomain.objects.create(site=holder, domain="race.example")
            outcome["result"] = "committed"
        except IntegrityError as exc:
            outcome["result"] = str(exc)
        finally:
            outcome["waited"] = time.monotonic() - started
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert "already the domain of a site" in str(outcome["result"])
    assert outcome["waited"] >= 0.3  # it waited for the first transaction's lock
    assert not SiteDomain.objects.filter(domain="race.example").exists()


# --- the job: add, redirect, remove, through the real worker -----------------------------------


def _last_job(site: Site) -> Job:
    return Job.objects.filter(site_id=site.pk).order_by("-created_at").first()


def test_alias_jobs_add_redirect_and_remove_names(worker, nginx, owner):
    site = site_create(user=owner, domain="jobs-alias.example", runtime="static", www=True)
    assert worker.wait_for_job(_last_job(site)).status == "success"
    assert "<h1>jobs-alias.example</h1>" in nginx.wait_for("www.jobs-alias.example").body

    job = worker.wait_for_job(alias_add(user=owner, site=site, domain="Second-Name.example"))
    assert job.status == "success", job.error_message
    assert "<h1>jobs-alias.example</h1>" in nginx.wait_for("second-name.example").body

    job = worker.wait_for_job(site_set_redirect_mode(user=owner, site=site, mode="to_www"))
    assert job.status == "success", job.error_message
    resp = nginx.wait_for("second-name.example", "/a?b=c", status=301)
    assert resp.headers["Location"].startswith("http://www.jobs-alias.example:")
    assert resp.headers["Location"].endswith("/a?b=c")
    site.refresh_from_db()
    assert site.redirect_mode == "to_www"

    # Moving the site to a new name: every other name, the primary too, redirects to it.
    job = worker.wait_for_job(
        site_set_redirect_mode(
            user=owner, site=site, mode="to_alias", redirect_to="Second-Name.example"
        )
    )
    assert job.status == "success", job.error_message
    target = f"http://second-name.example:{nginx.http_port}/x?y=z"
    resp = _wait_redirect(nginx, "jobs-alias.example", "/x?y=z", target)
    assert resp.headers["Location"].startswith("http://second-name.example:")
    assert resp.headers["Location"].endswith("/x?y=z")
    assert "<h1>jobs-alias.example</h1>" in nginx.wait_for("second-name.example").body
    with pytest.raises(ValidationError, match="choose another redirect mode"):
        alias_remove(user=owner, site=site, domain="second-name.example")
    job = worker.wait_for_job(site_set_redirect_mode(user=owner, site=site, mode="to_primary"))
    assert job.status == "success", job.error_message
    site.refresh_from_db()
    assert (site.redirect_mode, site.redirect_to) == ("to_primary", None)

    job = worker.wait_for_job(alias_remove(user=owner, site=site, domain="second-name.example"))
    assert job.status == "success", job.error_message
    assert nginx.wait_for("second-name.example", status=404).status == 404
    assert list(site.aliases.values_list("domain", flat=True)) == ["www.jobs-alias.example"]
    actions = set(AuditLog.objects.filter(target_id=str(site.pk)).values_list("action", flat=True))
    assert {
        "site.alias_add",
        "site.alias_added",
        "site.redirect",
        "site.redirect_changed",
        "site.alias_remove",
        "site.alias_removed",
    } <= actions


def test_a_refused_alias_job_gives_the_name_back(worker, nginx, owner, monkeypatch):
    site = site_create(user=owner, domain="refused-alias.example", runtime="static")
    assert worker.wait_for_job(_last_job(site)).status == "success"
    job = alias_add(user=owner, site=site, domain="gone-again.example")
    # The job fails in the worker when the reserved row has disappeared (here: taken away).
    SiteDomain.objects.filter(domain="gone-again.example").delete()
    job = worker.wait_for_job(job)
    assert job.status == "failed" and "no longer reserved" in job.error_message
    assert nginx.wait_for(site.domain).status == 200
    assert AuditLog.objects.filter(action="site.aliases_failed", target_id=str(site.pk)).exists()


# --- any names the rules accept make a vhost nginx accepts --------------------------------------


@pytest.mark.django_db
@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(st.lists(_label, min_size=2, max_size=4), min_size=2, max_size=5),
    mode=st.sampled_from(list(RedirectMode.values)),
)
def test_every_accepted_set_of_names_renders_a_vhost_nginx_accepts(nginx, names, mode):
    require(shutil.which("nginx") is not None, "nginx is not installed")
    accepted: list[str] = []
    for labels in names:
        try:
            name = normalize_domain(".".join(labels))
        except ValidationError:
            continue
        if name not in accepted:
            accepted.append(name)
    if len(accepted) < 2:
        reject()
    primary, aliases = accepted[0], accepted[1:]
    site = Site(
        domain=primary,
        runtime="static",
        root_path=f"/srv/www/{primary}",
        redirect_mode=mode,
        redirect_to=aliases[-1] if mode == RedirectMode.TO_ALIAS else None,
    )
    site.alias_override = aliases
    base = _scratch_nginx()
    text = ngx.render_site(site)
    for name in accepted:
        assert name in text
    (base / "vhost.conf").write_text(text)
    res = subprocess.run(
        ["nginx", "-t", "-q", "-p", str(base), "-c", str(base / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, f"{accepted} ({mode}): {res.stderr}"


def test_a_name_nginx_already_serves_stays_reserved_when_its_job_fails(nginx, db, monkeypatch):
    """Attack: a name's job fails after nginx took the change (here a fault in the database
    step; for real a lost worker or a database error). If the failure gave the name back, the
    first site's vhost would keep answering for it while another customer added it: nginx only
    warns about a conflicting server name, and the first vhost loaded wins, so the second
    customer's name would be served by the first site. The row must stay with the vhost."""
    from panel.jobs.runner import run_job
    from panel.sites import handlers

    alice, bob = UserFactory(), UserFactory()
    first = site_create(user=alice, domain="crash-a.example", runtime="static")
    assert run_job(str(_last_job(first).pk)) == "success"
    second = site_create(user=bob, domain="crash-b.example", runtime="static")
    assert run_job(str(_last_job(second).pk)) == "success"

    def fault(plan):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(handlers, "_finish_aliases", fault)
    job = alias_add(user=alice, site=first, domain="contested.example")
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed"
    monkeypatch.undo()
    assert "contested.example" in ngx.served_names(first.domain)  # nginx serves it for Alice
    assert SiteDomain.objects.filter(site=first, domain="contested.example").exists()
    with pytest.raises(ValidationError, match="already used by a site"):
        alias_add(user=bob, site=second, domain="contested.example")
    assert "<h1>crash-a.example</h1>" in nginx.wait_for("contested.example").body


@pytest.mark.parametrize("spelling", ["www.alice.example", "WWW.Alice.Example."])
def test_www_of_another_customers_name_is_refused(two_customers, spelling):
    """Attack: Bob takes www. of Alice's name (her DNS sends www there as well, as nearly
    everyone's does) and serves his own page, with a certificate, under her www. address."""
    alice_site, bob_site = two_customers
    with pytest.raises(ValidationError, match="another customer"):
        alias_add(user=bob_site.created_by, site=bob_site, domain=spelling)
    with pytest.raises(ValidationError, match="another customer"):
        site_create(user=bob_site.created_by, domain=spelling, runtime="static")
    assert not SiteDomain.objects.exists()
    assert not Site.objects.filter(domain="www.alice.example").exists()
    # Alice herself may add it, to the same site or another of hers.
    alias_add(user=alice_site.created_by, site=alice_site, domain=spelling)


def test_the_name_without_www_of_another_customers_www_name_is_refused(two_customers):
    """The other way round: Alice's site is www.shop.example; Bob takes shop.example."""
    alice_site, bob_site = two_customers
    SiteDomain.objects.create(site=alice_site, domain="www.shop.example")
    with pytest.raises(ValidationError, match="another customer"):
        alias_add(user=bob_site.created_by, site=bob_site, domain="shop.example")
    with pytest.raises(ValidationError, match="another customer"):
        site_create(user=bob_site.created_by, domain="shop.example", runtime="static")
    # Names that only look alike stay free: another label before or after.
    alias_add(user=bob_site.created_by, site=bob_site, domain="wwwshop.example")


def test_a_redirect_job_whose_target_is_no_longer_the_sites_fails(nginx, db):
    """Attack: a redirect job names an alias (or www.) that is no longer the site's when it runs
    (an administrator's retry of an old failed job, after the name was removed and another
    customer took it). It must fail, not store another customer's name as this site's
    redirect target."""
    from panel.jobs.runner import run_job

    alice, bob = UserFactory(), UserFactory()
    site = site_create(user=alice, domain="old-redirect.example", runtime="static", www=True)
    assert run_job(str(_last_job(site).pk)) == "success"
    job = alias_add(user=alice, site=site, domain="moved.example")
    assert run_job(str(job.pk)) == "success"
    for mode, target, gone in (
        ("to_alias", "moved.example", "moved.example"),
        ("to_www", None, "www.old-redirect.example"),
    ):
        job = site_set_redirect_mode(user=alice, site=site, mode=mode, redirect_to=target)
        moved = SiteDomain.objects.get(domain=gone)
        moved.delete()  # gone meanwhile; another customer has it now
        other = SiteFactory(created_by=bob, domain=f"bob-{mode.replace('_', '-')}.example")
        SiteDomain.objects.create(site=other, domain=gone)
        run_job(str(job.pk))
        job.refresh_from_db()
        assert job.status == "failed", job.log
        assert "no longer" in job.error_message
        site.refresh_from_db()
        assert (site.redirect_mode, site.redirect_to) == ("serve_all", None)


def test_nginx_refuses_a_change_that_adds_a_name_another_vhost_serves(nginx):
    """Defence in depth for any way a name could end up in two vhosts (the database allows one
    owner per name): nginx itself only warns about a conflicting server name and serves the
    first vhost it loaded, so the change that brings the second copy is refused instead."""
    _static("aaa-holder.example", ["held-name.example"])
    with pytest.raises(ngx.NginxError, match="held-name.example"):
        _static("zzz-intruder.example", ["held-name.example"])
    assert "held-name.example" not in ngx.served_names("zzz-intruder.example")
    assert ngx.served_names("aaa-holder.example") >= {"held-name.example"}
    # The holder's own changes (the name kept) still go through, and so does the intruder's
    # vhost without the name.
    _static("aaa-holder.example", ["held-name.example", "www.aaa-holder.example"])
    _static("zzz-intruder.example", [])
    assert nginx.config_ok()[0]


@pytest.mark.django_db(transaction=True)
def test_a_name_and_its_www_pair_cannot_go_to_two_customers_at_once():
    """Attack: Bob adds www.pair-race.example while Alice adds pair-race.example, both at once:
    the pair's lock makes the second wait for the first and then see it."""
    from panel.sites.aliases import ensure_name_free

    alice, bob = UserFactory(), UserFactory()
    alice_site = SiteFactory(created_by=alice, domain="alice-race.example")
    bob_site = SiteFactory(created_by=bob, domain="bob-race.example")
    inserted = threading.Event()
    outcome: dict[str, object] = {}

    def bob_first() -> None:
        try:
            with transaction.atomic():
                ensure_name_free("www.pair-race.example", owner_id=bob.pk)
                SiteDomain.objects.create(site=bob_site, domain="www.pair-race.example")
                inserted.set()
                time.sleep(0.5)
        finally:
            connections.close_all()

    def alice_second() -> None:
        inserted.wait(10)
        started = time.monotonic()
        try:
            alias_add(user=alice, site=alice_site, domain="pair-race.example")
            outcome["result"] = "added"
        except ValidationError as exc:
            outcome["result"] = " ".join(exc.messages)
        finally:
            outcome["waited"] = time.monotonic() - started
            connections.close_all()

    threads = [threading.Thread(target=bob_first), threading.Thread(target=alice_second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert "another customer" in str(outcome["result"])
    assert outcome["waited"] >= 0.3
    assert not SiteDomain.objects.filter(domain="pair-race.example").exists()


def test_the_conflict_is_found_among_many_other_warnings(nginx, settings):
    """The same, with 40 conflicts nginx already warns about elsewhere (hand-written files)
    after the intruder's: its warning is not lost in the rest of nginx's output."""
    from pathlib import Path

    conf_dir = Path(settings.NUSANTARA_NGINX_CONF_DIR)
    listen = settings.NUSANTARA_HTTP_LISTEN
    written = []
    for n in range(40):
        for copy in ("one", "two"):
            path = conf_dir / f"ccc-hand-{n}-{copy}.example.conf"
            path.write_text(
                f"server {{ listen {listen}; server_name hand-{n}.example; return 404; }}\n"
            )
            written.append(path)
    try:
        _static("aaa-holder2.example", ["held-name2.example"])
        with pytest.raises(ngx.NginxError, match="held-name2.example"):
            _static("bbb-intruder2.example", ["held-name2.example"])
        assert "held-name2.example" not in ngx.served_names("bbb-intruder2.example")
    finally:
        for path in written:
            path.unlink(missing_ok=True)


def test_the_www_option_counts_against_the_alias_limit(db, settings):
    """Attack: with the limit at 0 (no other names on this server), the www box at creation
    still added one."""
    settings.NUSANTARA_SITE_ALIAS_LIMIT = 0
    with pytest.raises(ValidationError) as exc:
        site_create(user=UserFactory(), domain="nolimit.example", runtime="static", www=True)
    assert "at most 0 other names" in str(exc.value.message_dict["www"])
    assert not Site.objects.exists() and not SiteDomain.objects.exists()
