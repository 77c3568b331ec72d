"""Object storage for job inputs and outputs: S3-compatible via boto3, or a directory on local disk.

Both the API and the worker import this module; it needs neither FastAPI nor torch. Keys look like
``{prefix}/{job_id}/inputs/image.png`` and ``{prefix}/{job_id}/outputs/scene.ply``: everything a job owns
sits under one prefix, so deleting a job is one prefix delete, and a redelivered job overwrites its own files.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Protocol

from service.settings import Settings

log = logging.getLogger(__name__)


PROBE_PREFIX = ".readyz/"
"""Readiness probes write and delete one empty object under this key prefix (outside every job's prefix)."""


def _probe_key(prefix: str = "") -> str:
    return f"{prefix.strip('/') + '/' if prefix.strip('/') else ''}{PROBE_PREFIX}{uuid.uuid4().hex}"


class Storage(Protocol):
    def ping(self) -> None:
        """Raise unless a write works: put, then delete, one probe object (a HEAD proves only reads)."""
    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...
    def put_file(self, key: str, path: Path, content_type: str) -> None: ...
    def download(self, key: str, path: Path) -> None: ...
    def size(self, key: str) -> int | None: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def presigned_url(self, key: str, filename: str, content_type: str) -> str | None: ...
    def local_path(self, key: str) -> Path | None: ...


def job_prefix(settings: Settings, job_id: str) -> str:
    return f"{settings.s3_prefix.strip('/')}/{job_id}/"


def input_key(settings: Settings, job_id: str, name: str) -> str:
    return f"{job_prefix(settings, job_id)}inputs/{name}"


def output_key(settings: Settings, job_id: str, name: str) -> str:
    return f"{job_prefix(settings, job_id)}outputs/{name}"


class LocalStorage:
    """Files under ``root``; writes go to a temporary file then ``os.replace`` so readers never see half a file."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"storage key escapes the data directory: {key!r}")
        return path

    def ping(self) -> None:
        key = _probe_key()
        self.put_bytes(key, b"", "application/octet-stream")
        self._path(key).unlink()

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
        os.close(fd)
        shutil.copyfile(path, tmp)
        os.replace(tmp, dest)

    def download(self, key: str, path: Path) -> None:
        shutil.copyfile(self._path(key), path)

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        base = self._path(prefix.rstrip("/"))
        if base.is_dir():
            shutil.rmtree(base, ignore_errors=True)
        return len(keys)

    def presigned_url(self, key: str, filename: str, content_type: str) -> str | None:
        return None

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None


class S3Storage:
    """An S3 bucket (AWS, SeaweedFS, MinIO, ...) through boto3."""

    def __init__(self, settings: Settings) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        # boto3 >= 1.36 adds CRC checksums to every request by default; several S3-compatible stores reject them.
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=5,
            read_timeout=60,
        )
        creds = {}
        if settings.s3_access_key and settings.s3_secret_key:
            creds = {
                "aws_access_key_id": settings.s3_access_key.get_secret_value(),
                "aws_secret_access_key": settings.s3_secret_key.get_secret_value(),
            }
        session = boto3.session.Session()
        common = {"region_name": settings.s3_region, "config": config, **creds}
        self.client = session.client("s3", endpoint_url=settings.s3_endpoint_url, **common)
        # Presigned URLs carry the host in their signature: sign them for the endpoint the caller will use.
        public = settings.s3_public_url or settings.s3_endpoint_url
        self.presign_client = session.client("s3", endpoint_url=public, **common)
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.expiry_s = settings.presign_expiry_s
        mb = 1024 * 1024
        self.transfer = TransferConfig(
            multipart_threshold=settings.s3_multipart_threshold_mb * mb, multipart_chunksize=8 * mb
        )
        if settings.s3_create_bucket:
            self.ensure_bucket()

    def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
            log.info("creating bucket %s", self.bucket)
            try:
                self.client.create_bucket(Bucket=self.bucket)
            except ClientError as exc2:  # a concurrent process created it first
                if exc2.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def ping(self) -> None:
        key = _probe_key(self.prefix)
        self.client.put_object(Bucket=self.bucket, Key=key, Body=b"")
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        # upload_file switches to a multipart upload above the threshold and aborts it on failure.
        self.client.upload_file(
            str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=self.transfer
        )

    def download(self, key: str, path: Path) -> None:
        self.client.download_file(self.bucket, key, str(path), Config=self.transfer)

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i : i + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)

    def presigned_url(self, key: str, filename: str, content_type: str) -> str | None:
        return self.presign_client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
                "ResponseContentType": content_type,
            },
            ExpiresIn=self.expiry_s,
        )

    def local_path(self, key: str) -> Path | None:
        return None


def build_storage(settings: Settings) -> Storage:
    if settings.storage == "local":
        return LocalStorage(settings.data_dir / "objects")
    return S3Storage(settings)
