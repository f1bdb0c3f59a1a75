"""The ACME (RFC 8555) client: plain functions on certbot's `acme` library.

One account per panel and ACME directory: its key (0600) and URL live under
NUSANTARA_DATA_DIR/acme/<directory host>/ and are reused, so switching from staging to
production simply registers a new account. HTTP-01 answers go through the shared challenge
directory that every vhost serves. Every certificate gets a fresh key (ECDSA P-256, or RSA 2048
when NUSANTARA_ACME_KEY_TYPE = "rsa").

Every failure becomes `AcmeError` whose message carries the CA's own words: which domain,
which check, and what the CA saw.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import josepy as jose
import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.utils.translation import gettext as _

USER_AGENT = "nusantara-panel"
# One order should take seconds; a CA that has not decided after this long will not.
DEFAULT_DEADLINE_SECONDS = 90


class AcmeError(Exception):
    """The CA refused or could not be reached; str() is a message a person can act on."""


class NamesRefused(AcmeError):
    """The CA refused the validation of some of the order's names (not all): `refused` maps
    each of them to the CA's words. An order for the others can still succeed."""

    def __init__(self, message: str, refused: dict[str, str]) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class Issued:
    fullchain_pem: str
    key_pem: str
    # The names the certificate covers, and the ones left out with the reason (issue_covering).
    names: tuple[str, ...] = ()
    not_covered: tuple[tuple[str, str], ...] = ()


Log = Callable[[str], None]


def _noop(_msg: str) -> None:
    pass


# --- keys -------------------------------------------------------------------------------


