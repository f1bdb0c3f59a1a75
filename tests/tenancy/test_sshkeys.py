"""The SSH public key parser (panel.tenancy.sshkeys): what may reach an authorized_keys file."""

from __future__ import annotations

import base64
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from panel.tenancy import sshkeys
from panel.tenancy.sshkeys import KeyRefused, parse

from .keygen import dsa_line, ecdsa_line, ed25519_pair, huge_rsa_line, rsa_line, sk_ed25519_line


@pytest.fixture(scope="module")
def ed_line() -> str:
    return ed25519_pair("me@laptop")[1]


def _refused(text: str) -> str:
    with pytest.raises(KeyRefused) as info:
        parse(text)
    return info.value.code


def test_it_accepts_each_supported_type_and_rebuilds_the_line(ed_line):
    for line, bits in (
        (ed_line, 256),
        (ecdsa_line(ec.SECP256R1()), 256),
        (ecdsa_line(ec.SECP384R1()), 384),
        (ecdsa_line(ec.SECP521R1()), 521),
        (rsa_line(2048), 2048),
        (sk_ed25519_line(), 256),
    ):
        key = parse(f"  {line}\r\n")  # a pasted .pub file: surrounding white space is fine
        assert key.line == line and key.bits == bits
        assert key.type == line.split()[0]


def test_fingerprint_is_what_ssh_keygen_prints(ed_line, tmp_path):
    path = tmp_path / "k.pub"
    path.write_text(ed_line + "\n")
    printed = subprocess.run(["ssh-keygen", "-lf", str(path)], capture_output=True, text=True)
    if printed.returncode != 0:
        pytest.skip("ssh-keygen is not installed")
    assert parse(ed_line).fingerprint == printed.stdout.split()[1]
    assert parse(ed_line).comment == "me@laptop"


def test_a_second_key_smuggled_on_another_line_is_refused(ed_line):
    other = ed25519_pair("")[1]
    assert _refused(f"{ed_line}\n{other}") == "multiple_lines"
    assert _refused(f"{ed_line}\r{other}") == "multiple_lines"
    assert _refused(f"{ed_line} comment\nssh-ed25519 AAAA") == "multiple_lines"


def test_options_before_the_type_are_refused(ed_line):
    for prefix in ('command="/bin/sh" ', "restrict ", 'from="*" ', 'no-pty,permitopen="*:*" '):
        assert _refused(prefix + ed_line) == "options", prefix


def test_control_and_non_ascii_characters_are_refused(ed_line):
    kind, data = ed_line.split()[:2]
    assert _refused(f"{kind} {data}\x00") == "bad_characters"
    assert _refused(f"{kind}\t{data}") == "bad_characters"
    assert _refused(f"{kind} {data} caf\u00e9") == "bad_characters"
    assert _refused(f"{kind} {data} a\x7fb") == "bad_characters"


def test_overlong_input_is_refused_before_parsing(ed_line):
    assert _refused(ed_line + " " + "a" * sshkeys.MAX_INPUT_BYTES) == "too_long"


def test_weak_unknown_and_certificate_types_are_refused():
    assert _refused(dsa_line()) == "weak_type"
    assert _refused("ssh-foo AAAAB3NzaC1yc2E=") == "unsupported_type"
    assert _refused("ssh-ed25519-cert-v01@openssh.com AAAA") == "certificate"
    assert _refused("") == "empty" and _refused(" \n ") == "empty"


def test_rsa_must_have_2048_to_16384_bits():
    assert _refused(rsa_line(1024)) == "rsa_size"
    assert _refused(huge_rsa_line(16384 + 1024)) == "rsa_size"
    assert parse(huge_rsa_line(4096)).bits == 4096


def test_damaged_or_mismatched_key_data_is_refused(ed_line):
    kind, data = ed_line.split()[:2]
    assert _refused(kind) == "malformed"
    assert _refused(f"{kind} not*base64") == "malformed"
    assert _refused(f"{kind} {data[:-8]}") == "malformed"  # truncated
    extra = base64.b64encode(base64.b64decode(data) + b"\0\0\0\0").decode()
    assert _refused(f"{kind} {extra}") == "malformed"  # trailing bytes
    rsa_data = rsa_line(2048).split()[1]
    assert _refused(f"ssh-ed25519 {rsa_data}") == "type_mismatch"


def test_comment_is_limited_to_a_safe_set(ed_line):
    kind, data = ed_line.split()[:2]
    assert parse(f"{kind} {data} Budi Laptop (2025) budi@host.id").comment == (
        "Budi Laptop (2025) budi@host.id"
    )
    assert _refused(f'{kind} {data} x";rm') == "comment"
    assert _refused(f"{kind} {data} " + "a" * 101) == "comment"


def test_the_helpers_file_parser_rejects_any_bad_line_and_drops_duplicates(ed_line):
    other = ed25519_pair("")[1]
    keys = sshkeys.authorized_keys(f"{ed_line}\n{other}\n{ed_line}\n\n")
    assert [k.line for k in keys] == [ed_line, other]
    assert sshkeys.authorized_keys("") == []
    with pytest.raises(KeyRefused):
        sshkeys.authorized_keys(f'{ed_line}\ncommand="sh" {other}')
