"""`gld8tr serve` embedded mode: one process, no Redis, no S3; files streamed from the data directory."""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path

import httpx
import pytest
from plyfile import PlyData
from service_helpers import free_port, start_serve, stop_process, submit, wait_status, wait_until


@pytest.mark.slow
def test_embedded_serve_runs_jobs_and_streams_files(tmp_path: Path) -> None:
    port = free_port()
    proc, log = start_serve(tmp_path, port, "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(url + "/readyz", timeout=2).status_code == 200, 120, "gld8tr serve", proc)
        with httpx.Client(base_url=url, timeout=30) as c:  # no keys configured: open service
            job = wait_status(c, submit(c, mode="stage").json()["id"], {"succeeded", "failed"}, timeout=120)
            assert job["status"] == "succeeded", job
            resp = c.get(f"/scenes/{job['id']}/files/scene.ply")
            assert resp.status_code == 200 and 'filename="scene.ply"' in resp.headers["content-disposition"]
            assert PlyData.read(io.BytesIO(resp.content))["vertex"].count > 96 * 64
            on_disk = list((tmp_path / "data").rglob("scene.ply"))
            assert len(on_disk) == 1 and on_disk[0].stat().st_size == len(resp.content)
            assert c.delete(f"/scenes/{job['id']}").status_code == 204
            assert not list((tmp_path / "data").rglob("scene.ply"))
    finally:
        stop_process(proc)
        log.close()


@pytest.mark.slow
def test_embedded_serve_killed_mid_job_finishes_it_after_a_restart(tmp_path: Path) -> None:
    """kill -9 while a job runs: the restarted process still knows every job and runs the interrupted one again."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc, log = start_serve(tmp_path, port, "serve1.log")
    try:
        wait_until(lambda: httpx.get(url + "/readyz", timeout=2).status_code == 200, 120, "gld8tr serve", proc)
        with httpx.Client(base_url=url, timeout=30) as c:
            first = wait_status(c, submit(c).json()["id"], {"succeeded", "failed"}, timeout=120)
            assert first["status"] == "succeeded", first
            long_id = submit(c, width=480, height=320, mode="360").json()["id"]  # ~10-30 s of PatchMatch
            wait_status(c, long_id, {"running", "succeeded", "failed"}, timeout=60)
        stop_process(proc, signal.SIGKILL)
    finally:
        stop_process(proc)
        log.close()
    on_disk = json.loads((tmp_path / "data" / "jobs" / f"{long_id}.json").read_text())
    assert on_disk["status"] == "running", "the job finished before the kill; the test needs a longer job"

    proc, log = start_serve(tmp_path, port, "serve2.log")
    try:
        wait_until(lambda: httpx.get(url + "/readyz", timeout=2).status_code == 200, 120, "gld8tr serve", proc)
        with httpx.Client(base_url=url, timeout=30) as c:
            again = c.get(f"/scenes/{first['id']}").json()
            assert again["status"] == "succeeded" and again["outputs"] == first["outputs"]
            assert c.get(f"/scenes/{first['id']}/files/scene.ply").status_code == 200
            redone = wait_status(c, long_id, {"succeeded", "failed"}, timeout=300)
            assert redone["status"] == "succeeded", redone
            ply = PlyData.read(io.BytesIO(c.get(f"/scenes/{long_id}/files/scene.ply").content))
            assert ply["vertex"].count > 480 * 320
    finally:
        stop_process(proc)
        log.close()
    assert "resubmitting 1 unfinished jobs" in (tmp_path / "serve2.log").read_text()
