"""Job-completion webhooks: allow-listed targets, HMAC-SHA256 signatures, delivery with retries and backoff.

A receiver verifies ``Gld8tr-Signature: v1=<hex>`` as HMAC-SHA256(secret, f"{id}.{timestamp}.{body}") with the
``Gld8tr-Webhook-Id`` and ``Gld8tr-Timestamp`` headers, and should refuse timestamps older than a few minutes.
Targets must be on ``GLD8TR_WEBHOOK_ALLOWED_HOSTS`` and redirects are never followed, so a job cannot make the
service call arbitrary internal addresses (SSRF). Torch-free: the worker sends, the API only validates.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from service.schemas import JobRecord
    from service.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Gld8tr-Signature"
TIMESTAMP_HEADER = "Gld8tr-Timestamp"
ID_HEADER = "Gld8tr-Webhook-Id"


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Exact host names, or ``.example.com`` entries that match the domain and its subdomains."""
    host = host.lower().rstrip(".")
    for entry in (a.lower().rstrip(".") for a in allowed):
        if entry.startswith(".") and (host == entry[1:] or host.endswith(entry)):
            return True
        if host == entry:
            return True
    return False


def check_webhook_url(url: str, allowed: list[str]) -> str | None:
    """Return why ``url`` may not be used as a webhook, or None if it may."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("https", "http"):
        return "scheme must be https or http"
    if not parts.hostname:
        return "URL has no host"
    if parts.username or parts.password:
        return "credentials in the URL are not allowed"
    if not host_allowed(parts.hostname, allowed):
        return f"host {parts.hostname!r} is not on the webhook allow-list"
    return None


def sign(secret: str, job_id: str, timestamp: int, body: bytes) -> str:
    msg = f"{job_id}.{timestamp}.".encode() + body
    return "v1=" + hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def verify(secret: str, job_id: str, timestamp: int, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, job_id, timestamp, body), signature)


def deliver(url: str, job_id: str, body: bytes, secret: str, *, attempts: int = 5, backoff_s: float = 1.0,
            allowed: list[str]) -> bool:
    """POST ``body`` to ``url``; retry network errors and 5xx/429 with exponential backoff. True on 2xx."""
    import httpx

    reason = check_webhook_url(url, allowed)  # the allow-list may have changed since the job was accepted
    if reason:
        log.warning("webhook for %s not sent: %s", job_id, reason)
        return False
    for attempt in range(1, attempts + 1):
        ts = int(time.time())  # a fresh timestamp (and signature) per attempt
        headers = {
            "Content-Type": "application/json",
            ID_HEADER: job_id,
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: sign(secret, job_id, ts, body),
        }
        try:
            resp = httpx.post(url, content=body, headers=headers, timeout=10.0, follow_redirects=False)
            if 200 <= resp.status_code < 300:
                log.info("webhook for %s delivered (attempt %d)", job_id, attempt)
                return True
            if resp.status_code < 500 and resp.status_code != 429:
                log.warning("webhook for %s refused with %d; not retrying", job_id, resp.status_code)
                return False
            log.warning("webhook for %s got %d (attempt %d/%d)", job_id, resp.status_code, attempt, attempts)
        except httpx.HTTPError as exc:
            log.warning("webhook for %s failed: %s (attempt %d/%d)", job_id, exc, attempt, attempts)
        if attempt < attempts:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    return False


def deliver_in_background(url: str, job_id: str, body: bytes, secret: str, *, attempts: int, backoff_s: float,
                          allowed: list[str]) -> threading.Thread:
    """Send without holding up the GPU: the worker moves on to its next job while this retries."""
    t = threading.Thread(
        target=deliver, args=(url, job_id, body, secret),
        kwargs={"attempts": attempts, "backoff_s": backoff_s, "allowed": allowed},
        name=f"webhook-{job_id}", daemon=True,
    )
    t.start()
    return t


def notify_job(settings: Settings, rec: JobRecord | None) -> threading.Thread | None:
    """Send a finished job's public body to its webhook, if it has one; None when there is nothing to send."""
    from service.schemas import TERMINAL_STATUSES, JobPublic

    if rec is None or not rec.options.webhook or rec.status not in TERMINAL_STATUSES:
        return None
    body = JobPublic.from_record(rec).model_dump_json().encode()
    return deliver_in_background(
        rec.options.webhook, rec.id, body, settings.webhook_secret.get_secret_value(),
        attempts=settings.webhook_max_attempts, backoff_s=settings.webhook_backoff_s,
        allowed=settings.webhook_allowed_hosts,
    )
