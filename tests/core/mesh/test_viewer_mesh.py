"""The browser viewer draws the meshes `gld8tr run --mesh` writes (GLB and mesh PLY), in headless Chromium."""

from __future__ import annotations

import pytest
from browser import drawn_fraction, needs_browser, start_browser

from core.mesh.io import write_mesh
from core.mesh.reconstruct import scene_mesh
from tests.gaussians.conftest import room_scene
from tests.gaussians.test_viewer import _render


@pytest.fixture(scope="module")
def mesh_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("mesh_viewer")
    mesh = scene_mesh(room_scene(96, 72)).mesh
    assert len(mesh.faces) > 100
    write_mesh(out / "scene.glb", mesh)
    write_mesh(out / "scene.ply", mesh)
    return out, len(mesh.faces)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chromium")
    driver = start_browser(tmp / "profile", tmp, size=(480, 360))
    yield driver
    driver.quit()


@needs_browser
@pytest.mark.parametrize("name", ["scene.glb", pytest.param("scene.ply", marks=pytest.mark.slow)])
def test_browser_draws_mesh(mesh_files, chromium, name):
    folder, n_faces = mesh_files
    info, png = _render(chromium, folder / name)
    assert info["state"] == "ready" and info["kind"] == "triangles" and info["count"] == str(n_faces), info
    drawn, spread = drawn_fraction(png)
    assert drawn > 0.8 and spread > 10, (drawn, spread)  # the room's walls fill the input camera's view
