"""Check V0's plain bcrypt hashes ($2b$...) so imported users keep their passwords.

Imported hashes are stored as `bcrypt_v0$<original>`; Django re-hashes with the preferred hasher on
the first successful login (must_update is always True).
"""

from __future__ import annotations

from typing import Any

import bcrypt
from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.crypto import constant_time_compare


class V0BcryptPasswordHasher(BasePasswordHasher):
    algorithm = "bcrypt_v0"

    def salt(self) -> str:  # pragma: no cover - never used to create new hashes
        return ""

    def encode(self, password: str, salt: str) -> str:
        raise NotImplementedError("V0 hashes are only verified, never created.")

    def verify(self, password: str, encoded: str) -> bool:
        algorithm, _, original = encoded.partition("$")
        if algorithm != self.algorithm or not original.startswith("$2"):
            return False
        try:
            result = bcrypt.hashpw(password.encode(), original.encode())
        except ValueError:
            return False
        return constant_time_compare(result, original.encode())

    def safe_summary(self, encoded: str) -> dict[Any, Any]:
        return {"algorithm": self.algorithm, "hash": mask_hash(encoded.partition("$")[2])}

    def must_update(self, encoded: str) -> bool:
        return True

    def harden_runtime(self, password: str, encoded: str) -> None:
        return None
