"""`gld8tr serve` embedded mode: one process, no Redis, no S3; files streamed from the data directory."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import REPO
from plyfile import PlyData
from service_helpers import free_port, stop_process, submit, wait_status, wait_until


@pytest.mark.slow
def test_embedded_serve_runs_jobs_and_streams_files(tmp_path: Path) -> None:
    port = free_port()
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "GLD8TR_DEPTH_MODEL": "nearest",
           "GLD8TR_DEVICE": "cpu", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )
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
