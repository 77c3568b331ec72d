"""Coloured point clouds as binary little-endian PLY, via ``plyfile``.

Layout: ``x y z`` float32, optional ``nx ny nz`` float32, ``red green blue`` uchar -- what MeshLab, CloudCompare,
Blender and the web viewers read. Writes are atomic (see :mod:`core.io.atomic`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyElement

from core.io.atomic import atomic_path


def vertex_array(points: np.ndarray, colors: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
    """Structured vertex array for ``plyfile``; points [N, 3] float, colors [N, 3] uint8, normals [N, 3]."""
    points = np.asarray(points, dtype=np.float32)
    colors = np.asarray(colors)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be [N, 3], got {points.shape}")
    if colors.shape != points.shape:
        raise ValueError(f"colors must be [N, 3] like points {points.shape}, got {colors.shape}")
    if colors.dtype != np.uint8:
        raise ValueError(f"colors must be uint8, got {colors.dtype}")
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if normals is not None:
        fields += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
    fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vertex = np.empty(points.shape[0], dtype=fields)
    vertex["x"], vertex["y"], vertex["z"] = points.T
    if normals is not None:
        normals = np.asarray(normals, dtype=np.float32)
        if normals.shape != points.shape:
            raise ValueError(f"normals must be [N, 3] like points, got {normals.shape}")
        vertex["nx"], vertex["ny"], vertex["nz"] = normals.T
    vertex["red"], vertex["green"], vertex["blue"] = colors.T
    return vertex


def write_ply(
    path: str | Path,
    points: np.ndarray,
    colors: np.ndarray,
    normals: np.ndarray | None = None,
    *,
    comments: list[str] | None = None,
) -> Path:
    """Write the cloud to ``path`` atomically; returns the path."""
    element = PlyElement.describe(vertex_array(points, colors, normals), "vertex")
    ply = PlyData([element], text=False, byte_order="<", comments=list(comments or []))
    path = Path(path)
    with atomic_path(path) as tmp:
        ply.write(str(tmp))
    return path


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(points [N, 3] float32, colors [N, 3] uint8 or None, normals [N, 3] float32 or None)``."""
    vertex = PlyData.read(str(path))["vertex"].data
    names = vertex.dtype.names or ()
    points = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1).astype(np.float32)
    colors = (
        np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1).astype(np.uint8)
        if {"red", "green", "blue"} <= set(names)
        else None
    )
    normals = (
        np.stack([vertex["nx"], vertex["ny"], vertex["nz"]], axis=1).astype(np.float32)
        if {"nx", "ny", "nz"} <= set(names)
        else None
    )
    return points, colors, normals
