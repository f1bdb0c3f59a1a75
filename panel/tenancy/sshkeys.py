"""SSH public keys for SFTP: the one parser that decides what may reach an authorized_keys file.

Used twice: by the panel when a customer adds a key (panel.tenancy.sftp turns a refusal into a
translated message) and again by the root helper (panel.tenancy.helper, `keys-write`) before it
writes the file, so a row that did not come through the panel is refused too. No Django here:
the helper runs without it.

Accepted: exactly one line `<type> <base64> [comment]`, no options before the type (no
`command="..."`, `from=...`), types ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of 2048 to
16384 bits and sk-ssh-ed25519@openssh.com (a FIDO security key); a comment of at most 100
characters from a small safe set. The stored line is rebuilt from the parsed parts, never copied.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

MAX_INPUT_BYTES = 16 * 1024
MAX_COMMENT = 100
RSA_MIN_BITS, RSA_MAX_BITS = 2048, 16384

SK_ED25519 = "sk-ssh-ed25519@openssh.com"
KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    SK_ED25519,
)
# Known to OpenSSH but refused here, each with its own reason (see refusal codes below).
WEAK_TYPES = ("ssh-dss",)
OTHER_KNOWN_TYPES = (
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-ed448",
    "ssh-rsa-cert-v01@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
)
_COMMENT_RE = re.compile(r"^[A-Za-z0-9 ._@+=:,/()-]*$")
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
# Anything that is not printable ASCII or a space: newline, carriage return, NUL, tab, DEL,
# and every non-ASCII character (a key line is ASCII).
_UNSAFE_RE = re.compile(r"[^\x20-\x7e]")


class KeyRefused(ValueError):
    """The key is not accepted. `code` names the reason (the panel translates it), `params`
    fills the message; str() is a plain English message for the helper's output."""

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class PublicKey:
    type: str
    blob_b64: str
    comment: str
    fingerprint: str  # "SHA256:..." as `ssh-keygen -l` prints it
    bits: int

    @property
    def line(self) -> str:
        """The authorized_keys line, rebuilt from the parsed parts."""
        return f"{self.type} {self.blob_b64}" + (f" {self.comment}" if self.comment else "")


