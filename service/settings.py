"""Service settings: one ``BaseSettings`` class read from ``GLD8TR_*`` environment variables.

The API process and the GPU worker read the same class so that they agree on the Redis key prefix, the bucket
and the limits. This module imports neither FastAPI nor torch: the worker imports it too.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def hash_api_key(key: str) -> str:
    """SHA-256 hex of an API key: keys are kept only hashed, and the hash (shortened) names the job owner."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of the service; see docs/SERVICE.md for the operator's view of each one."""

    model_config = SettingsConfigDict(env_prefix="GLD8TR_", env_file=None, extra="ignore")

    # --- auth and limits -------------------------------------------------------------------------------------
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="accepted API keys, comma-separated; empty = open service (warned)"
    )
    max_upload_mb: float = Field(20.0, gt=0, description="largest accepted request body (image + depth), MB")
    max_pixels: int = Field(16_777_216, gt=0, description="largest accepted image, in pixels (4096 x 4096)")
    max_prompt_chars: int = Field(1000, ge=0)
    rate_limit_per_minute: int = Field(30, ge=0, description="submissions per key per minute; 0 = unlimited")
    max_active_jobs_per_key: int = Field(8, ge=0, description="queued + running jobs per key; 0 = unlimited")
    page_size_max: int = Field(100, gt=0)

    # --- state, broker, storage ------------------------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str | None = Field(None, description="Celery broker; defaults to redis_url")
    key_prefix: str = Field("gld8tr", description="prefix of every Redis key the service writes")
    queue: str = Field("gpu", description="Celery queue the GPU workers consume")
    storage: Literal["s3", "local"] = "s3"
    data_dir: Path = Field(Path("gld8tr-data"), description="root of the local-disk storage backend")
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint the service uses (None = AWS)")
    s3_public_url: str | None = Field(None, description="endpoint clients use; presigned URLs are signed for it")
    s3_bucket: str = "gld8tr"
    s3_prefix: str = "scenes"
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_create_bucket: bool = Field(True, description="create the bucket at start if it is missing")
    s3_multipart_threshold_mb: int = Field(16, gt=0)
    presign_expiry_s: int = Field(3600, gt=0)
    file_url_secret: SecretStr = Field(
        SecretStr(""),
        description="HMAC key of the signed file URLs the viewer page embeds (local storage); empty = random per "
        "process (fine for one API process; set it when several serve the same data directory)",
    )
    retention_hours: float = Field(24.0, gt=0, description="finished jobs and their files are purged after this")
    purge_interval_s: float = Field(60.0, gt=0)

    # --- webhooks ----------------------------------------------------------------------------------------------
    webhook_secret: SecretStr = Field(SecretStr(""), description="HMAC-SHA256 key for webhook signatures")
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="host names webhooks may call (exact or '.suffix'); empty = none"
    )
    webhook_max_attempts: int = Field(5, ge=1)
    webhook_backoff_s: float = Field(1.0, gt=0)

    # --- worker ------------------------------------------------------------------------------------------------
    inpainter: str = "patchmatch"
    depth_model: str = "gld8tr"
    device: str = "auto"
    threads: int = Field(0, ge=0, description="torch CPU threads per job; 0 = the idle cores by the load average "
                         "(core.threads, docs/SPEED.md)")
    low_vram: bool = Field(
        False, description="Hugging Face backends keep idle models on the CPU and move each to the GPU only for its "
        "call (slower; for GPUs that cannot hold the inpainter and the depth model at once)")
    soft_time_limit_s: float = Field(600.0, gt=0, description="a job past this fails with 'time limit exceeded'")
    hard_time_limit_s: float = Field(900.0, gt=0, description="the worker process exits if a job runs past this")
    visibility_timeout_s: float = Field(3900.0, gt=0, description="Redis redelivers unacked tasks after this")
    restore_interval_s: float = Field(10.0, gt=0, description="how often workers look for unacked tasks to redo")
    max_deliveries: int = Field(3, ge=1, description="a job delivered more often than this (worker crashes) fails")
    retry_budget_s: float = Field(
        120.0, ge=0, description="a job hit by a transient error (storage or broker unreachable, S3 5xx) is retried "
        "with backoff 2, 4, 8, 16, 30, 30 ... s while the backoff adds up to at most this; then it fails")
    lease_s: float = Field(
        30.0, gt=0, description="a running job's worker renews its lease every lease_s / 3; a job whose lease has "
        "run out (its worker died) is queued again")
    lease_check_interval_s: float = Field(10.0, gt=0, description="how often the API looks for expired leases")
    worker_heartbeat_s: float = Field(5.0, gt=0)
    gs_iters: int | None = Field(
        None, ge=1, description="Gaussian fit iterations (gaussians.ply); None = 1000 on CUDA, 300 on CPU"
    )
    gs_max_side: int | None = Field(
        -1, description="Gaussian working resolution (long side); -1 = full on CUDA, on CPU 160 px (fit) or "
        "512 px (feedforward)"
    )
    gs_method: Literal["auto", "feedforward", "fit"] = Field(
        "auto", description="gaussians.ply: one splatter-network pass per view (feedforward), an optimisation "
        "(fit), or auto (feedforward on CPU workers, fit on CUDA workers)"
    )
    gs_color_solve: int | None = Field(
        None, ge=0, le=100, description="feed-forward Gaussians: conjugate-gradient steps of the closed-form colour "
        "solve against the views; None = the default (4), 0 = the network's colours"
    )
    video_frames: int = Field(
        72, ge=1, le=600, description="frames of the video.mp4 orbit (24 fps); each frame of Gaussians costs about "
        "a CPU-second at 512 px on a CPU worker, milliseconds with gsplat on CUDA"
    )

    @field_validator("api_keys", "webhook_allowed_hosts", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @model_validator(mode="after")
    def _check_limits(self) -> Settings:
        if self.soft_time_limit_s > self.hard_time_limit_s:
            raise ValueError("soft_time_limit_s must not exceed hard_time_limit_s")
        # A late-acked task still running when the visibility timeout expires is delivered a second time.
        if self.visibility_timeout_s <= self.hard_time_limit_s:
            raise ValueError("visibility_timeout_s must exceed hard_time_limit_s, or long jobs run twice")
        return self

    def api_key_hashes(self) -> list[str]:
        """Hashes of the configured keys; the auth layer keeps only these (see api/auth.py)."""
        return [hash_api_key(k.get_secret_value()) for k in self.api_keys]

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def retention_s(self) -> float:
        return self.retention_hours * 3600.0

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or self.redis_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
