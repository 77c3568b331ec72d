"""Triangle meshes to and from disk: GLB (glTF 2.0 binary, via trimesh) and PLY (binary, via plyfile).

Axes: PLY keeps the project's OpenCV world frame (x right, y down, z forward), like the point-cloud PLY. GLB is
written in glTF's own axes (+y up, camera looking down -z): y and z negated, a rotation, so the triangle winding
(and with it the outward normals) is kept; :func:`read_mesh` undoes it. Both writes are atomic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import InputError
from core.io.atomic import atomic_path
from core.mesh.tsdf import MeshData

MESH_SUFFIXES = (".glb", ".ply")
_GLTF_FLIP = np.array([1.0, -1.0, -1.0], np.float32)


def check_mesh_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(f"mesh output {path} must end in .glb or .ply")
    return path


def write_mesh(path: str | Path, mesh: MeshData) -> Path:
    """Write ``mesh`` to ``.glb`` or ``.ply`` (by suffix), atomically; returns the path."""
    path = check_mesh_path(path)
    if path.suffix.lower() == ".glb":
        import trimesh

        colors = None if mesh.colors is None else np.concatenate(
            [mesh.colors, np.full((len(mesh.colors), 1), 255, np.uint8)], 1)
        tm = trimesh.Trimesh(mesh.vertices * _GLTF_FLIP, mesh.faces, vertex_colors=colors, process=False)
        data = tm.export(file_type="glb")
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        return path
    from plyfile import PlyData, PlyElement

    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if mesh.colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vertex = np.empty(len(mesh.vertices), dtype=fields)
    vertex["x"], vertex["y"], vertex["z"] = mesh.vertices.T
    if mesh.colors is not None:
        vertex["red"], vertex["green"], vertex["blue"] = mesh.colors.T
    face = np.empty(len(mesh.faces), dtype=[("vertex_indices", "i4", (3,))])
    face["vertex_indices"] = mesh.faces.astype(np.int32)
    ply = PlyData([PlyElement.describe(vertex, "vertex"), PlyElement.describe(face, "face")], text=False,
                  byte_order="<", comments=["gld8tr mesh, OpenCV axes (x right, y down, z forward), metres"])
    with atomic_path(path) as tmp:
        ply.write(str(tmp))
    return path


def read_mesh(path: str | Path) -> MeshData:
    """A ``.glb`` / ``.ply`` / ``.obj`` mesh as :class:`MeshData` in the project's OpenCV frame (GLB axes undone).
    Any format trimesh reads works; a scene's geometries are concatenated."""
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise InputError(f"mesh {path} does not exist")
    try:
        loaded = trimesh.load(str(path), process=False)
    except Exception as exc:  # trimesh raises many types for unreadable files
        raise InputError(f"{path}: not a readable mesh ({exc})") from exc
    if isinstance(loaded, trimesh.Scene):
        loaded = loaded.to_mesh() if hasattr(loaded, "to_mesh") else loaded.dump(concatenate=True)
    if not isinstance(loaded, trimesh.Trimesh):
        raise InputError(f"{path}: holds no triangle mesh")
    verts = np.asarray(loaded.vertices, np.float32)
    if path.suffix.lower() in (".glb", ".gltf"):
        verts = verts * _GLTF_FLIP
    colors = None
    vc = getattr(loaded.visual, "vertex_colors", None)
    if vc is not None and len(vc) == len(verts) and loaded.visual.kind == "vertex":
        colors = np.asarray(vc)[:, :3].astype(np.uint8)
    return MeshData(verts, np.asarray(loaded.faces, np.int64), colors)
