"""The node's MariaDB, as an administrator (NUSANTARA_MARIADB_URL), through PyMySQL.

Plain functions, each idempotent, each statement built from quoted identifiers
(panel.databases.names) and parameters, never from formatted user input. Failures become
MariaDBError with a message a person can act on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from .names import SITE_USER, grant_target, quote_identifier

CONNECT_TIMEOUT = 5


class MariaDBError(Exception):
    """MariaDB is unreachable or refused a statement; the message says which and why."""


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str
    unix_socket: str = ""

    @property
    def where(self) -> str:
        return self.unix_socket or f"{self.host}:{self.port}"


def parse_url(url: str) -> Server:
    """mysql://USER:PASSWORD@HOST:PORT/ or mariadb://…, optionally ?unix_socket=PATH."""
    parts = urlsplit(url)
    try:
        port = parts.port or 3306
    except ValueError as exc:
        raise ImproperlyConfigured("NUSANTARA_MARIADB_URL has a bad port.") from exc
    if parts.scheme not in ("mysql", "mariadb") or not (parts.hostname and parts.username):
        raise ImproperlyConfigured(
            "NUSANTARA_MARIADB_URL must look like mysql://USER:PASSWORD@HOST:PORT/."
        )
    socket_path = (parse_qs(parts.query).get("unix_socket") or [""])[0]
    return Server(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        unix_socket=socket_path,
    )


def configured() -> Server | None:
    from django.conf import settings

    url = settings.NUSANTARA_MARIADB_URL
    return parse_url(url) if url else None


@contextlib.contextmanager
def connect(server: Server | None = None, timeout: int = CONNECT_TIMEOUT) -> Iterator[Any]:
    """An autocommit connection as the administrator, closed afterwards."""
    import pymysql

    server = server or configured()
    if server is None:
        raise MariaDBError("Databases are off: NUSANTARA_MARIADB_URL is not set.")
    try:
        conn = pymysql.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            password=server.password,
            unix_socket=server.unix_socket or None,
            connect_timeout=timeout,
            read_timeout=60,
            write_timeout=60,
            autocommit=True,
            charset="utf8mb4",
        )
    except pymysql.MySQLError as exc:
        raise MariaDBError(f"MariaDB at {server.where} is not reachable: {_reason(exc)}") from exc
    try:
        yield conn
    except pymysql.MySQLError as exc:
        raise MariaDBError(f"MariaDB at {server.where} refused: {_reason(exc)}") from exc
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _reason(exc: Exception) -> str:
    args: tuple[Any, ...] = getattr(exc, "args", ())
    if len(args) == 2:
        return f"({args[0]}) {args[1]}"
    return str(exc) or exc.__class__.__name__


def ensure(database: str, user: str, password: str, *, user_host: str) -> None:
    """The database, its user with this password, and ALL on that database only. Re-running it
    converges (it is also how a password is changed)."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}")
        cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, user_host, password))
        cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, user_host, password))
        # With parameters PyMySQL %-formats the statement: a literal % must be doubled.
        target = grant_target(database).replace("%", "%%")
        cur.execute(f"GRANT ALL PRIVILEGES ON {target} TO %s@%s", (user, user_host))


def drop(database: str, user: str, *, user_host: str) -> None:
    """The user first (no new session can open), then the database; both if they exist."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute("DROP USER IF EXISTS %s@%s", (user, user_host))
        cur.execute(f"DROP DATABASE IF EXISTS {quote_identifier(database)}")


def owned_by(
    site_user: str, target: Server | None = None
) -> tuple[list[str], list[tuple[str, str]]]:
    """Every database and account named `<site user>_…` on the server, whatever the panel's
    rows say (what a site's deletion sweeps)."""
    pattern = _prefix(site_user)
    with connect(target) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
            (pattern,),
        )
        databases = [row[0] for row in cur.fetchall()]
        cur.execute("SELECT User, Host FROM mysql.user WHERE User LIKE %s", (pattern,))
        users = [(row[0], row[1]) for row in cur.fetchall()]
    return databases, users


def drop_owned_by(site_user: str, target: Server | None = None) -> list[str]:
    """Drop every database and account of this site user; returns what was dropped."""
    databases, users = owned_by(site_user, target)
    with connect(target) as conn, conn.cursor() as cur:
        for user, host in users:
            cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
        for database in databases:
            cur.execute(f"DROP DATABASE IF EXISTS {quote_identifier(database)}")
    return [*databases, *(f"{u}@{h}" for u, h in users)]


def _prefix(site_user: str) -> str:
    if not SITE_USER.fullmatch(site_user):
        raise ValueError(f"not a site user: {site_user!r}")
    return site_user + "\\_%"  # LIKE: the _ after the site user literally


def sizes(site_user: str, timeout: int = 2) -> dict[str, int]:
    """Bytes of data and indexes of each database of this site user."""
    with connect(timeout=timeout) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT s.schema_name, COALESCE(SUM(t.data_length + t.index_length), 0) "
            "FROM information_schema.schemata s LEFT JOIN information_schema.tables t "
            "ON t.table_schema = s.schema_name "
            "WHERE s.schema_name LIKE %s GROUP BY s.schema_name",
            (_prefix(site_user),),
        )
        return {name: int(size) for name, size in cur.fetchall()}


def ping(target: Server | None = None, timeout: int = 2) -> str:
    """MariaDB's version, or MariaDBError saying why not."""
    with connect(target, timeout=timeout) as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        return str(cur.fetchone()[0])
