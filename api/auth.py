"""API keys: ``Authorization: Bearer <key>``, checked against SHA-256 hashes in constant time.

Only hashes are held after start. A caller's identity ("owner") is a prefix of its key's hash, so job records
never contain a key. With no keys configured the service is open: every caller is the owner ``public``.
"""

from __future__ import annotations

import hmac
import logging

from api.problems import ProblemError
from service.settings import hash_api_key

log = logging.getLogger(__name__)

OPEN_OWNER = "public"


class ApiKeyAuth:
    def __init__(self, key_hashes: list[str]) -> None:
        self._hashes = list(key_hashes)
        if not self._hashes:
            log.warning("GLD8TR_API_KEYS is empty: the service is OPEN, anyone can submit and read jobs")

    @property
    def open(self) -> bool:
        return not self._hashes

    def owner_for(self, authorization: str | None) -> str:
        """The caller's owner id, or ProblemError(401)."""
        if self.open:
            return OPEN_OWNER
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ProblemError(
                401, "Unauthorized", "send 'Authorization: Bearer <API key>'", slug="unauthorized",
                headers={"WWW-Authenticate": "Bearer"},
            )
        digest = hash_api_key(key.strip())
        match = False
        for h in self._hashes:  # no early exit: the time taken does not depend on which key matched
            match |= hmac.compare_digest(digest, h)
        if not match:
            raise ProblemError(
                401, "Unauthorized", "unknown API key", slug="unauthorized", headers={"WWW-Authenticate": "Bearer"}
            )
        return digest[:24]
