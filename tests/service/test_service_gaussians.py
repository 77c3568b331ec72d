"""Gaussian splats through the service, and the viewer page.

S3 mode (API + `gld8tr worker` subprocess + Redis + SeaweedFS): a job asking for ``gaussians.ply`` (20 fit
iterations, ``GLD8TR_GS_ITERS`` in conftest) yields a 3DGS PLY; its viewer page embeds a presigned URL.
Local mode (the real app in process, a real PLY in local storage): the page embeds a signed, expiring URL of the
files route, which opens that one file and nothing else.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
from conftest import KEYS, ApiServer, Worker
from fastapi.testclient import TestClient
from plyfile import PlyData
from service_helpers import submit, wait_status

from api.app import create_app
from api.auth import ApiKeyAuth
from api.deps import Service
from api.signing import FileUrlSigner
from core.io import write_ply
from service.jobstore import MemoryJobStore
from service.queue import CeleryRunner
from service.schemas import InputInfo, JobRecord, OutputRecord, SceneOptions
from service.settings import Settings, hash_api_key
from service.storage import LocalStorage, output_key

GS_FIELDS = (
    ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    + [f"f_rest_{i}" for i in range(45)]
    + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
)


def _page_data_url(html: str) -> str:
    """The ``dataUrl`` the viewer page will fetch (from its inline JSON config)."""
    match = re.search(r'"dataUrl": "([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


@pytest.mark.service
def test_gaussians_output_and_view_page_s3(api: ApiServer, worker: Worker) -> None:
    with api.client("a") as c:
        resp = submit(c, mode="single", seed=5, outputs="scene.ply,gaussians.ply,gaussians.json")
        assert resp.status_code == 202, resp.text
        assert resp.json()["options"]["outputs"] == ["gaussians.json", "gaussians.ply", "scene.ply"]
        job = wait_status(c, resp.json()["id"], {"succeeded", "failed"}, timeout=180)
        assert job["status"] == "succeeded", (job, worker.log()[-3000:])
        outputs = {o["name"]: o for o in job["outputs"]}
        assert set(outputs) == {"scene.ply", "gaussians.ply", "gaussians.json"}
        assert outputs["gaussians.ply"]["media_type"] == "application/octet-stream"
        assert job["timings"]["gaussians"] > 0

        # The file, through the usual presigned redirect, is a 3DGS PLY in the Inria layout.
        redirect = c.get(f"/scenes/{job['id']}/files/gaussians.ply")
        assert redirect.status_code == 307
        data = httpx.get(redirect.headers["Location"], timeout=30).content
        assert len(data) == outputs["gaussians.ply"]["size"]
        ply = PlyData.read(io.BytesIO(data))
        vertex = ply["vertex"]
        assert [p.name for p in vertex.properties] == GS_FIELDS
        assert all(p.val_dtype in ("f4", "float32") for p in vertex.properties)
        assert ply.byte_order == "<"
        metrics = json.loads(httpx.get(c.get(f"/scenes/{job['id']}/files/gaussians.json").headers["Location"]).content)
        assert vertex.count == metrics["num_gaussians"] > 100 and metrics["iterations"] == 20
        xyz = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1)
        rot = np.stack([vertex[f"rot_{i}"] for i in range(4)], axis=1)
        assert np.isfinite(xyz).all() and (xyz[:, 2] > 0).mean() > 0.9  # OpenCV frame: in front of the camera
        assert np.allclose(np.stack([vertex["nx"], vertex["ny"], vertex["nz"]]), 0)
        assert np.isfinite(rot).all() and (np.linalg.norm(rot, axis=1) > 0).all()

        # The viewer page: the owner's, pointing at the Gaussians by a presigned URL that needs no key.
        page = c.get(f"/scenes/{job['id']}/view")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "no-store" in page.headers["cache-control"]
        url = _page_data_url(page.text)
        assert "X-Amz-Signature" in url and "gaussians.ply" in url
        assert httpx.get(url, timeout=30).content == data
        # The page's fetch is cross-origin (API page -> S3): the store must allow it (SeaweedFS does by default).
        cors = httpx.get(url, headers={"Origin": api.url}, timeout=30).headers.get("access-control-allow-origin")
        assert cors in (api.url, "*")
        assert '"/viewer/' in page.text or "/viewer/viewer.js" in page.text
        assert c.get("/viewer/viewer.js").status_code == 200

    with api.client("b") as other:
        assert other.get(f"/scenes/{job['id']}/view").status_code == 404  # someone else's job: not found
    with api.client(None) as anon:
        assert anon.get(f"/scenes/{job['id']}/view").status_code == 401


@pytest.mark.service
def test_video_output_s3(api: ApiServer, worker: Worker) -> None:
    """``video.mp4`` beside feed-forward Gaussians: an orbit of the splats, stored as video/mp4, decodable by PyAV,
    at the photo's size (even), with the number of frames the worker is set to and a camera that moves."""
    av = pytest.importorskip("av")
    with api.client("a") as c:
        resp = submit(c, mode="single", seed=3, outputs="gaussians.ply,video.mp4", gs_method="feedforward")
        assert resp.status_code == 202, resp.text
        job = wait_status(c, resp.json()["id"], {"succeeded", "failed"}, timeout=180)
        assert job["status"] == "succeeded", (job, worker.log()[-3000:])
        outputs = {o["name"]: o for o in job["outputs"]}
        assert set(outputs) == {"gaussians.ply", "video.mp4"}
        assert outputs["video.mp4"]["media_type"] == "video/mp4" and job["timings"]["video"] > 0
        redirect = c.get(f"/scenes/{job['id']}/files/video.mp4")
        assert redirect.status_code == 307
        got = httpx.get(redirect.headers["Location"], timeout=30)
        assert got.headers["content-type"] == "video/mp4" and len(got.content) == outputs["video.mp4"]["size"]
    with av.open(io.BytesIO(got.content)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 8 and frames[0].shape == (64, 96, 3)
    assert frames[0].mean() > 10  # the splats are in view
    assert np.abs(frames[0].astype(int) - frames[2].astype(int)).mean() > 1  # the camera moves


@pytest.fixture
def local_app(tmp_path: Path) -> Iterator[tuple[TestClient, JobRecord, bytes]]:
    """The real app over local storage and the in-memory store, with one finished job holding a real scene.ply.

    The runner is a Celery one that is never used (nothing is submitted), so no worker thread loads models."""
    settings = Settings(
        storage="local", data_dir=tmp_path, api_keys=[KEYS["a"], KEYS["b"]], redis_url="redis://127.0.0.1:1/0",
        file_url_secret="view-test-secret", presign_expiry_s=60,
    )
    store = MemoryJobStore(settings.retention_s)
    service = Service(
        settings, store, LocalStorage(tmp_path / "objects"), CeleryRunner(settings, store),
        ApiKeyAuth(settings.api_key_hashes()),
        FileUrlSigner(settings.file_url_secret.get_secret_value(), settings.presign_expiry_s),
    )
    app = create_app(settings, service=service)
    rng = np.random.default_rng(0)
    points = rng.normal(0, 1, (500, 3)).astype(np.float32) + np.array([0, 0, 3], np.float32)
    colors = rng.integers(0, 255, (500, 3), dtype=np.uint8)
    ply_path = tmp_path / "scene.ply"
    write_ply(ply_path, points, colors)
    key = output_key(settings, "job1", "scene.ply")
    service.storage.put_file(key, ply_path, "application/octet-stream")
    rec = JobRecord(
        id="job1", owner=hash_api_key(KEYS["a"])[:24], status="succeeded", options=SceneOptions(fov_deg=60),
        inputs=InputInfo(image_key="k", image_format="PNG", width=96, height=64),
        outputs=[OutputRecord(name="scene.ply", key=key, size=ply_path.stat().st_size,
                              media_type="application/octet-stream")],
    )
    service.store.create(rec)
    with TestClient(app) as client:
        yield client, rec, ply_path.read_bytes()


def test_view_page_local_storage_signed_url(local_app: tuple[TestClient, JobRecord, bytes]) -> None:
    client, rec, ply = local_app
    auth = {"Authorization": f"Bearer {KEYS['a']}"}
    page = client.get(f"/scenes/{rec.id}/view", headers=auth)
    assert page.status_code == 200, page.text
    assert '"fovDeg": 60.0' in page.text and 'src="/viewer/viewer.js"' in page.text
    url = _page_data_url(page.text)
    assert url.startswith(f"/scenes/{rec.id}/files/scene.ply?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}

    # The signed URL opens the file without a key ...
    resp = client.get(url)
    assert resp.status_code == 200 and resp.content == ply
    # ... but only that file, untampered, and not after it expires.
    other = f"/scenes/{rec.id}/files/scene.json?expires={query['expires']}&token={query['token']}"
    assert client.get(other).status_code == 403
    bad = f"/scenes/{rec.id}/files/scene.ply?expires={int(query['expires']) + 1}&token={query['token']}"
    assert client.get(bad).status_code == 403
    signer = client.app.state.service.signer  # type: ignore[attr-defined]
    stale = signer.query(rec.id, "scene.ply", now=0)  # expired in 1970
    assert client.get(f"/scenes/{rec.id}/files/scene.ply?{stale}").status_code == 403
    assert client.get(f"/scenes/{rec.id}/files/scene.ply").status_code == 401  # no token, no key

    assert client.get(f"/scenes/{rec.id}/view", headers={"Authorization": f"Bearer {KEYS['b']}"}).status_code == 404
    assert client.get(f"/scenes/{rec.id}/view").status_code == 401
    assert client.get("/viewer/three.module.js").status_code == 200
    assert client.get("/viewer/server.py").status_code == 404  # only the page's assets are served


def test_cancel_during_gaussian_fit_leaves_no_outputs(tmp_path: Path) -> None:
    """The worker's narrow function in process (real models, real fit): a cancel that arrives while the Gaussians
    are being fitted stops the fit at its next progress report and leaves neither files nor listed outputs."""
    import threading
    import time

    from service_helpers import encode_npy, encode_png, scene_depth, scene_image

    from service.storage import input_key, job_prefix
    from worker.execute import WorkerContext, execute_job
    from worker.models import ResidentModels

    settings = Settings(storage="local", data_dir=tmp_path, depth_model="nearest", device="cpu", gs_iters=100_000,
                        gs_max_side=32, soft_time_limit_s=600, gs_method="fit")  # cheap iterations; loaded CPU
    store, storage = MemoryJobStore(), LocalStorage(tmp_path / "objects")
    image_key, depth_key = input_key(settings, "gs", "image.png"), input_key(settings, "gs", "depth.npy")
    storage.put_bytes(image_key, encode_png(scene_image(96, 64)), "image/png")
    storage.put_bytes(depth_key, encode_npy(scene_depth(96, 64)), "application/octet-stream")
    options = SceneOptions(mode="single", outputs=["scene.ply", "gaussians.ply"])
    inputs = InputInfo(image_key=image_key, image_format="PNG", width=96, height=64, depth_key=depth_key,
                       depth_format="npy")
    store.create(JobRecord(id="gs", owner="o", options=options, inputs=inputs))
    ctx = WorkerContext(settings, store, storage, ResidentModels.load(settings))

    seen: list[int] = []

    def cancel_once_fitting() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            rec = store.get("gs")
            if rec is not None and rec.progress.stage == "gaussians" and rec.progress.done > 0:
                seen.append(rec.progress.done)
                store.request_cancel("gs")
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=cancel_once_fitting, daemon=True)
    watcher.start()
    t0 = time.monotonic()
    assert execute_job("gs", ctx) == "canceled", store.get("gs")
    watcher.join(5)
    assert seen, "the fit never reported progress"
    rec = store.get("gs")
    assert rec is not None and rec.status == "canceled" and rec.outputs == []
    assert rec.progress.stage == "gaussians" and rec.progress.total == 100_000  # stopped long before the end
    assert storage.list(job_prefix(settings, "gs")) == []
    assert time.monotonic() - t0 < 600


def test_worker_feedforward_gaussians(tmp_path: Path) -> None:
    """A job asking for ``gs_method=feedforward`` (the CPU default; here over a worker set to fit): the shipped net
    writes a viewable 3DGS PLY with one splat per pixel of the photo, and its metrics say how it was made."""
    from service_helpers import encode_npy, encode_png, scene_depth, scene_image

    from service.storage import input_key
    from worker.execute import WorkerContext, execute_job
    from worker.models import ResidentModels

    settings = Settings(storage="local", data_dir=tmp_path, depth_model="nearest", device="cpu",
                        gs_method="fit")  # the job's own option below must win
    store, storage = MemoryJobStore(), LocalStorage(tmp_path / "objects")
    image_key, depth_key = input_key(settings, "ff", "image.png"), input_key(settings, "ff", "depth.npy")
    storage.put_bytes(image_key, encode_png(scene_image(96, 64)), "image/png")
    storage.put_bytes(depth_key, encode_npy(scene_depth(96, 64)), "application/octet-stream")
    options = SceneOptions(mode="single", outputs=["scene.ply", "gaussians.ply", "gaussians.json"],
                           gs_method="feedforward")
    inputs = InputInfo(image_key=image_key, image_format="PNG", width=96, height=64, depth_key=depth_key,
                       depth_format="npy")
    store.create(JobRecord(id="ff", owner="o", options=options, inputs=inputs))
    ctx = WorkerContext(settings, store, storage, ResidentModels.load(settings))
    assert execute_job("ff", ctx) == "succeeded", store.get("ff")
    rec = store.get("ff")
    keys = {o.name: o.key for o in rec.outputs}
    storage.download(keys["gaussians.json"], tmp_path / "g.json")
    storage.download(keys["gaussians.ply"], tmp_path / "g.ply")
    metrics = json.loads((tmp_path / "g.json").read_text())
    assert metrics["method"] == "feedforward" and metrics["num_gaussians"] == 96 * 64
    vertex = PlyData.read(str(tmp_path / "g.ply"))["vertex"]
    names = [p.name for p in vertex.properties]  # degree-0 colour: the 3DGS layout without f_rest_*
    assert names == [n for n in GS_FIELDS if not n.startswith("f_rest")] and vertex.count == 96 * 64


def test_gs_method_form_field_is_validated() -> None:
    from api.problems import ProblemError
    from api.routes.scenes import _check_options

    settings = Settings(storage="local")
    assert _check_options(settings, "", "single", None, 0, None, None, "feedforward").gs_method == "feedforward"
    assert _check_options(settings, "", "single", None, 0, None, None).gs_method is None
    with pytest.raises(ProblemError) as err:
        _check_options(settings, "", "single", None, 0, None, None, "magic")
    assert err.value.status == 422 and "gs_method" in err.value.detail
