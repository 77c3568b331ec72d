"""docker-compose.yml: every image pinned, and the S3 server it ships refuses anonymous callers.

The SeaweedFS of these tests (conftest ``s3_server``) runs with the S3 identities read from docker-compose.yml
itself, so this checks the shipped configuration, not a copy of it.
"""

from __future__ import annotations

import re

import boto3
import httpx
import pytest
import yaml
from botocore.config import Config
from conftest import REPO, S3_CREDENTIALS, SeaweedS3

pytestmark = pytest.mark.service


def test_every_image_is_pinned_to_a_version() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    images = {name: svc["image"] for name, svc in compose["services"].items() if "image" in svc}
    assert images, "no images found"
    for name, image in images.items():
        tag = image.rpartition(":")[2] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned to a version"
    for dockerfile in (REPO / "docker/api.Dockerfile", REPO / "docker/benchmark.Dockerfile"):
        for base in re.findall(r"^(?:FROM|ARG BASE=)\s*(\S+)", dockerfile.read_text(), flags=re.M):
            if "$" not in base:
                assert re.search(r":\d+\.\d+\.\d+", base), f"{dockerfile.name}: {base} is not pinned"


def test_s3_server_uses_the_compose_identities() -> None:
    s3 = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["s3"]
    assert any(arg.startswith("-s3.config=") for arg in s3["command"]), s3["command"]
    assert s3["configs"][0]["source"] == "s3-identities"


def test_anonymous_requests_get_403(s3_server: SeaweedS3) -> None:
    signed = boto3.client(
        "s3", endpoint_url=s3_server.url, aws_access_key_id=S3_CREDENTIALS["S3_ACCESS_KEY"],
        aws_secret_access_key=S3_CREDENTIALS["S3_SECRET_KEY"], region_name="us-east-1",
        config=Config(request_checksum_calculation="when_required", response_checksum_validation="when_required",
                      s3={"addressing_style": "path"}),
    )
    bucket = "anon-probe"
    signed.create_bucket(Bucket=bucket)
    signed.put_object(Bucket=bucket, Key="tenant/a/scene.ply", Body=b"secret scene")
    base = f"{s3_server.url}/{bucket}"
    assert httpx.get(f"{s3_server.url}/").status_code == 403  # list buckets
    assert httpx.get(f"{base}?list-type=2").status_code == 403  # list objects
    assert httpx.get(f"{base}/tenant/a/scene.ply").status_code == 403
    assert httpx.put(f"{base}/tenant/a/scene.ply", content=b"overwritten").status_code == 403
    assert httpx.delete(f"{base}/tenant/a/scene.ply").status_code == 403
    # Nothing changed, and the owner of the credentials still reads and writes.
    assert signed.get_object(Bucket=bucket, Key="tenant/a/scene.ply")["Body"].read() == b"secret scene"
    url = signed.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "tenant/a/scene.ply"},
                                        ExpiresIn=60)
    assert httpx.get(url).content == b"secret scene"  # presigned URLs (downloads, the viewer) still work
