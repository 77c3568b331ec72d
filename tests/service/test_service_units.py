"""Service pieces without servers: settings, webhooks (against a real local HTTP server), the in-memory job
store, the local storage backend, purging, and the worker's delivery counting."""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import ValidationError
from service_helpers import encode_npy, encode_png, scene_depth, scene_image

from api.auth import ApiKeyAuth
from api.deps import Service
from api.problems import ProblemError
from api.uploads import check_depth, check_image
from service import jobs
from service.jobstore import IdempotencyConflict, MemoryJobStore
from service.schemas import InputInfo, JobRecord, SceneOptions
from service.settings import Settings
from service.storage import LocalStorage, output_key
from service.webhooks import check_webhook_url, deliver, sign, verify
from worker.execute import WorkerContext, execute_job


def _record(job_id: str = "j1", owner: str = "o", **kw: object) -> JobRecord:
    inputs = InputInfo(image_key=f"scenes/{job_id}/inputs/image.png", image_format="PNG", width=96, height=64)
    return JobRecord(id=job_id, owner=owner, options=SceneOptions(), inputs=inputs, **kw)


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLD8TR_API_KEYS", " k1 , k2,, ")
    monkeypatch.setenv("GLD8TR_WEBHOOK_ALLOWED_HOSTS", "hooks.example.com,.corp.example")
    s = Settings()
    assert [k.get_secret_value() for k in s.api_keys] == ["k1", "k2"]
    assert "k1" not in repr(s)  # keys never show up in logs or reprs
    assert s.webhook_allowed_hosts == ["hooks.example.com", ".corp.example"]
    with pytest.raises(ValidationError, match="visibility_timeout_s"):
        Settings(hard_time_limit_s=100, soft_time_limit_s=50, visibility_timeout_s=90)


def test_api_keys_hashed_and_owner_scoped() -> None:
    auth = ApiKeyAuth(Settings(api_keys="alpha,beta").api_key_hashes())
    a, b = auth.owner_for("Bearer alpha"), auth.owner_for("bearer beta")
    assert a != b and "alpha" not in a
    for bad in (None, "", "Bearer", "Basic alpha", "Bearer gamma"):
        with pytest.raises(ProblemError) as exc:
            auth.owner_for(bad)
        assert exc.value.status == 401
    assert ApiKeyAuth([]).owner_for(None) == "public"


def test_webhook_allow_list_refuses_other_hosts() -> None:
    allowed = ["hooks.example.com", ".corp.example"]
    assert check_webhook_url("https://hooks.example.com/x", allowed) is None
    assert check_webhook_url("https://a.b.corp.example/x", allowed) is None
    assert check_webhook_url("https://corp.example/x", allowed) is None
    for url in ("https://evil.com/x", "http://169.254.169.254/", "https://hooks.example.com.evil.com/",
                "ftp://hooks.example.com/", "https://user:pw@hooks.example.com/", "https://xcorp.example/"):
        assert check_webhook_url(url, allowed) is not None, url


def test_webhook_signature_and_retry_on_5xx() -> None:
    seen: list[tuple[int, dict[str, str], bytes]] = []
    statuses = iter([503, 500, 200])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            code = next(statuses)
            seen.append((code, dict(self.headers), body))
            self.send_response(code)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        ok = deliver(url, "job1", b'{"id":"job1"}', "s3cret", attempts=4, backoff_s=0.05, allowed=["127.0.0.1"])
        assert ok and [s[0] for s in seen] == [503, 500, 200]
        _, headers, body = seen[-1]
        assert verify("s3cret", "job1", int(headers["Gld8tr-Timestamp"]), body, headers["Gld8tr-Signature"])
        # Refused up front when the host is not allowed: nothing is sent.
        assert not deliver(url, "job1", b"{}", "s3cret", attempts=1, allowed=["example.com"])
        assert len(seen) == 3
    finally:
        server.shutdown()
    assert sign("k", "a", 1, b"x") != sign("k", "a", 2, b"x")


def test_memory_store_idempotency_rate_limit_and_status_index() -> None:
    store = MemoryJobStore(retention_s=10)
    first, new = store.create(_record("j1", idempotency_key="k", request_hash="h1"))
    again, new2 = store.create(_record("j2", idempotency_key="k", request_hash="h1"))
    assert new and not new2 and again.id == "j1"
    with pytest.raises(IdempotencyConflict):
        store.create(_record("j3", idempotency_key="k", request_hash="other"))
    assert store.count_active("o") == 1
    done = store.update("j1", lambda r: r.model_copy(update={"status": "succeeded"}))
    assert done is not None and done.finished_at is not None
    assert store.count_active("o") == 0 and store.count_by_status()["succeeded"] == 1
    assert store.due_for_purge(time.time()) == [] and store.due_for_purge(time.time() + 11) == ["j1"]
    assert [store.rate_limit("o", 2) for _ in range(2)] == [0.0, 0.0]
    assert 59 < store.rate_limit("o", 2) <= 60


