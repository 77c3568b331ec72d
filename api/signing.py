"""Signed, expiring file URLs for local storage: the stand-in for S3 presigned URLs.

The viewer page fetches its PLY with a plain ``fetch()``, which carries no ``Authorization`` header. In S3 mode
the page embeds a presigned URL; in local mode it embeds ``/scenes/{id}/files/{name}?expires=T&token=HMAC``,
and the files route accepts such a request without a key. The token binds the job, the file name and the expiry
time (HMAC-SHA256 under ``GLD8TR_FILE_URL_SECRET``), so it opens exactly one file until ``T`` and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from urllib.parse import urlencode

log = logging.getLogger(__name__)


class FileUrlSigner:
    """Mint and check ``expires`` / ``token`` query parameters for one job's file."""

    def __init__(self, secret: bytes | str = b"", expiry_s: int = 3600) -> None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if not secret:
            # Tokens then die with the process: harmless (the page is re-fetched with the API key).
            secret = secrets.token_bytes(32)
            log.info("GLD8TR_FILE_URL_SECRET is empty: signed file URLs use a random per-process key")
        self._secret = secret
        self.expiry_s = expiry_s

    def _token(self, job_id: str, name: str, expires: int) -> str:
        message = f"{job_id}\n{name}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def query(self, job_id: str, name: str, now: float | None = None) -> str:
        """``expires=...&token=...`` valid for ``expiry_s`` seconds from ``now``."""
        expires = int((time.time() if now is None else now) + self.expiry_s)
        return urlencode({"expires": expires, "token": self._token(job_id, name, expires)})

    def verify(self, job_id: str, name: str, expires: int, token: str, now: float | None = None) -> bool:
        """True if ``token`` was minted here for this job and file and ``expires`` has not passed."""
        if expires < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(self._token(job_id, name, expires), token)
