"""Names on the MariaDB side, and the only way identifiers reach SQL.

A customer's database and its user are both `<site user>_<name>`: the site user (`np` + 10 hex
digits) makes them unique per site and recognisable. The name is lower-case letters, digits and
`_`, starting with a letter, so nothing in it needs quoting; identifiers are quoted anyway, by
`quote_identifier` (backticks, doubled inside), and account names and passwords travel as
parameters. In a GRANT, `_` and `%` in a database name are wildcards: `grant_target` escapes
them, so the user of `np…_shop` gets nothing on `np…Xshop`.
"""

from __future__ import annotations

import re

# MariaDB's limits: database names 64 characters, user names 80 (the shorter one binds, since
# the user is named like the database).
MAX_DATABASE_LENGTH = 64
MAX_USER_LENGTH = 80
SITE_USER = re.compile(r"np[0-9a-f]{10}")
NAME = re.compile(r"[a-z][a-z0-9_]*")


class NameRefused(ValueError):
    """`code` says why (the service translates it); `limit` for too_long."""

    def __init__(self, code: str, limit: int = 0) -> None:
        super().__init__(code)
        self.code = code
        self.limit = limit


def max_name_length(site_user: str) -> int:
    return min(MAX_DATABASE_LENGTH, MAX_USER_LENGTH) - len(site_user) - 1


def full_name(site_user: str, name: str) -> str:
    """`<site user>_<name>` for a name the customer typed (surrounding blanks ignored), or
    NameRefused."""
    if not SITE_USER.fullmatch(site_user or ""):
        raise NameRefused("no_site_user")
    name = (name or "").strip()
    if not name:
        raise NameRefused("empty")
    limit = max_name_length(site_user)
    if len(name) > limit:
        raise NameRefused("too_long", limit)
    if not NAME.fullmatch(name):
        raise NameRefused("characters")
    return f"{site_user}_{name}"


def quote_identifier(name: str) -> str:
    """A database name as a quoted SQL identifier. Backticks are doubled; a NUL, an empty name,
    a trailing space or an over-long one (which MariaDB refuses or mangles) is a ValueError."""
    if not name or "\x00" in name or name.endswith(" ") or len(name) > MAX_DATABASE_LENGTH:
        raise ValueError(f"not a usable database name: {name!r}")
    return "`" + name.replace("`", "``") + "`"


def grant_target(name: str) -> str:
    """The `db`.* of a GRANT naming exactly this database: `\\`, `_` and `%` escaped, since a
    grant's database name is a LIKE pattern."""
    quote_identifier(name)  # the same checks on the unescaped name
    escaped = re.sub(r"([\\_%])", r"\\\1", name)
    return "`" + escaped.replace("`", "``") + "`.*"