def new_certificate_key(key_type: str | None = None) -> str:
    """A fresh private key for one certificate, PEM (PKCS#8, unencrypted: nginx reads it)."""
    key_type = key_type or settings.NUSANTARA_ACME_KEY_TYPE
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def write_private(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Write atomically with `mode` from the first byte (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# --- which CA -----------------------------------------------------------------------------

# Directory hosts of public CAs, by name (so a person sees "Let's Encrypt (staging)", not a URL).
_KNOWN_CAS = {
    "acme-v02.api.letsencrypt.org": "Let's Encrypt",
    "acme-staging-v02.api.letsencrypt.org": "Let's Encrypt (staging)",
    "acme.zerossl.com": "ZeroSSL",
    "dv.acme-v02.api.pki.goog": "Google Trust Services",
    "dv.acme-v02.test-api.pki.goog": "Google Trust Services (staging)",
    "api.buypass.com": "Buypass",
    "api.test4.buypass.no": "Buypass (staging)",
}


def ca_label(directory_url: str | None = None) -> str:
    """A person's name for the configured ACME directory: the CA's name for the public CAs
    (staging said so), "Pebble (host:port)" for a local Pebble, else the directory's host."""
    url = directory_url if directory_url is not None else settings.NUSANTARA_ACME_DIRECTORY
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in _KNOWN_CAS:
        return _KNOWN_CAS[host]
    netloc = parts.netloc.rsplit("@", 1)[-1] or url[:100]
    # Pebble (the test CA) serves its directory at /dir, on a loopback address.
    if parts.path.rstrip("/") == "/dir" and host in ("127.0.0.1", "localhost", "::1"):
        return f"Pebble ({netloc})"
    return netloc


# --- account ----------------------------------------------------------------------------


def account_dir(directory_url: str | None = None) -> Path:
    url = directory_url or settings.NUSANTARA_ACME_DIRECTORY
    parts = urlsplit(url)
    # Host plus a short hash of the full URL: readable, and distinct per directory.
    tag = hashlib.sha256(url.encode()).hexdigest()[:8]
    return (
        Path(settings.NUSANTARA_DATA_DIR) / "acme" / f"{parts.hostname}-{parts.port or 443}-{tag}"
    )


def _verify() -> str | bool:
    # A CA bundle path or True: acme hands it to requests' `verify`, which takes both (acme's
    # annotation says bool only).
    return settings.NUSANTARA_ACME_CA_BUNDLE or True


@contextlib.contextmanager
def _account_lock(directory: Path) -> Iterator[None]:
    # Two workers starting at once must not register two accounts.
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (directory / ".lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _load_or_create_key(key_path: Path) -> jose.JWKRSA:
    if key_path.exists():
        return jose.JWKRSA.json_loads(key_path.read_text())
    key = jose.JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    write_private(key_path, key.json_dumps())
    return key


def _register(net: client.ClientNetwork, directory: messages.Directory) -> str:
    acme = client.ClientV2(directory, net)
    email = settings.NUSANTARA_ACME_EMAIL or None
    try:
        regr = acme.new_account(
            messages.NewRegistration.from_data(email=email, terms_of_service_agreed=True)
        )
    except errors.ConflictError as exc:
        # The CA already has an account for this key (the URL file was lost or is stale).
        return exc.location
    return regr.uri


def get_client(*, fresh_account: bool = False) -> client.ClientV2:
    """A ClientV2 bound to the panel's account (registered on first use, then reused)."""
    acct_dir = account_dir()
    key_path, url_path = acct_dir / "account_key.json", acct_dir / "account_url"
    with _account_lock(acct_dir):
        key = _load_or_create_key(key_path)
        if fresh_account:
            url_path.unlink(missing_ok=True)
        if url_path.exists():
            regr = messages.RegistrationResource(
                uri=url_path.read_text().strip(), body=messages.Registration()
            )
            net = client.ClientNetwork(
                key,
                account=regr,
                user_agent=USER_AGENT,
                verify_ssl=_verify(),  # type: ignore[arg-type]  # see _verify
            )
            directory = client.ClientV2.get_directory(settings.NUSANTARA_ACME_DIRECTORY, net)
            return client.ClientV2(directory, net)
        net = client.ClientNetwork(
            key,
            user_agent=USER_AGENT,
            verify_ssl=_verify(),  # type: ignore[arg-type]  # see _verify
        )
        directory = client.ClientV2.get_directory(settings.NUSANTARA_ACME_DIRECTORY, net)
        uri = _register(net, directory)
        write_private(url_path, uri)
        net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
        return client.ClientV2(directory, net)


# --- issuance ---------------------------------------------------------------------------


def challenge_path(token: str) -> Path:
    return Path(settings.NUSANTARA_CHALLENGE_DIR) / ".well-known" / "acme-challenge" / token


def _write_challenge(token: str, validation: str) -> Path:
    path = challenge_path(token)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    # nginx workers (often another user) must read it; it is public by design.
    write_private(path, validation, mode=0o644)
    return path


def _sleep_backoff(attempt: int) -> None:
    # The library polls every whole second; short first steps make a fast CA (or Pebble) fast,
    # and the cap keeps us polite to a slow one.
    time.sleep(min(0.05 * 2**attempt, 2.0))


def _poll_authorizations(
    acme: client.ClientV2, orderr: messages.OrderResource, deadline: float
) -> messages.OrderResource:
    """Wait for the CA to decide each authorization, until `deadline` (time.monotonic())."""
    responses = []
    for authzr in orderr.authorizations:
        attempt = 0
        while True:
            authzr, _response = acme.poll(authzr)
            if authzr.body.status != messages.STATUS_PENDING:
                responses.append(authzr)
                break
            if time.monotonic() >= deadline:
                raise errors.TimeoutError()
            _sleep_backoff(attempt)
            attempt += 1
    failed = [a for a in responses if a.body.status != messages.STATUS_VALID]
    if failed:
        raise errors.ValidationError(failed)
    return orderr.update(authorizations=responses)


def _finalize(
    acme: client.ClientV2, orderr: messages.OrderResource, deadline: float
) -> messages.OrderResource:
    """Finalize the order and download the chain. The library's `finalize_order` sleeps a whole
    second before it first looks at the order, most of an issuance against a fast CA; here the
    order is read at once and then polled with the same short backoff as the authorizations,
    through the client's public network object (`ClientNetwork.post`, POST-as-GET)."""
    try:
        orderr = acme.begin_finalization(orderr)
    except messages.Error as exc:
        if exc.code != "orderNotReady":
            raise
    attempt = 0
    while True:
        body = orderr.body
        if body.status == messages.STATUS_INVALID:
            if body.error is not None:
                raise errors.IssuanceError(body.error)
            raise errors.Error("The certificate order failed without a reason from the CA.")
        if body.status == messages.STATUS_VALID and body.certificate is not None:
            chain = _post_as_get(acme, body.certificate)
            return orderr.update(fullchain_pem=chain.text)
        if time.monotonic() >= deadline:
            raise errors.TimeoutError()
        if body.status == messages.STATUS_READY:
            orderr = acme.begin_finalization(orderr)  # it was not ready at the first call
            continue
        _sleep_backoff(attempt)
        attempt += 1
        response = _post_as_get(acme, orderr.uri)
        orderr = orderr.update(body=messages.Order.from_json(response.json()))


def _post_as_get(acme: client.ClientV2, url: str) -> requests.Response:
    return acme.net.post(url, None, new_nonce_url=acme.directory["newNonce"])


def _http01(authzr: messages.AuthorizationResource) -> messages.ChallengeBody:
    for challb in authzr.body.challenges:
        if isinstance(challb.chall, challenges.HTTP01):
            return challb
    raise AcmeError(
        _(
            "The CA offers no HTTP-01 check for %(domain)s; the panel can only prove control "
            "of a domain over HTTP."
        )
        % {"domain": authzr.body.identifier.value}
    )


def _new_order(csr_pem: bytes, log: Log) -> tuple[client.ClientV2, messages.OrderResource]:
    acme = get_client()
    try:
        return acme, acme.new_order(csr_pem)
    except messages.Error as exc:
        # The CA forgot our account (a reset test CA, a deactivated account): register anew once.
        if exc.code not in ("accountDoesNotExist", "unauthorized"):
            raise
        log(f"the CA does not know our account ({exc.code}); registering a new one")
        acme = get_client(fresh_account=True)
        return acme, acme.new_order(csr_pem)


def issue(
    domains: list[str],
    *,
    log: Log = _noop,
    deadline_seconds: int = DEFAULT_DEADLINE_SECONDS,
) -> Issued:
    """Obtain a certificate for `domains` over HTTP-01. Raises AcmeError with the CA's words."""
    key_pem = new_certificate_key()
    csr_pem = crypto_util.make_csr(key_pem.encode(), domains)
    written: list[Path] = []
    try:
        log(f"ordering a certificate for {', '.join(domains)}")
        acme, orderr = _new_order(csr_pem, log)
        for authzr in orderr.authorizations:
            if authzr.body.status == messages.STATUS_VALID:
                continue  # the CA remembers a recent validation of this name
            challb = _http01(authzr)
            response, validation = challb.response_and_validation(acme.net.key)
            written.append(_write_challenge(challb.chall.encode("token"), validation))
            acme.answer_challenge(challb, response)
            log(f"answered the HTTP-01 check for {authzr.body.identifier.value}")
        deadline = time.monotonic() + deadline_seconds
        orderr = _poll_authorizations(acme, orderr, deadline)
        log("the CA validated every name; finalizing")
        orderr = _finalize(acme, orderr, deadline)
        return Issued(fullchain_pem=orderr.fullchain_pem, key_pem=key_pem, names=tuple(domains))
    except AcmeError:
        raise
    except errors.ValidationError as exc:
        refused = {
            a.body.identifier.value: describe_error(errors.ValidationError([a]))
            for a in exc.failed_authzrs
        }
        if 0 < len(refused) < len(domains):
            raise NamesRefused(describe_error(exc), refused) from exc
        raise AcmeError(describe_error(exc)) from exc
    except Exception as exc:
        raise AcmeError(describe_error(exc)) from exc
    finally:
        for path in written:
            path.unlink(missing_ok=True)


def issue_covering(
    domains: list[str],
    *,
    log: Log = _noop,
    deadline_seconds: int = DEFAULT_DEADLINE_SECONDS,
) -> Issued:
    """Like `issue`, but a name the CA refuses does not sink the others: the order is placed
    again without the refused names (one bad alias must never cost the site its certificate).
    AcmeError only when no name is left or the failure is not about particular names."""
    remaining = list(domains)
    not_covered: dict[str, str] = {}
    while True:
        try:
            issued = issue(remaining, log=log, deadline_seconds=deadline_seconds)
        except NamesRefused as exc:
            not_covered.update(exc.refused)
            remaining = [name for name in remaining if name not in exc.refused]
            log(f"the CA refused {', '.join(exc.refused)}; ordering again without")
            continue
        return Issued(
            fullchain_pem=issued.fullchain_pem,
            key_pem=issued.key_pem,
            names=tuple(remaining),
            not_covered=tuple(not_covered.items()),
        )


def describe_error(exc: BaseException) -> str:
    """The CA's own words for a failure: which domain, which check, what it saw."""
    if isinstance(exc, errors.ValidationError):
        lines = []
        for authzr in exc.failed_authzrs:
            name = authzr.body.identifier.value
            for challb in authzr.body.challenges:
                if challb.error is not None:
                    lines.append(
                        _("%(domain)s: %(explanation)s The CA's %(check)s check said: %(problem)s")
                        % {
                            "domain": name,
                            "explanation": explain(challb.error, name),
                            "check": challb.chall.typ,
                            "problem": _problem(challb.error),
                        }
                    )
            if not any(c.error for c in authzr.body.challenges):
                lines.append(
                    _("The CA refused %(domain)s (authorization %(status)s).")
                    % {"domain": name, "status": authzr.body.status.name}
                )
        return "\n".join(lines) or _("The CA refused the domain validation.")
    if isinstance(exc, errors.IssuanceError):
        return _(
            "The CA refused to issue the certificate. %(explanation)sThe CA said: %(problem)s"
        ) % {
            "explanation": _explained(exc.error),
            "problem": _problem(exc.error),
        }
    if isinstance(exc, messages.Error):
        return _("The CA refused the request. %(explanation)sThe CA said: %(problem)s") % {
            "explanation": _explained(exc),
            "problem": _problem(exc),
        }
    if isinstance(exc, errors.TimeoutError):
        return _("The CA did not finish validating the domain in time; try again later.")
    if isinstance(exc, requests.exceptions.SSLError):
        return _(
            "Could not verify the CA's TLS certificate at %(url)s (check "
            "NUSANTARA_ACME_CA_BUNDLE): %(error)s"
        ) % {"url": settings.NUSANTARA_ACME_DIRECTORY, "error": exc}
    if isinstance(exc, requests.RequestException):
        return _("Could not reach the CA at %(url)s: %(error)s") % {
            "url": settings.NUSANTARA_ACME_DIRECTORY,
            "error": exc,
        }
    return f"ACME error ({exc.__class__.__name__}): {exc}"


# Let's Encrypt: "... retry after 2026-01-02 03:04:05 UTC: see https://...".
_RETRY_AFTER = re.compile(
    r"retry after (\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d)?(?:\.\d+)?(?: ?UTC|Z)?)", re.I
)


def explain(error: messages.Error, domain: str = "") -> str:
    """What an ACME problem means for the customer, in a sentence they can act on; the CA's own
    text stays beside it as the detail (see describe_error)."""
    code = error.code or ""
    detail = (error.detail or "").lower()
    what = {"domain": domain or _("your domain")}
    if code == "dns" and "nxdomain" in detail:
        return (
            _(
                "%(domain)s does not exist in DNS (NXDOMAIN): check its spelling, and that it "
                "is registered with an A/AAAA record pointing to this server."
            )
            % what
        )
    if code == "dns" or (code == "connection" and "resolve" in detail):
        return (
            _(
                "The CA could not look up %(domain)s in DNS: the name has no address the CA "
                "could find. Point its A/AAAA record to this server, then try again."
            )
            % what
        )
    if code == "connection" and ("timeout" in detail or "timed out" in detail):
        return (
            _(
                "The CA could not reach %(domain)s: the connection timed out. It does not point "
                "to this server, or a firewall blocks port 80."
            )
            % what
        )
    if code == "connection" and "refused" in detail:
        return (
            _(
                "The CA could not reach %(domain)s: the connection was refused. It does not "
                "point to this server, or nothing answers on port 80 there."
            )
            % what
        )
    if code == "connection":
        return (
            _(
                "The CA could not reach %(domain)s: it does not point to this server, or port "
                "80 is closed."
            )
            % what
        )
    if code in ("unauthorized", "incorrectResponse"):
        return (
            _(
                "The CA could not find the challenge file at "
                "http://%(domain)s/.well-known/acme-challenge/: the domain points to another "
                "server, or something in front of this one (a CDN or proxy) answers for it."
            )
            % what
        )
    if code == "rateLimited":
        retry = _RETRY_AFTER.search(error.detail or "")
        if retry:
            return _(
                "Too many certificates for this domain at the CA (rate limit); try again after "
                "%(when)s."
            ) % {"when": retry.group(1)}
        return _("Too many certificates for this domain at the CA (rate limit); try again later.")
    if code == "caa":
        return (
            _(
                "The CAA records in the DNS of %(domain)s do not allow this CA to issue for it: "
                "add a CAA record naming the CA, or remove the one that excludes it."
            )
            % what
        )
    if code == "dnssec":
        return (
            _(
                "The DNSSEC signatures of %(domain)s do not validate, so the CA cannot trust "
                "its DNS; fix them at your DNS provider."
            )
            % what
        )
    if code == "tls":
        return (
            _(
                "The CA was redirected from %(domain)s to HTTPS and the TLS connection there "
                "failed; serve the challenge path over plain HTTP."
            )
            % what
        )
    if code in ("rejectedIdentifier", "unsupportedIdentifier"):
        return _("The CA's policy does not allow certificates for %(domain)s.") % what
    if code == "serverInternal":
        return _("The CA had a problem on its side; try again later.")
    return _("The CA refused it.")


def _explained(error: messages.Error) -> str:
    """explain() followed by a space, or nothing when it would only repeat 'refused'."""
    text = explain(error)
    return "" if text == _("The CA refused it.") else text + " "


def _problem(error: messages.Error) -> str:
    parts = [error.detail or error.description or error.typ]
    if error.code:
        parts.append(f"[{error.code}]")
    text = " ".join(p for p in parts if p)
    for sub in error.subproblems or ():
        ident = f"{sub.identifier.value}: " if sub.identifier else ""
        text += f"; {ident}{sub.detail or sub.typ}"
    return text