def test_purge_deletes_expired_files_and_records(tmp_path: Path) -> None:
    settings = Settings(storage="local", data_dir=tmp_path, retention_hours=1)
    store, storage = MemoryJobStore(settings.retention_s), LocalStorage(tmp_path / "objects")
    service = Service(settings, store, storage, runner=None, auth=ApiKeyAuth([]))  # type: ignore[arg-type]
    for job_id in ("old", "new"):
        store.create(_record(job_id))
        storage.put_bytes(output_key(settings, job_id, "scene.ply"), b"ply", "application/octet-stream")
    store.update("old", lambda r: r.model_copy(update={"status": "succeeded"}))
    assert jobs.purge(service, now=time.time() + 3700) == 1
    assert store.get("old") is None and storage.list(f"{settings.s3_prefix}/old/") == []
    assert store.get("new") is not None and storage.size(output_key(settings, "new", "scene.ply")) == 3


def test_local_storage_refuses_keys_outside_its_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    with pytest.raises(ValueError):
        storage.put_bytes("../escape.txt", b"x", "text/plain")


def test_job_that_keeps_killing_its_worker_fails_after_max_deliveries(tmp_path: Path) -> None:
    """Each start counts a delivery; the (max+1)th start gives up without touching the pipeline."""
    settings = Settings(storage="local", data_dir=tmp_path, max_deliveries=3)
    store, storage = MemoryJobStore(), LocalStorage(tmp_path / "objects")
    store.create(_record("oom", deliveries=3))  # three earlier starts whose worker died mid-job
    ctx = WorkerContext(settings, store, storage, models=None)
    assert execute_job("oom", ctx) == "failed"
    rec = store.get("oom")
    assert rec is not None and rec.error is not None and rec.error.title == "Worker lost"
    assert execute_job("oom", ctx) == "failed"  # a further redelivery is acknowledged as a no-op
    assert store.get("oom").deliveries == 4  # type: ignore[union-attr]


def test_upload_checks_use_real_decoders() -> None:
    img = check_image(encode_png(scene_image(96, 64)), max_pixels=10_000)
    assert (img.format, img.width, img.height) == ("PNG", 96, 64)
    with pytest.raises(ProblemError) as exc:
        check_image(encode_png(scene_image(96, 64)), max_pixels=1000)
    assert exc.value.status == 422
    assert check_depth(encode_npy(scene_depth(96, 64)), width=96, height=64).format == "npy"
    with pytest.raises(ProblemError) as exc:
        check_depth(encode_npy(scene_depth(96, 64) * 0), width=96, height=64)  # no valid depth at all
    assert exc.value.status == 422


