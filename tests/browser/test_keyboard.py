"""Keyboard use: sign in and reach the user pages with Tab and Enter only, focus always visible."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from panel.accounts.models import Role
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.browser

FOCUS_VISIBLE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return true;  // nothing focused yet
  const s = getComputedStyle(el);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
  return outline || (s.boxShadow && s.boxShadow !== 'none');
}"""


def tab_to(page: Page, selector: str, limit: int = 30) -> None:
    """Press Tab until `selector` has focus, checking each stop shows where focus is."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        assert page.evaluate(FOCUS_VISIBLE), page.evaluate("document.activeElement.outerHTML")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} not reachable with Tab")


def test_sign_in_and_create_a_user_by_keyboard(page: Page, plain_server) -> None:
    base = plain_server.url
    UserFactory(username="admin", role=Role.ADMIN)
    page.goto(f"{base}/accounts/login/")
    tab_to(page, "#id_username")
    page.keyboard.type("admin")
    tab_to(page, "#id_password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator(".whoami")).to_contain_text("admin")

    page.goto(f"{base}/users/new/")
    tab_to(page, "#id_username")
    page.keyboard.type("keyboard-user")
    tab_to(page, "#id_password1")
    page.keyboard.type("Kopi-Luwak-Tubruk-9")
    tab_to(page, "#id_password2")
    page.keyboard.type("Kopi-Luwak-Tubruk-9")
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("keyboard-user")


def test_errors_are_announced_next_to_their_field(page: Page, plain_server) -> None:
    page.goto(f"{plain_server.url}/accounts/login/")
    page.locator("#id_username").fill("nobody")
    page.locator("#id_password").fill("wrong")
    page.keyboard.press("Enter")
    alert = page.locator(".errorlist")
    expect(alert.first).to_be_visible()
    expect(page.get_by_label("Username")).to_be_visible()
