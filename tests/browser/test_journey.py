"""The panel in a real browser: an admin creates a user; that user creates a site, watches its
job finish without reloading, opens it through nginx, gets a certificate from Pebble, and deletes
the site. Once in English and once in Bahasa Indonesia (the browser's language)."""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect

from panel.accounts.models import Role
from panel.sites.models import Site
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.services]

USER_PASSWORD = "Rendang-Padang-2026!"
LIVE_TIMEOUT = 60_000  # ms: provisioning + ACME on a busy 2-core machine


class Tr:
    """Labels as the panel shows them in `lang`, so one journey serves both languages."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, msgid: str) -> str:
        with translation.override(self.lang):
            return translation.gettext(msgid)


def mark_page(page: Page) -> None:
    """A flag on `window` that a reload would wipe: proves updates came without reloading."""
    page.evaluate("window.__npNoReload = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__npNoReload === true"), "the page was reloaded"


def sign_in(page: Page, base: str, t: Tr, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name=t("Sign in")).click()
    expect(page.locator(".whoami")).to_contain_text(username)


def sign_out(page: Page, t: Tr) -> None:
    page.get_by_role("button", name=t("Sign out")).click()
    expect(page.locator("#id_username")).to_be_visible()


@pytest.mark.parametrize("lang", ["en", "id"])
def test_admin_creates_user_who_runs_a_site_end_to_end(
    page: Page, panel_server, nginx, pebble, shoot, lang: str
) -> None:
    t = Tr(lang)
    base = panel_server.url
    shots = lang == "en"  # the README's screenshots are the English pages
    username = f"budi-{lang}"
    domain = f"toko-{lang}.nusantara.test"
    UserFactory(username="admin", role=Role.ADMIN)
    page.context.set_extra_http_headers({"Accept-Language": lang})

    # --- the admin creates a user ---
    page.goto(f"{base}/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("button", name=t("Sign in"))).to_be_visible()
    if shots:
        shoot(page, "login")
    sign_in(page, base, t, "admin", PASSWORD)
    page.goto(f"{base}/users/new/")
    page.locator("#id_username").fill(username)
    page.locator("#id_role").select_option("user")
    page.locator("#id_password1").fill(USER_PASSWORD)
    page.locator("#id_password2").fill(USER_PASSWORD)
    page.get_by_role("button", name=t("Create user")).click()
    expect(page.locator("h1")).to_have_text(username)
    if shots:
        shoot(page, "user-detail")
        page.goto(f"{base}/users/")
        shoot(page, "users")
    sign_out(page, t)

    # --- the user creates a site and sees its job succeed without reloading ---
    sign_in(page, base, t, username, USER_PASSWORD)
    page.goto(f"{base}/sites/new/")
    page.locator("#id_domain").fill(domain)
    runtime = page.locator("[name=runtime]")
    if runtime.first.evaluate("e => e.tagName") == "SELECT":
        runtime.select_option("static")
    else:
        page.locator("[name=runtime][value=static]").check()
    if shots:
        shoot(page, "site-new")
    page.get_by_role("button", name=t("Create site")).click()
    expect(page).to_have_url(re.compile(r"/sites/[0-9a-f-]{36}/$"))
    mark_page(page)
    live = page.locator("#site-live")
    expect(live.locator(".badge-success").first).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(page.locator("[data-testid=site-status]")).to_have_text(t("Active"))
    assert_not_reloaded(page)

    # --- the site answers through nginx ---
    site = Site.objects.get(domain=domain)
    (nginx.web_root / domain).mkdir(parents=True, exist_ok=True)
    (nginx.web_root / domain / "index.html").write_text(f"<h1>Selamat datang di {domain}</h1>")
    response = nginx.wait_for(domain, "/index.html")
    assert response.status == 200 and domain in response.body

    # --- a certificate from Pebble, seen as issued without reloading ---
    page.goto(f"{base}/sites/{site.pk}/")
    page.get_by_role("button", name=t("Request certificate")).click()
    mark_page(page)
    expect(page.locator("[data-testid=certificate-status] .badge-issued")).to_be_visible(
        timeout=LIVE_TIMEOUT
    )
    assert_not_reloaded(page)
    https = nginx.wait_for_https(domain, "/index.html", cafile=str(pebble.root_path))
    assert https.status == 200 and domain in https.body
    if shots:
        page.reload()  # the HTTPS card (outside the live fragment) as a visitor would see it
        shoot(page, "site-detail")
        page.goto(f"{base}/")
        shoot(page, "dashboard")
        page.goto(f"{base}/jobs/")
        shoot(page, "jobs")
        page.goto(f"{base}/certificates/")
        shoot(page, "certificates")

    # --- delete behind the typed confirmation ---
    page.goto(f"{base}/sites/{site.pk}/")
    page.locator("#id_confirm_domain").fill(domain)
    page.get_by_role("button", name=t("Delete this site")).click()
    mark_page(page)
    expect(page.locator(".badge-success").first).to_be_visible(timeout=LIVE_TIMEOUT)
    assert_not_reloaded(page)
    assert not Site.objects.filter(pk=site.pk).exists()
    assert nginx.wait_for(domain, "/index.html", status=404).status == 404
    sign_out(page, t)

    # --- the admin's audit log shows what happened ---
    sign_in(page, base, t, "admin", PASSWORD)
    page.goto(f"{base}/audit/")
    expect(page.locator("table")).to_contain_text("user.create")
    expect(page.locator("table")).to_contain_text("site.create")
    if shots:
        shoot(page, "audit")
    if lang == "id":
        nav = page.locator("nav.mainnav")
        for label in ("Dasbor", "Situs", "Sertifikat", "Pekerjaan", "Log audit", "Pengguna"):
            expect(nav).to_contain_text(label)
        expect(page.get_by_role("button", name="Keluar")).to_be_visible()
        page.goto(f"{base}/")
        expect(page.locator("h1")).to_have_text("Dasbor")
        shoot(page, "dashboard-id")
