"""The browser viewer draws the meshes `gld8tr run --mesh` writes (GLB and mesh PLY), in headless Chromium."""

from __future__ import annotations

import pytest

from core.mesh.io import write_mesh
from core.mesh.reconstruct import scene_mesh
from core.viewer.server import ViewerServer
from tests.gaussians.conftest import room_scene
from tests.gaussians.test_viewer import _drawn_fraction, _screenshot, needs_chromium


@pytest.fixture(scope="module")
def mesh_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("mesh_viewer")
    mesh = scene_mesh(room_scene(96, 72)).mesh
    assert len(mesh.faces) > 100
    write_mesh(out / "scene.glb", mesh)
    write_mesh(out / "scene.ply", mesh)
    return out


@needs_chromium
@pytest.mark.parametrize("name", ["scene.glb", pytest.param("scene.ply", marks=pytest.mark.slow)])
def test_browser_draws_mesh(mesh_files, tmp_path, name):
    with ViewerServer(mesh_files / name) as server:
        dom = _screenshot(server.url, tmp_path / "dom.png", tmp_path / "profile-dom", dump_dom=True)
        assert 'data-state="ready"' in dom and 'data-kind="triangles"' in dom, dom[-1500:]
        _screenshot(server.url, tmp_path / "shot.png", tmp_path / "profile-shot")
    drawn, spread = _drawn_fraction(tmp_path / "shot.png")
    assert drawn > 0.8 and spread > 10, (drawn, spread)  # the room's walls fill the input camera's view
