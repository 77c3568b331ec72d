"""Open3D's voxel-block TSDF (``open3d.t.geometry.VoxelBlockGrid``) behind the same interface as
:class:`core.mesh.tsdf.TSDFVolume`, so the two can be compared on speed, memory and accuracy
(``python -m benchmark.mesh_speed``) and swapped by name (``make_volume(backend=...)``).

Open3D is an optional dependency (extra ``mesh``: ``open3d-cpu``); importing this module without it raises a clear
error only when a volume is built.
"""

from __future__ import annotations

import numpy as np
import torch

from core.mesh.tsdf import MeshData


def _require_open3d():
    try:
        import open3d as o3d
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("the open3d backend needs `pip install open3d-cpu` (extra `mesh`)") from exc
    return o3d


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


class Open3DVolume:
    """``VoxelBlockGrid`` with tsdf / weight / color attributes, 8^3 blocks, CPU."""

    def __init__(self, voxel_size: float, trunc_voxels: float = 3.0, *, block_count: int = 50_000,
                 with_color: bool = True, device: str = "cpu") -> None:
        o3d = _require_open3d()
        self.o3d = o3d
        self.voxel_size = float(voxel_size)
        self.trunc_voxels = float(trunc_voxels)
        self.trunc = self.trunc_voxels * self.voxel_size
        self.with_color = with_color
        self.device = o3d.core.Device("CPU:0")
        names = ("tsdf", "weight", "color") if with_color else ("tsdf", "weight")
        dtypes = (o3d.core.float32,) * len(names)
        channels = ((1), (1), (3)) if with_color else ((1), (1))
        self.grid = o3d.t.geometry.VoxelBlockGrid(names, dtypes, channels, self.voxel_size, 8, block_count,
                                                  self.device)

    @property
    def num_blocks(self) -> int:
        return int(self.grid.hashmap().size())

    def nbytes(self) -> int:
        per_voxel = 4 * (5 if self.with_color else 2)
        return self.num_blocks * 512 * per_voxel

    def integrate(self, depth, K, cam_to_world, color=None, *, max_depth: float | None = None) -> None:
        o3d = self.o3d
        depth = np.ascontiguousarray(np.nan_to_num(_np(depth).astype(np.float32), nan=0.0, posinf=0.0))
        dmax = float(max_depth) if max_depth is not None else float(depth.max()) + 1.0
        intr = o3d.core.Tensor(_np(K).astype(np.float64))
        extr = o3d.core.Tensor(np.linalg.inv(_np(cam_to_world).astype(np.float64)))
        dimg = o3d.t.geometry.Image(o3d.core.Tensor(depth))
        coords = self.grid.compute_unique_block_coordinates(dimg, intr, extr, 1.0, dmax, self.trunc_voxels)
        self.grid.hashmap().activate(coords)
        if color is not None and self.with_color:
            cimg = o3d.t.geometry.Image(o3d.core.Tensor(np.ascontiguousarray(_np(color).astype(np.float32) / 255.0)))
            self.grid.integrate(coords, dimg, cimg, intr, intr, extr, 1.0, dmax, self.trunc_voxels)
        else:
            self.grid.integrate(coords, dimg, intr, extr, 1.0, dmax, self.trunc_voxels)

    def extract_mesh(self, min_weight: float = 0.5) -> MeshData:
        """Open3D keeps voxels whose weight exceeds ``min_weight`` (strictly): 0.5 keeps single observations."""
        mesh = self.grid.extract_triangle_mesh(weight_threshold=float(min_weight))
        if mesh.is_empty():
            return MeshData(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64), np.zeros((0, 3), np.uint8))
        v = mesh.vertex.positions.numpy().astype(np.float32)
        f = mesh.triangle.indices.numpy().astype(np.int64)
        colors = None
        if "colors" in mesh.vertex:
            colors = np.clip(mesh.vertex.colors.numpy() * 255 + 0.5, 0, 255).astype(np.uint8)
        return MeshData(v, f, colors)
