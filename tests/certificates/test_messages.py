"""What a customer reads when the CA refuses: each ACME problem type in plain words, with the
CA's own text kept beside it; and which CA the panel talks to, by name.

The texts below are Let's Encrypt's (boulder) own details for each problem: Pebble cannot be
made to answer a rate limit, a CAA refusal or an NXDOMAIN, so these faults are injected as the
CA's problem documents. The real Pebble cases are in test_acme.py and test_issuance.py."""

from __future__ import annotations

import pytest
from acme import errors, messages

from panel.certificates import acme

DOMAIN = "shop.example.id"


def _problem(code: str, detail: str) -> messages.Error:
    return messages.Error(typ=f"urn:ietf:params:acme:error:{code}", detail=detail)


def _validation_failure(error: messages.Error) -> errors.ValidationError:
    challb = messages.ChallengeBody(
        chall=acme.challenges.HTTP01(token=b"x" * 32),
        status=messages.STATUS_INVALID,
        error=error,
    )
    authz = messages.Authorization(
        identifier=messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=DOMAIN),
        challenges=[challb],
        status=messages.STATUS_INVALID,
    )
    return errors.ValidationError([messages.AuthorizationResource(body=authz, uri="u")])


@pytest.mark.parametrize(
    ("code", "detail", "says"),
    [
        (
            "dns",
            f"DNS problem: NXDOMAIN looking up A for {DOMAIN} - check that a DNS record exists",
            f"{DOMAIN} does not exist in DNS (NXDOMAIN)",
        ),
        (
            "dns",
            f"DNS problem: SERVFAIL looking up A for {DOMAIN}",
            f"The CA could not look up {DOMAIN} in DNS",
        ),
        (
            "connection",
            f"{DOMAIN}: Fetching http://{DOMAIN}/.well-known/acme-challenge/x: Timeout during "
            "connect (likely firewall problem)",
            f"The CA could not reach {DOMAIN}: the connection timed out. It does not point to "
            "this server, or a firewall blocks port 80.",
        ),
        (
            "connection",
            f"{DOMAIN}: Fetching http://{DOMAIN}/.well-known/acme-challenge/x: Connection refused",
            f"The CA could not reach {DOMAIN}: the connection was refused. It does not point to "
            "this server",
        ),
        (
            "unauthorized",
            f"{DOMAIN}: Invalid response from http://{DOMAIN}/.well-known/acme-challenge/x: 404",
            f"The CA could not find the challenge file at http://{DOMAIN}/.well-known/"
            "acme-challenge/: the domain points to another server",
        ),
        (
            "caa",
            f"CAA record for {DOMAIN} prevents issuance",
            f"The CAA records in the DNS of {DOMAIN} do not allow this CA",
        ),
    ],
)
def test_a_failed_check_is_explained_then_the_cas_words_follow(code, detail, says):
    message = acme.describe_error(_validation_failure(_problem(code, detail)))
    explanation, _sep, cas_words = message.partition(" The CA's http-01 check said: ")
    assert explanation.startswith(f"{DOMAIN}: ") and says in explanation, message
    assert cas_words.startswith(detail) and f"[{code}]" in cas_words


def test_rate_limit_says_when_to_try_again():
    detail = (
        "too many certificates (5) already issued for this exact set of identifiers in the last "
        "168h0m0s, retry after 2026-12-09 07:13:55 UTC: see "
        "https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-hostnames"
    )
    message = acme.describe_error(_problem("rateLimited", detail))
    assert message.startswith(
        "The CA refused the request. Too many certificates for this domain at the CA (rate "
        "limit); try again after 2026-12-09 07:13:55 UTC. The CA said: too many certificates"
    ), message
    assert "[rateLimited]" in message


def test_rate_limit_without_a_time_says_later():
    message = acme.describe_error(_problem("rateLimited", "Your account is over its limit"))
    assert "(rate limit); try again later. The CA said: Your account is over its limit" in message


def test_an_unknown_problem_keeps_only_the_cas_words():
    message = acme.describe_error(_problem("badCSR", "CSR has a bad key"))
    assert message == "The CA refused the request. The CA said: CSR has a bad key [badCSR]"


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("https://acme-v02.api.letsencrypt.org/directory", "Let's Encrypt"),
        ("https://acme-staging-v02.api.letsencrypt.org/directory", "Let's Encrypt (staging)"),
        ("https://127.0.0.1:14000/dir", "Pebble (127.0.0.1:14000)"),
        ("https://acme.example.net/directory", "acme.example.net"),
        ("https://ca.internal:9443/acme/acme/directory", "ca.internal:9443"),
    ],
)
def test_ca_label_names_the_ca(url, label):
    assert acme.ca_label(url) == label