def fingerprint(blob: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _read_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(blob):
        raise KeyRefused("malformed", "The key data is damaged (truncated).")
    (length,) = struct.unpack(">I", blob[offset : offset + 4])
    end = offset + 4 + length
    if end > len(blob):
        raise KeyRefused("malformed", "The key data is damaged (truncated).")
    return blob[offset + 4 : end], end


def _check_sk_ed25519(blob: bytes) -> None:
    """string type, string 32-byte key, string application ("ssh:..."), nothing more."""
    name, pos = _read_string(blob, 0)
    key, pos = _read_string(blob, pos)
    application, pos = _read_string(blob, pos)
    if name != SK_ED25519.encode() or len(key) != 32 or pos != len(blob):
        raise KeyRefused("malformed", "The key data is damaged.")
    if not application.startswith(b"ssh:") or _UNSAFE_RE.search(application.decode("latin-1")):
        raise KeyRefused("malformed", "The security key's application is not an ssh: one.")


def parse(text: str) -> PublicKey:
    """Parse one pasted public key or raise KeyRefused. Leading and trailing white space (the
    newline a .pub file ends with) is ignored; anything else out of place is refused."""
    if not isinstance(text, str):
        raise KeyRefused("empty", "Paste a public key.")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_INPUT_BYTES:
        raise KeyRefused(
            "too_long", "The key is longer than %(limit)d bytes.", limit=MAX_INPUT_BYTES
        )
    line = text.strip(" \t\r\n")
    if not line:
        raise KeyRefused("empty", "Paste a public key.")
    if "\n" in line or "\r" in line:
        raise KeyRefused("multiple_lines", "Paste exactly one key, on one line.")
    if _UNSAFE_RE.search(line):
        raise KeyRefused(
            "bad_characters",
            "The key contains a control or non-ASCII character; paste it exactly as in your "
            ".pub file.",
        )
    fields = line.split(" ")
    key_type = fields[0]
    if key_type not in KEY_TYPES:
        known = (*KEY_TYPES, *WEAK_TYPES, *OTHER_KNOWN_TYPES)
        if any(field in known for field in fields[1:]) or "=" in key_type or '"' in key_type:
            raise KeyRefused(
                "options",
                "Options before the key type (such as command=, from= or restrict) are not "
                "allowed: paste the key alone, starting with its type.",
            )
        if key_type in WEAK_TYPES:
            raise KeyRefused(
                "weak_type", "DSA keys (ssh-dss) are too weak: use an Ed25519 or RSA key."
            )
        if key_type.endswith("-cert-v01@openssh.com"):
            raise KeyRefused("certificate", "SSH certificates are not accepted: paste a key.")
        raise KeyRefused(
            "unsupported_type",
            "Unsupported key type %(type)s: use ssh-ed25519, ecdsa-sha2-nistp256/384/521, "
            "ssh-rsa (2048 bits or more) or sk-ssh-ed25519@openssh.com.",
            type=key_type[:40],
        )
    if len(fields) < 2 or not fields[1]:
        raise KeyRefused("malformed", "The key data is missing after its type.")
    blob_b64 = fields[1]
    comment = " ".join(f for f in fields[2:] if f)
    if not _BASE64_RE.fullmatch(blob_b64):
        raise KeyRefused("malformed", "The key data is not valid base64.")
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except (binascii.Error, ValueError):
        raise KeyRefused("malformed", "The key data is not valid base64.")
    inner_type, _ = _read_string(blob, 0)
    if inner_type != key_type.encode():
        raise KeyRefused(
            "type_mismatch", "The key data does not match its type %(type)s.", type=key_type
        )
    bits = _load(key_type, blob)
    if len(comment) > MAX_COMMENT:
        raise KeyRefused(
            "comment", "The key's comment is longer than %(limit)d characters.", limit=MAX_COMMENT
        )
    if not _COMMENT_RE.fullmatch(comment):
        raise KeyRefused(
            "comment",
            "The key's comment may contain only letters, digits, spaces and . _ @ + = : , / ( ) -",
        )
    canonical = base64.b64encode(blob).decode()
    return PublicKey(key_type, canonical, comment, fingerprint(blob), bits)


def _load(key_type: str, blob: bytes) -> int:
    """Load the key with `cryptography` (the math must hold: a point on the curve, a real RSA
    modulus) and check it encodes back to the same bytes. Returns its size in bits."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if key_type == SK_ED25519:
        _check_sk_ed25519(blob)
    line = key_type.encode() + b" " + base64.b64encode(blob)
    try:
        key = serialization.load_ssh_public_key(line)
    except (ValueError, UnsupportedAlgorithm, struct.error):
        raise KeyRefused(
            "malformed", "The key data is damaged or not a valid %(type)s key.", type=key_type
        )
    if key_type != SK_ED25519:
        again = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        if again.split(b" ")[1] != base64.b64encode(blob):
            raise KeyRefused("malformed", "The key data is damaged (extra bytes).")
    if isinstance(key, rsa.RSAPublicKey):
        if not RSA_MIN_BITS <= key.key_size <= RSA_MAX_BITS:
            raise KeyRefused(
                "rsa_size",
                "This RSA key has %(bits)d bits: RSA keys must have 2048 to 16384 bits.",
                bits=key.key_size,
            )
        return key.key_size
    return {"ecdsa-sha2-nistp384": 384, "ecdsa-sha2-nistp521": 521}.get(key_type, 256)


def authorized_keys(lines: str) -> list[PublicKey]:
    """Parse the helper's input: one key per line (empty = no key). Every line is parsed
    again; any refusal refuses the whole file, and duplicates are dropped."""
    keys: list[PublicKey] = []
    seen: set[str] = set()
    for raw in lines.split("\n"):
        if not raw.strip():
            continue
        key = parse(raw)
        if key.fingerprint not in seen:
            seen.add(key.fingerprint)
            keys.append(key)
    return keys
