"""The node name becomes a queue name (a Redis key); the address is shown and used to reach the
node. Both refuse anything outside their grammar, with a message that says what is allowed."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from panel.nodes.names import normalize_address, normalize_name


@pytest.mark.parametrize("name", ["local", "node-b", "web2", "a", "a" * 63, "0", "eu-west-1"])
def test_names_in_the_grammar_are_kept(name):
    assert normalize_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-node",
        "node-",
        "Node",
        "node_b",
        "node.b",
        "a" * 64,
        "node b",
        "node\nb",
        "node:b",
        "node*",
        "dj{ango}",
        "nöde",
        "../etc",
        "node;rm -rf /",
    ],
)
def test_hostile_names_are_refused(name):
    with pytest.raises(ValidationError):
        normalize_name(name)


@pytest.mark.parametrize(
    ("address", "stored"),
    [
        ("10.0.0.2", "10.0.0.2"),
        ("Web-2.Example.NET.", "web-2.example.net"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("localhost", "localhost"),
    ],
)
def test_addresses_are_normalised(address, stored):
    assert normalize_address(address) == stored


@pytest.mark.parametrize(
    "address",
    [
        "",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "10.0.1",
        "2130706433",
        "host:22",
        "http://host",
        "host/path",
        "fe80::1%eth0",
        "bad_name.example",
        "a..b",
        "-a.example",
        "x" * 254,
        "host name",
        "host\nname",
        "10.0.0.2%eth0",
        # Hex/octal shorthand that inet_aton (and so most resolvers) reads as an IPv4 address:
        # 0x7f000001 and 1.0x7f are 127.0.0.1 and 1.0.0.127, not host names.
        "0x7f000001",
        "0X7F000001",
        "1.0x7f",
        "10.0.0.0x2",
    ],
)
def test_hostile_addresses_are_refused(address):
    with pytest.raises(ValidationError):
        normalize_address(address)


def test_a_node_cannot_be_named_like_the_queue_prefix():
    """Attack: a node registered as `nusantara` (django-q2's prefix, Q_CLUSTER["name"]): its
    worker would be the default cluster, running schedules meant for no node in particular."""
    with pytest.raises(ValidationError, match="reserved"):
        normalize_name("nusantara")
