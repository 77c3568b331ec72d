"""Faults at the edges of the infrastructure, each reproduced against real servers (issue 10, part 2).

Real Redis, the SeaweedFS of conftest (with the compose credentials), API servers under uvicorn, some of them
pointed at a dead Redis, broker or S3 (a free port nobody listens on). No worker runs in this module, so
accepted jobs stay queued; each test cancels what it created.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import MAX_ACTIVE, S3_READ_ONLY, ApiServer
from fastapi.testclient import TestClient
from service_helpers import WebhookReceiver, free_port, submit

from api.app import create_app
from service.jobstore import MemoryJobStore
from service.queue import CeleryRunner
from service.schemas import InputInfo, JobRecord, SceneOptions
from service.settings import Settings
from service.storage import S3Storage, input_key

pytestmark = pytest.mark.service


def _dead_url(scheme: str = "redis") -> str:
    port = free_port()
    return f"redis://127.0.0.1:{port}/13" if scheme == "redis" else f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def servers(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ApiServer]]:
    """API servers whose Redis, broker or S3 is down; started once for the module."""
    log_dir = tmp_path_factory.mktemp("fault-apis")
    made = {
        "redis": ApiServer({**service_env, "GLD8TR_REDIS_URL": _dead_url()}, log_dir),
        "broker": ApiServer({**service_env, "GLD8TR_BROKER_URL": _dead_url()}, log_dir),
        "s3": ApiServer({**service_env, "GLD8TR_S3_ENDPOINT_URL": _dead_url("http"),
                         "GLD8TR_S3_CREATE_BUCKET": "false"}, log_dir),
    }
    yield made
    for server in made.values():
        server.stop()


def _assert_503(resp) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert int(resp.headers["retry-after"]) > 0 and resp.json()["status"] == 503


def _job_count(api: ApiServer, who: str) -> int:
    with api.client(who) as c:
        return c.get("/scenes").json()["count"]


def test_redis_down_is_503_for_submit_get_and_list(servers: dict[str, ApiServer]) -> None:
    with servers["redis"].client("f") as c:
        _assert_503(submit(c))
        _assert_503(c.get("/scenes/0123456789abcdef"))
        _assert_503(c.get("/scenes"))
        assert c.get("/healthz").status_code == 200  # the same pooled connection still answers


def test_s3_down_at_submission_is_503_and_leaves_no_job(api: ApiServer, servers: dict[str, ApiServer]) -> None:
    before = _job_count(api, "f")
    with servers["s3"].client("f") as c:
        _assert_503(submit(c))
    assert _job_count(api, "f") == before


def test_dead_broker_leaves_no_record_and_frees_the_idempotency_key(
    api: ApiServer, servers: dict[str, ApiServer]
) -> None:
    before = _job_count(api, "f")
    key = {"Idempotency-Key": f"broker-down-{time.time_ns()}"}
    with servers["broker"].client("f") as c:
        _assert_503(submit(c, seed=11, headers=key))
    assert _job_count(api, "f") == before  # a refused request leaves no trace
    with api.client("f") as c:  # the client retries once the queue is back: a new job, not a replayed failure
        resp = submit(c, seed=11, headers=key)
        assert resp.status_code == 202, resp.text
        assert "idempotent-replayed" not in resp.headers and resp.json()["status"] == "queued"
        assert c.delete(f"/scenes/{resp.json()['id']}").status_code == 202


def test_huge_list_offset_is_an_empty_page(api: ApiServer) -> None:
    with api.client("f") as c:
        resp = c.get("/scenes", params={"offset": 9223372036854775807})
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"] == [] and resp.json()["offset"] == 9223372036854775807


def test_default_outputs_and_the_same_list_given_explicitly_are_one_request(api: ApiServer) -> None:
    key = {"Idempotency-Key": f"outputs-{time.time_ns()}"}
    with api.client("f") as c:
        first = submit(c, seed=12, headers=key)
        assert first.status_code == 202, first.text
        again = submit(c, seed=12, headers=key, outputs="scene.ply,scene.json,preview.png")
        assert again.status_code == 202, again.text
        assert again.headers.get("idempotent-replayed") == "true" and again.json()["id"] == first.json()["id"]
        assert c.delete(f"/scenes/{first.json()['id']}").status_code == 202


def test_active_job_cap_holds_under_concurrent_submissions(api: ApiServer) -> None:
    """20 simultaneous submissions of one key with a cap of MAX_ACTIVE: exactly MAX_ACTIVE are accepted."""
    with api.client("e") as c:
        assert c.get("/scenes").json()["count"] == 0

        def post(i: int) -> tuple[int, str]:
            resp = submit(c, seed=100 + i)
            return resp.status_code, resp.json().get("id", "")

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(post, range(20)))
        accepted = [job_id for status, job_id in results if status == 202]
        assert sorted({status for status, _ in results}) == [202, 429], results
        assert len(accepted) == MAX_ACTIVE, results
        assert c.get("/scenes").json()["count"] == MAX_ACTIVE
        for job_id in accepted:
            assert c.delete(f"/scenes/{job_id}").status_code == 202


def _s3_settings(service_env: dict[str, str], **overrides: object) -> Settings:
    fields: dict[str, object] = {
        "storage": "s3", "s3_endpoint_url": service_env["GLD8TR_S3_ENDPOINT_URL"],
        "s3_bucket": service_env["GLD8TR_S3_BUCKET"], "s3_prefix": service_env["GLD8TR_S3_PREFIX"],
        "s3_access_key": service_env["GLD8TR_S3_ACCESS_KEY"], "s3_secret_key": service_env["GLD8TR_S3_SECRET_KEY"],
        "redis_url": "redis://127.0.0.1:1/0",
    }
    return Settings(**{**fields, **overrides})


def test_readyz_checks_storage_by_writing(api: ApiServer, service_env: dict[str, str], tmp_path: Path) -> None:
    """A read-only key passes a HEAD of the bucket, but jobs could not store a thing: /readyz must say so."""
    writer = _s3_settings(service_env)
    reader = _s3_settings(service_env, s3_access_key=S3_READ_ONLY["accessKey"],
                          s3_secret_key=S3_READ_ONLY["secretKey"], s3_create_bucket=False)
    S3Storage(writer).ping()
    read_only = S3Storage(reader)
    read_only.client.head_bucket(Bucket=reader.s3_bucket)  # reads work...
    with pytest.raises(Exception, match="AccessDenied|Forbidden"):
        read_only.ping()  # ...writes do not
    store = MemoryJobStore()
    app = create_app(reader, store=store, storage=read_only, runner=CeleryRunner(reader, store))
    with TestClient(app) as client:
        resp = client.get("/readyz")
        assert resp.status_code == 503 and resp.json()["checks"]["storage"].startswith("error"), resp.text
    assert read_only.list(f"{reader.s3_prefix}/.readyz/") == []  # the probes leave nothing behind


def _queued_job(settings: Settings, store: MemoryJobStore, job_id: str, webhook: str | None = None) -> None:
    inputs = InputInfo(image_key=input_key(settings, job_id, "image.png"), image_format="PNG", width=96, height=64,
                       depth_key=input_key(settings, job_id, "depth.npy"), depth_format="npy")
    store.create(JobRecord(id=job_id, owner="o", options=SceneOptions(mode="single", webhook=webhook), inputs=inputs))


def test_job_failed_by_a_storage_outage_still_calls_its_webhook(service_env: dict[str, str]) -> None:
    from worker.execute import TransientError, WorkerContext, execute_job
    from worker.models import ResidentModels
    from worker.tasks import give_up

    hook = WebhookReceiver()
    try:
        settings = _s3_settings(service_env, s3_endpoint_url=_dead_url("http"), s3_create_bucket=False,
                                webhook_allowed_hosts=["127.0.0.1"], depth_model="nearest", device="cpu")
        store = MemoryJobStore()
        _queued_job(settings, store, "dark", webhook=hook.url)
        ctx = WorkerContext(settings, store, S3Storage(settings), ResidentModels.load(settings))
        with pytest.raises(TransientError):  # the inputs cannot be fetched: a retry, not a failure
            execute_job("dark", ctx)
        give_up(ctx, "dark", RuntimeError("storage unreachable"))  # the retry budget is spent
        assert store.get("dark").status == "failed"  # type: ignore[union-attr]
        assert hook.event.wait(30), "no webhook for a job that failed while storage was down"
        assert b'"status":"failed"' in hook.calls[0][1]
    finally:
        hook.close()


class _SlowDownS3(BaseHTTPRequestHandler):
    """An S3 endpoint that is overloaded: every request gets 503 SlowDown, as AWS S3 answers under load."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>" \
               b"<Message>Please reduce your request rate.</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_worker_retries_s3_5xx(service_env: dict[str, str]) -> None:
    import threading

    from worker.execute import TransientError, WorkerContext, execute_job
    from worker.models import ResidentModels

    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowDownS3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = _s3_settings(service_env, s3_endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
                                s3_create_bucket=False, depth_model="nearest", device="cpu")
        store = MemoryJobStore()
        _queued_job(settings, store, "busy")
        ctx = WorkerContext(settings, store, S3Storage(settings), ResidentModels.load(settings))
        with pytest.raises(TransientError, match="SlowDown|503"):
            execute_job("busy", ctx)
        rec = store.get("busy")
        assert rec is not None and rec.status == "queued" and rec.deliveries == 0, rec  # given back for the retry
        assert rec.error is None
    finally:
        server.shutdown()
