"""End to end: API (uvicorn) + `gld8tr worker` subprocess + Redis + SeaweedFS, real jobs on CPU.

Jobs use the classical ``nearest`` depth completer and the patchmatch inpainter on tiny images with an input
depth map, so a ``stage`` job takes a few seconds; ``360`` jobs (13 views) are slow enough to cancel or kill.
"""

from __future__ import annotations

import io
import json
import time

import httpx
import numpy as np
import pytest
from conftest import ApiServer, Worker
from PIL import Image
from plyfile import PlyData
from service_helpers import WebhookReceiver, bucket_keys, submit, wait_status

from service.webhooks import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

pytestmark = pytest.mark.service


def _wait_running_view(client: httpx.Client, job_id: str, min_done: int = 1, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/scenes/{job_id}").json()
        if body["status"] == "running" and body["progress"]["done"] >= min_done:
            return body
        assert body["status"] in ("queued", "running"), body
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} never got past view {min_done}")


def _download(client: httpx.Client, job: dict, name: str) -> bytes:
    resp = client.get(f"/scenes/{job['id']}/files/{name}")
    assert resp.status_code == 307, resp.text  # S3 mode: a presigned URL
    url = resp.headers["Location"]
    assert "X-Amz-Signature" in url
    data = httpx.get(url, timeout=30).content  # no API key: the signature is the authorisation
    assert len(data) == next(o["size"] for o in job["outputs"] if o["name"] == name)
    return data


def test_submit_poll_download_and_parse(api: ApiServer, worker: Worker) -> None:
    hook = WebhookReceiver()
    try:
        with api.client("a") as c:
            assert c.get("/readyz").status_code == 200
            resp = submit(c, mode="stage", prompt="a tiled floor", webhook=hook.url)
            assert resp.status_code == 202, resp.text
            job = wait_status(c, resp.json()["id"], {"succeeded", "failed"}, timeout=120)
            assert job["status"] == "succeeded", job
            assert job["progress"]["percent"] == 100 and job["started_at"] and job["finished_at"]
            assert job["created_at"] < job["started_at"] < job["finished_at"]  # queue wait, then run time
            assert {o["name"] for o in job["outputs"]} == {"scene.ply", "scene.json", "preview.png"}

            ply = PlyData.read(io.BytesIO(_download(c, job, "scene.ply")))
            vertex = ply["vertex"]
            xyz = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1)
            sidecar = json.loads(_download(c, job, "scene.json"))
            assert len(xyz) == sidecar["num_points"] > 96 * 64  # the input view plus inpainted ones
            views = job["progress"]["total"]
            assert sidecar["mode"] == "stage" and len(sidecar["cameras"]) == views > 1
            assert np.isfinite(xyz).all() and (xyz[:, 2] > 0).mean() > 0.9  # in front of the input camera
            preview = Image.open(io.BytesIO(_download(c, job, "preview.png")))
            assert preview.size == (min(views, 4) * 96, 64)

            metrics = c.get("/metrics").text
            assert 'gld8tr_jobs{status="succeeded"}' in metrics
            assert 'gld8tr_stage_duration_seconds_count{stage="inpaint"}' in metrics

        assert hook.event.wait(15), "webhook never called"
        headers, body = hook.calls[0]
        headers = {k.lower(): v for k, v in headers.items()}
        assert json.loads(body)["id"] == job["id"] and json.loads(body)["status"] == "succeeded"
        assert headers[ID_HEADER.lower()] == job["id"]
        ts = int(headers[TIMESTAMP_HEADER.lower()])
        assert verify("webhook-test-secret", job["id"], ts, body, headers[SIGNATURE_HEADER.lower()])
        assert not verify("wrong-secret", job["id"], ts, body, headers[SIGNATURE_HEADER.lower()])
    finally:
        hook.close()


def test_cancel_running_job_stops_it_and_deletes_files(
    api: ApiServer, worker: Worker, service_env: dict[str, str]
) -> None:
    with api.client("a") as c:
        # big enough that 13 views outlast a status poll on a fast CPU (at 128x96 all of them could finish in one)
        job_id = submit(c, mode="360", width=384, height=288, seed=3).json()["id"]
        _wait_running_view(c, job_id, min_done=1)
        resp = c.delete(f"/scenes/{job_id}")
        assert resp.status_code == 202
        job = wait_status(c, job_id, {"canceled", "succeeded", "failed"}, timeout=60)
        assert job["status"] == "canceled", job
        assert job["progress"]["done"] < job["progress"]["total"]  # stopped between views, not run to the end
        assert job["outputs"] == []
        assert bucket_keys(service_env, job_id) == []
        assert c.get(f"/scenes/{job_id}/files/scene.ply").status_code == 404


@pytest.mark.slow
def test_killed_worker_job_finishes_on_restarted_worker(api: ApiServer, worker: Worker) -> None:
    with api.client("a") as c:
        job_id = submit(c, mode="360", width=128, height=96, seed=4).json()["id"]
        _wait_running_view(c, job_id, min_done=1)
        worker.kill9()  # no ack was sent: the message stays in Redis' unacked set
        killed = time.monotonic()
        assert c.get(f"/scenes/{job_id}").json()["status"] == "running"
        # Queued again (and re-sent) once its lease (10 s in the tests) runs out, long before the broker's
        # visibility timeout (600 s here, 65 min by default) would redeliver it.
        requeued = wait_status(c, job_id, {"queued"}, timeout=60)
        assert time.monotonic() - killed < 60 and requeued["progress"]["stage"] == "requeued"
        worker.start()
        job = wait_status(c, job_id, {"succeeded", "failed", "canceled"}, timeout=150)
        assert job["status"] == "succeeded", (job, worker.log()[-3000:])
        assert job["progress"]["done"] == job["progress"]["total"] > 1
        ply = PlyData.read(io.BytesIO(_download(c, job, "scene.ply")))
        assert ply["vertex"].count == json.loads(_download(c, job, "scene.json"))["num_points"]