def test_api_modules_do_not_import_torch() -> None:
    import subprocess

    code = (
        "import sys, api.app, gld8tr.cli, gld8tr.commands.serve, api.routes.scenes, service.jobs, service.queue\n"
        "import gld8tr.commands.worker, gld8tr.commands.run, worker.embedded\n"
        "from api.app import create_app\nfrom service.settings import Settings\n"
        "create_app(Settings(storage='local', data_dir=sys.argv[1], redis_url='redis://127.0.0.1:1/0'))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code, "/tmp/gld8tr-notorch"], check=True, cwd=repo)


def test_hard_time_limit_records_failure_and_exits_the_worker(tmp_path: Path) -> None:
    """The solo pool cannot interrupt a stuck job; the watchdog fails it in the store and ends the process."""
    import subprocess

    code = (
        "import sys, time\n"
        "from service.jobstore import MemoryJobStore\nfrom service.schemas import InputInfo, JobRecord, SceneOptions\n"
        "from service.settings import Settings\nfrom service.storage import LocalStorage\n"
        "from worker.execute import WorkerContext\nfrom worker.tasks import hard_time_limit\n"
        "s = Settings(storage='local', data_dir=sys.argv[1], soft_time_limit_s=0.2, hard_time_limit_s=0.5)\n"
        "class Store(MemoryJobStore):  # reports each write, since the process ends without returning\n"
        "    def update(self, job_id, fn):\n"
        "        rec = super().update(job_id, fn)\n"
        "        print('status', rec.status, rec.error.title, flush=True)\n"
        "        return rec\n"
        "store = Store()\n"
        "store.create(JobRecord(id='stuck', owner='o', status='running', options=SceneOptions(),\n"
        "    inputs=InputInfo(image_key='k', image_format='PNG', width=16, height=16)))\n"
        "ctx = WorkerContext(s, store, LocalStorage(sys.argv[1]), None)\n"
        "with hard_time_limit(ctx, 'stuck'):\n"
        "    time.sleep(30)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=repo, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 70, proc.stderr
    assert "status failed Time limit exceeded" in proc.stdout
    assert time.monotonic() - t0 < 20


def test_memory_store_with_a_directory_survives_a_restart(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    store = MemoryJobStore(retention_s=100.0, persist_dir=jobs)
    store.create(_record("done", idempotency_key="k1", request_hash="h1"))
    store.create(_record("waiting"))
    store.create(_record("gone"))

    def finish(r: JobRecord) -> JobRecord:
        r.status = "succeeded"
        return r

    def start(r: JobRecord) -> JobRecord:
        r.status, r.deliveries = "running", 1
        return r

    store.update("done", finish)
    store.update("waiting", start)
    store.delete("gone")
    (jobs / "junk.json").write_text("{not json")

    again = MemoryJobStore(retention_s=100.0, persist_dir=jobs)  # a new process on the same data directory
    done = again.get("done")
    assert done is not None and done.status == "succeeded" and done.finished_at is not None
    assert again.get("gone") is None and again.get("waiting").deliveries == 1
    assert again.find_idempotent("o", "k1").id == "done"
    with pytest.raises(IdempotencyConflict):
        again.create(_record("other", idempotency_key="k1", request_hash="h2"))
    assert again.unfinished() == ["waiting"]
    assert again.due_for_purge(done.finished_at.timestamp() + 99) == []
    assert again.due_for_purge(done.finished_at.timestamp() + 101) == ["done"]
    assert (jobs / "junk.json.bad").exists() and not (jobs / "junk.json").exists()  # kept aside, not lost
    assert sorted(p.name for p in jobs.glob("*.json")) == ["done.json", "waiting.json"]


def test_scene_options_accept_fov_auto() -> None:
    """``fov_deg`` is a number of degrees in [1, 179] or ``"auto"`` (the worker passes it to generate_scene)."""
    import pytest
    from pydantic import ValidationError

    from service.schemas import SceneOptions

    assert SceneOptions(fov_deg="auto").fov_deg == "auto"
    assert SceneOptions(fov_deg=60).fov_deg == 60.0
    for bad in ("wide", 0.5, 200):
        with pytest.raises(ValidationError):
            SceneOptions(fov_deg=bad)


def test_worker_runs_a_fov_auto_job_and_the_sidecar_records_the_camera(tmp_path: Path) -> None:
    """``fov_deg="auto"`` through the worker's narrow function (real models, measured depth): the scene's sidecar
    carries the camera estimate and the intrinsics follow it."""
    import json

    from service.storage import input_key, output_key
    from worker.models import ResidentModels

    settings = Settings(storage="local", data_dir=tmp_path, depth_model="nearest", device="cpu")
    store, storage = MemoryJobStore(), LocalStorage(tmp_path / "objects")
    image_key, depth_key = input_key(settings, "cam", "image.png"), input_key(settings, "cam", "depth.npy")
    storage.put_bytes(image_key, encode_png(scene_image(96, 64)), "image/png")
    storage.put_bytes(depth_key, encode_npy(scene_depth(96, 64)), "application/octet-stream")
    inputs = InputInfo(image_key=image_key, image_format="PNG", width=96, height=64, depth_key=depth_key,
                       depth_format="npy")
    store.create(JobRecord(id="cam", owner="o", inputs=inputs,
                           options=SceneOptions(mode="single", fov_deg="auto", outputs=["scene.ply", "scene.json"])))
    ctx = WorkerContext(settings, store, storage, ResidentModels.load(settings))
    assert execute_job("cam", ctx) == "succeeded", store.get("cam")
    storage.download(output_key(settings, "cam", "scene.json"), tmp_path / "scene.json")
    side = json.loads((tmp_path / "scene.json").read_text())
    cam = side["extra"]["camera"]
    assert cam["method"] == "module+refine" and cam["shift_applied"] is False  # "auto" with a measured depth
    assert side["cameras"][0]["intrinsics"]["fx"] == pytest.approx(cam["focal_px"], rel=1e-5)
