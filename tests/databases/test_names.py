"""Names and identifiers: hostile names are refused, identifiers are quoted by one tested helper
(also against the real MariaDB), and a grant names exactly one database."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panel.databases import names
from panel.databases.names import NameRefused, full_name, grant_target, quote_identifier

from .conftest import admin_sql

SITE_USER = "np0123456789"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("shop'", "characters"),
        ("shop`", "characters"),
        ('shop"', "characters"),
        ("sh%p", "characters"),
        ("shop\\", "characters"),
        ("shop;drop database mysql", "characters"),
        ("Shop", "characters"),
        ("_shop", "characters"),
        ("1shop", "characters"),
        ("shop-1", "characters"),
        ("shop\x00", "characters"),
        ("şhop", "characters"),
        ("a" * 52, "too_long"),
    ],
)
def test_hostile_or_bad_names_are_refused(name, code):
    with pytest.raises(NameRefused) as info:
        full_name(SITE_USER, name)
    assert info.value.code == code


def test_the_longest_name_fits_mariadb_limits():
    name = "a" * names.max_name_length(SITE_USER)
    assert len(full_name(SITE_USER, name)) == 64
    with pytest.raises(NameRefused):
        full_name(SITE_USER, name + "a")


def test_names_need_a_real_site_user():
    for user in ("", "root", "np012345678", "np0123456789_", "NP0123456789"):
        with pytest.raises(NameRefused):
            full_name(user, "shop")


@given(st.text(max_size=80))
def test_any_accepted_name_is_plain_and_within_limits(text):
    try:
        name = full_name(SITE_USER, text)
    except NameRefused:
        return
    assert re.fullmatch(r"np0123456789_[a-z][a-z0-9_]*", name) and len(name) <= 64


def test_quote_identifier_doubles_backticks_and_refuses_the_unusable():
    assert quote_identifier("shop") == "`shop`"
    assert quote_identifier("a`b") == "`a``b`"
    for bad in ("", "x\x00y", "trailing ", "a" * 65):
        with pytest.raises(ValueError):
            quote_identifier(bad)


def test_grant_target_escapes_wildcards():
    assert grant_target("np0123456789_my_shop") == r"`np0123456789\_my\_shop`.*"
    assert grant_target("a%b") == r"`a\%b`.*"
    assert grant_target("a\\b") == r"`a\\b`.*"
    assert grant_target("a`b") == r"`a``b`.*"


@pytest.mark.parametrize("name", ["np_t`est", "np_t'est", 'np_t"e;st', "np_t\\est", "np_t%e_st"])
def test_quoted_identifiers_reach_mariadb_as_exactly_that_name(mariadb_server, name):
    """The helper's output, run by the real server: the database is created with exactly this
    name, and nothing else happens."""
    before = {row[0] for row in admin_sql(mariadb_server, "SHOW DATABASES")}
    try:
        admin_sql(mariadb_server, f"CREATE DATABASE {quote_identifier(name)}")
        after = {row[0] for row in admin_sql(mariadb_server, "SHOW DATABASES")}
        assert after - before == {name}
    finally:
        admin_sql(mariadb_server, f"DROP DATABASE IF EXISTS {quote_identifier(name)}")
    assert {row[0] for row in admin_sql(mariadb_server, "SHOW DATABASES")} == before
