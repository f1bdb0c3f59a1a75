"""The base layout: navigation by role, signed-in user, language switch, logout by POST, CSP."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_user_sees_own_navigation_and_no_admin_links(owner_client):
    html = owner_client.get("/").content.decode()
    for href in ('href="/sites/"', 'href="/certificates/"', 'href="/jobs/"'):
        assert href in html
    assert 'href="/audit/"' not in html
    assert 'href="/users/"' not in html
    assert "<strong>owner</strong>" in html


def test_admin_sees_audit_and_users_links(admin_client):
    html = admin_client.get("/").content.decode()
    assert 'href="/audit/"' in html
    assert 'href="/users/"' in html


def test_current_page_is_marked_in_navigation(owner_client):
    html = owner_client.get("/sites/").content.decode()
    assert re.search(r'href="/sites/"\s+aria-current="page"', html)


def test_logout_is_a_post_form_with_csrf(owner_client):
    html = owner_client.get("/").content.decode()
    form = re.search(r'<form method="post" action="/accounts/logout/".*?</form>', html, re.S)
    assert form and "csrfmiddlewaretoken" in form.group(0)


def test_language_switch_posts_to_setlang(owner_client):
    html = owner_client.get("/").content.decode()
    form = re.search(r'<form action="/i18n/setlang/" method="post".*?</form>', html, re.S)
    assert form
    assert 'name="language"' in form.group(0)
    assert 'value="id"' in form.group(0)
    assert 'name="next" value="/"' in form.group(0)


def test_switching_language_shows_indonesian_page(owner_client):
    response = owner_client.post("/i18n/setlang/", {"language": "id", "next": "/"})
    assert response.status_code == 302
    html = owner_client.get("/").content.decode()
    assert '<html lang="id">' in html


def test_pages_have_no_inline_script_or_style(owner_client, site):
    for url in ("/", "/sites/", "/sites/new/", f"/sites/{site.pk}/", "/jobs/", "/certificates/"):
        html = owner_client.get(url).content.decode()
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts, url
        assert all("src=" in tag for tag in scripts), (url, scripts)
        assert not re.search(r"<style\b", html), url
        assert not re.search(r'\sstyle="', html), url
        assert not re.search(r"\son[a-z]+=", html), url


def test_csp_header_allows_only_own_scripts(owner_client):
    response = owner_client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp


def test_htmx_and_panel_js_are_served_locally(owner_client):
    html = owner_client.get("/").content.decode()
    srcs = re.findall(r'<script src="([^"]+)"', html)
    assert any("htmx" in s for s in srcs)
    assert all(s.startswith("/static/") for s in srcs)
