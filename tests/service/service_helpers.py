"""Inputs and polling helpers shared by the service tests (kept out of conftest so tests can import them)."""

from __future__ import annotations

import io
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def scene_image(width: int = 96, height: int = 64, seed: int = 0) -> np.ndarray:
    """A small textured RGB image: smooth gradients plus a few blocks, so inpainting has something to copy."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([xx / width * 255, yy / height * 255, np.full_like(xx, 128)], axis=-1)
    for _ in range(6):
        x0, y0 = rng.integers(0, width - 8), rng.integers(0, height - 8)
        img[y0 : y0 + 8, x0 : x0 + 8] = rng.integers(0, 255, 3)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def scene_depth(width: int = 96, height: int = 64) -> np.ndarray:
    """A tilted floor-and-wall depth map in metres (1.5 .. 4 m)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return (4.0 - 2.5 * yy / height + 0.3 * np.sin(xx / 9)).astype(np.float32)


def encode_png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def encode_npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def submit(client: httpx.Client, *, width: int = 96, height: int = 64, mode: str = "single", seed: int = 0,
           headers: dict[str, str] | None = None, **form: str) -> httpx.Response:
    files = {
        "image": ("photo.png", encode_png(scene_image(width, height, seed)), "image/png"),
        "depth": ("depth.npy", encode_npy(scene_depth(width, height)), "application/octet-stream"),
    }
    return client.post("/scenes", files=files, data={"mode": mode, "seed": str(seed), **form}, headers=headers)


def wait_status(client: httpx.Client, job_id: str, statuses: set[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = client.get(f"/scenes/{job_id}").json()
        if body.get("status") in statuses:
            return body
        time.sleep(0.3)
    raise TimeoutError(f"job {job_id} still {body.get('status')} after {timeout} s: {body}")


def bucket_keys(env: dict[str, str], prefix: str = "") -> list[str]:
    import boto3
    from botocore.config import Config

    s3 = boto3.client(
        "s3", endpoint_url=env["GLD8TR_S3_ENDPOINT_URL"], aws_access_key_id=env["GLD8TR_S3_ACCESS_KEY"],
        aws_secret_access_key=env["GLD8TR_S3_SECRET_KEY"], region_name="us-east-1",
        config=Config(request_checksum_calculation="when_required", response_checksum_validation="when_required"),
    )
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=env["GLD8TR_S3_BUCKET"], Prefix=env["GLD8TR_S3_PREFIX"] + "/" + prefix
    ):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def free_port(avoid_plus_10000: bool = False) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not avoid_plus_10000:
            return port
        if port + 10000 < 65536:  # SeaweedFS also listens on port + 10000 (gRPC)
            with socket.socket() as s2:
                try:
                    s2.bind(("127.0.0.1", port + 10000))
                    return port
                except OSError:
                    continue


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout} s")


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


REPO = Path(__file__).resolve().parents[2]


def start_serve(
    tmp_path: Path, port: int, log_name: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, object]:
    """``gld8tr serve`` (embedded mode, a real process) on ``port`` with its data under ``tmp_path/data`` and its
    output in ``tmp_path/log_name``; CPU, ``nearest`` depth completion (jobs must post a depth map), plus ``env``."""
    full_env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "GLD8TR_DEPTH_MODEL": "nearest",
                "GLD8TR_DEVICE": "cpu", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **(env or {})}
    log = (tmp_path / log_name).open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gld8tr", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=full_env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )
    return proc, log


def expand_compose_vars(text: str, values: dict[str, str]) -> str:
    """Docker Compose's interpolation of ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` from ``values``."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        if values.get(name):
            return values[name]
        if op == ":-":
            return arg
        raise KeyError(f"compose variable {name} is required: {arg}")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}", one, text)


def compose_s3_config(values: dict[str, str]) -> dict:
    """The SeaweedFS S3 identities of docker-compose.yml (``configs.s3-identities``), interpolated as Compose
    would with ``values``: the tests run their SeaweedFS with the very configuration the deployment ships."""
    import json

    import yaml

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return json.loads(expand_compose_vars(compose["configs"]["s3-identities"]["content"], values))


class WebhookReceiver:
    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.event = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                receiver.event.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
