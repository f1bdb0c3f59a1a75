"""SSH keys for the tests, made with `cryptography` (paramiko cannot generate Ed25519 keys)."""

from __future__ import annotations

import base64
import io
import os
import struct

import paramiko
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def _openssh(public_key) -> str:
    return public_key.public_bytes(s.Encoding.OpenSSH, s.PublicFormat.OpenSSH).decode()


def ed25519_pair(comment: str = "laptop@home") -> tuple[paramiko.PKey, str]:
    """A private key paramiko can log in with, and its public line for the panel."""
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(s.Encoding.PEM, s.PrivateFormat.OpenSSH, s.NoEncryption())
    pkey = paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))
    line = _openssh(private.public_key())
    return pkey, f"{line} {comment}" if comment else line


def ecdsa_line(curve) -> str:
    return _openssh(ec.generate_private_key(curve).public_key())


def rsa_line(bits: int) -> str:
    return _openssh(rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key())


def huge_rsa_line(bits: int) -> str:
    """An RSA public key of `bits` bits without generating one (that would take minutes)."""
    n = int.from_bytes(os.urandom(bits // 8), "big") | (1 << (bits - 1)) | 1
    return _openssh(rsa.RSAPublicNumbers(65537, n).public_key())


def dsa_line() -> str:
    """An ssh-dss line (refused by its type before its numbers are looked at)."""
    blob = _string(b"ssh-dss") + b"".join(_string(os.urandom(n)) for n in (128, 20, 128, 128))
    return "ssh-dss " + base64.b64encode(blob).decode()


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def sk_ed25519_line() -> str:
    blob = _string(b"sk-ssh-ed25519@openssh.com") + _string(os.urandom(32)) + _string(b"ssh:")
    return "sk-ssh-ed25519@openssh.com " + base64.b64encode(blob).decode()
