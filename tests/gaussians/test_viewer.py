"""The browser viewer: page assembly, the local server, ``gld8tr view``, and real rendering in headless Chromium."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from browser import drawn_fraction, needs_browser, start_browser, wait_for
from PIL import Image

from core.gaussians import gaussians_from_points, save_gaussian_ply, save_splat, save_spz
from core.viewer import SPARK_VERSION, STATIC_FILES, viewer_dir, viewer_html
from core.viewer.server import ViewerServer


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, b"", ""


def test_viewer_assets_are_vendored():
    for name in (*STATIC_FILES, "index.html", "THREE_LICENSE.md", "SPARK_LICENSE.md"):
        assert (viewer_dir() / name).is_file(), name
    assert b"SPDX-License-Identifier: MIT" in (viewer_dir() / "three.module.js").read_bytes()[:300]
    # Spark's bundle carries no version of its own: its notice names the npm version and the file's hash.
    notice = (viewer_dir() / "SPARK_LICENSE.md").read_text()
    digest = hashlib.sha256((viewer_dir() / "spark.module.min.js").read_bytes()).hexdigest()
    assert f"@sparkjsdev/spark@{SPARK_VERSION}" in notice and digest in notice and "The MIT License" in notice


def test_viewer_html_fills_in_urls_and_config():
    page = viewer_html("/scenes/abc/gaussians.ply", static_url="/viewer", title="scene </script> abc", fov_deg=60)
    assert '"three": "/viewer/three.module.js"' in page and 'src="/viewer/viewer.js"' in page
    config = json.loads(re.search(r'id="gld8tr-config" type="application/json">(.*?)</script>', page).group(1))
    assert config == {"dataUrl": "/scenes/abc/gaussians.ply", "format": "auto", "axes": "opencv",
                      "title": "scene </script> abc", "fovDeg": 60.0}
    assert "{{" not in page
    with pytest.raises(ValueError):
        viewer_html("/x.ply", static_url='/"><script>')


def test_server_serves_only_its_routes(tmp_path):
    data = tmp_path / "scene one.ply"
    data.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 0\nend_header\n")
    with ViewerServer(data) as server:
        status, body, ctype = _get(server.url)
        assert status == 200 and ctype.startswith("text/html") and b"/data/scene%20one.ply" in body
        assert _get(server.url + "data/scene%20one.ply")[1] == data.read_bytes()
        status, body, ctype = _get(server.url + "static/three.core.js")
        assert status == 200 and ctype == "text/javascript" and len(body) > 100_000
        for bad in ("static/../__init__.py", "data/other.ply", "static/index.html", "etc/passwd"):
            assert _get(server.url + bad)[0] == 404, bad


def test_view_command_serves_and_rejects_bad_files(tmp_path):
    bad = tmp_path / "notes.ply"
    bad.write_text("hello")
    run = subprocess.run([sys.executable, "-m", "gld8tr", "view", str(bad), "--no-browser"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "not a PLY" in run.stderr

    good = tmp_path / "g.splat"
    good.write_bytes(b"\0" * 64)
    proc = subprocess.Popen([sys.executable, "-m", "gld8tr", "view", str(good), "--no-browser"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        status, body, _ = _get(url)
        assert status == 200 and b"/data/g.splat" in body
        assert _get(url + "data/g.splat")[1] == good.read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """One headless Chromium (SwiftShader WebGL) for the module; each start costs seconds."""
    tmp = tmp_path_factory.mktemp("chromium")
    driver = start_browser(tmp / "profile", tmp, size=(480, 360))
    yield driver
    driver.quit()


def _render(driver, path: Path) -> tuple[dict, bytes]:
    """Open ``path`` in the viewer (``gld8tr view``'s server); once the page says ``ready`` or ``error``, its
    state and a screenshot of the canvas."""
    with ViewerServer(path) as server:
        driver.get(server.url)
        wait_for(driver, lambda d: d.execute_script(
            "const s = document.body.dataset.state; return s === 'loading' ? null : s"), 60, "the viewer")
        info = driver.execute_script("return {...document.body.dataset, status: document.getElementById('status')"
                                     ".textContent}")
        png = driver.find_element("id", "view").screenshot_as_png
        driver.get("about:blank")
    return info, png


@pytest.fixture(scope="module")
def room_files(tmp_path_factory, room_48x36):
    """A generated scene (the exact room, 3 views) as the pipeline's point PLY and as Gaussian PLY / .splat."""
    from core.pipeline import save_scene

    out = tmp_path_factory.mktemp("viewer")
    scene = room_48x36
    save_scene(scene, out / "scene.ply")
    g = gaussians_from_points(scene.points, scene.colors, scene.cameras, sh_degree=3)
    save_gaussian_ply(g, out / "gaussians.ply")
    save_splat(g, out / "gaussians.splat")
    save_spz(g, out / "gaussians.spz")
    return out


@needs_browser
def test_browser_draws_gaussian_ply(room_files, chromium):
    info, png = _render(chromium, room_files / "gaussians.ply")
    assert info["state"] == "ready" and info["kind"] == "splats" and info["count"] == str(48 * 36 * 3), info
    drawn, spread = drawn_fraction(png)
    assert drawn > 0.9 and spread > 10, (drawn, spread)  # the room fills the input camera's view


@needs_browser
@pytest.mark.slow
@pytest.mark.parametrize("name", ["scene.ply", "gaussians.splat", "gaussians.spz"])
def test_browser_draws_points_and_splat_files(room_files, chromium, name):
    info, png = _render(chromium, room_files / name)
    assert info["state"] == "ready" and info["kind"] == ("points" if name == "scene.ply" else "splats"), info
    drawn, spread = drawn_fraction(png)
    assert drawn > 0.9 and spread > 10, (drawn, spread)  # points are drawn as large as their photo pixels


@needs_browser
def test_browser_reports_a_broken_file(tmp_path, chromium):
    bad = tmp_path / "broken.ply"
    bad.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 1000\nproperty float x\nend_header\n1234")
    info, _ = _render(chromium, bad)
    assert info["state"] == "error" and "truncated" in info["status"], info


def test_view_takes_the_start_fov_from_the_sidecar(room_files, tmp_path):
    from gld8tr.commands.view import sidecar_fov

    assert sidecar_fov(room_files / "scene.ply") == pytest.approx(53.13, abs=0.01)  # the pipeline's scene.json
    (tmp_path / "gs.json").write_text(json.dumps({"fov_deg": 41.5}))  # what gaussian_stage writes
    assert sidecar_fov(tmp_path / "gs.ply") == 41.5
    assert sidecar_fov(tmp_path / "none.ply") is None


@needs_browser
@pytest.mark.slow
def test_browser_draws_spz_like_the_same_splat(room_files, chromium):
    """.spz arrives in its own RUB axes: the picture must match the .splat one (in OpenCV axes)."""
    shots = {}
    for name in ("gaussians.splat", "gaussians.spz"):
        info, png = _render(chromium, room_files / name)
        assert info["state"] == "ready", info
        shots[name] = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float)
    a, b = shots["gaussians.splat"], shots["gaussians.spz"]
    assert np.abs(a - b).mean() < 5 < np.abs(a[::-1] - b).mean(), (np.abs(a - b).mean(), np.abs(a[::-1] - b).mean())
