"""Secrets that travel to the worker inside a job's payload (an SFTP password, a database
password) without ever resting in clear text in the jobs table or its log.

The payload holds the secret encrypted with a key derived from SECRET_KEY for one purpose (Fernet:
AES-128-CBC + HMAC-SHA256, with a timestamp, so a token older than TOKEN_TTL is refused); the
handler wipes it from the payload as soon as the job ends, success or failure (register the
handler with `on_failure=wipe_secret` too: the reaper fails a job whose worker died without
running the handler). Neither the audit entry nor the job's log ever contains it.
"""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings

from .models import Job

# A token older than this is refused by the worker (a job stuck in the queue, a copy of a
# payload): the customer sets the password again.
TOKEN_TTL = 3600
# The payload key that holds the token.
FIELD = "secret"


def _fernet(purpose: str) -> Any:
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"nusantara-panel",
        # One key per purpose: a token made for one kind of job is useless to another.
        info=f"{purpose} in a job payload v1".encode(),
    ).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str, *, purpose: str) -> str:
    return _fernet(purpose).encrypt(secret.encode()).decode()


def decrypt(token: str, *, purpose: str) -> str:
    """The secret, or ValueError when the token is damaged, made with another SECRET_KEY or for
    another purpose, or older than TOKEN_TTL."""
    from cryptography.fernet import InvalidToken

    try:
        return _fernet(purpose).decrypt(token.encode(), ttl=TOKEN_TTL).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise ValueError("the secret token cannot be read") from exc


def wipe_secret(job: Job, *_args: object) -> None:
    """Remove the encrypted secret from the job's row (and from this copy of it)."""
    if FIELD in job.payload:
        job.payload = {k: v for k, v in job.payload.items() if k != FIELD}
        Job.objects.filter(pk=job.pk).update(payload=job.payload)
