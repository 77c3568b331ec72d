"""The standard 3DGS PLY (Inria layout): binary little endian, one float32 vertex row per Gaussian.

Field order: ``x y z nx ny nz f_dc_0..2 f_rest_0..(3K-4) opacity scale_0..2 rot_0..3`` where f_rest is
channel-major (all red coefficients, then green, then blue), opacity is a logit, scales are logs, rot_0 is w,
and normals are zeros. Positions are in the project's OpenCV world frame unless ``axes="opengl"`` is asked for
(see ``core.gaussians.axes``); the frame is also written as a PLY comment.

Writing builds the header and a numpy structured array by hand (exact layout, fast); reading goes through
plyfile so any conforming writer's file loads, with or without normals and with any SH degree.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from core.gaussians.axes import Axes, from_axes, to_axes
from core.gaussians.model import Gaussians, sh_degree_from_bases
from core.io.atomic import write_bytes_atomic

FRAME_COMMENT = "gld8tr frame {axes}: x right, y {y}, z {z}; world = input camera"


def ply_field_names(sh_degree: int = 3) -> list[str]:
    """Vertex property names, in file order, for Gaussians of ``sh_degree``."""
    rest = 3 * ((sh_degree + 1) ** 2 - 1)
    return (
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
        + [f"f_rest_{i}" for i in range(rest)]
        + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    )


def gaussian_ply_bytes(g: Gaussians, *, axes: Axes = "opencv") -> bytes:
    """The PLY file contents for ``g`` (converted to ``axes``)."""
    g = to_axes(g.detach().to("cpu"), axes)
    n = len(g)
    names = ply_field_names(g.sh_degree)
    rest = g.sh[:, 1:].transpose(1, 2).reshape(n, -1)  # [N, 3 * (K - 1)], channel-major
    cols = torch.cat(
        [g.means, torch.zeros(n, 3), g.sh[:, 0], rest, g.opacity_logits[:, None], g.log_scales, g.quats], dim=1
    )
    assert cols.shape[1] == len(names)
    data = np.ascontiguousarray(cols.numpy().astype("<f4"))
    y, z = ("down", "forward") if axes == "opencv" else ("up", "backward")
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"comment {FRAME_COMMENT.format(axes=axes, y=y, z=z)}\n"
        f"element vertex {n}\n" + "".join(f"property float {name}\n" for name in names) + "end_header\n"
    )
    return header.encode("ascii") + data.tobytes()


def save_gaussian_ply(g: Gaussians, path: str | os.PathLike[str], *, axes: Axes = "opencv") -> Path:
    """Write ``g`` as a 3DGS PLY at ``path`` (atomically); returns the path."""
    write_bytes_atomic(path, gaussian_ply_bytes(g, axes=axes))
    return Path(path)


def is_gaussian_ply(path_or_bytes: str | os.PathLike[str] | bytes) -> bool:
    """True when a PLY's vertex element carries 3DGS fields (a plain point cloud returns False)."""
    if isinstance(path_or_bytes, bytes):
        head = path_or_bytes[:65536]
    else:
        with Path(path_or_bytes).open("rb") as fh:
            head = fh.read(65536)
    end = head.find(b"end_header")
    text = head[: end if end >= 0 else len(head)].decode("ascii", errors="replace")
    return all(f"property float {k}\n" in text for k in ("f_dc_0", "opacity", "scale_0", "rot_0"))


def load_gaussian_ply(source: str | os.PathLike[str] | bytes, *, axes: Axes = "opencv") -> Gaussians:
    """Read a 3DGS PLY (file path or bytes) written in ``axes`` into project (OpenCV) Gaussians."""
    from plyfile import PlyData

    ply = PlyData.read(io.BytesIO(source)) if isinstance(source, bytes) else PlyData.read(str(source))
    v = ply["vertex"].data
    names = set(v.dtype.names or ())
    required = {"x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2"}
    missing = sorted(required - names)
    if missing:
        raise ValueError(f"not a Gaussian splat PLY: missing vertex properties {missing}")

    def stack(keys: list[str]) -> torch.Tensor:
        return torch.from_numpy(np.stack([np.asarray(v[k], dtype=np.float32) for k in keys], axis=1))

    n = len(v)
    rest_keys = sorted((k for k in names if k.startswith("f_rest_")), key=lambda k: int(k.rsplit("_", 1)[1]))
    k = len(rest_keys) // 3 + 1
    sh_degree_from_bases(k)  # validates the count
    sh = torch.zeros(n, k, 3)
    sh[:, 0] = stack(["f_dc_0", "f_dc_1", "f_dc_2"])
    if rest_keys:
        sh[:, 1:] = stack(rest_keys).reshape(n, 3, k - 1).transpose(1, 2)
    if all(f"rot_{i}" in names for i in range(4)):
        quats = stack([f"rot_{i}" for i in range(4)])
    else:
        quats = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1)
    g = Gaussians(
        means=stack(["x", "y", "z"]),
        quats=quats,
        log_scales=stack(["scale_0", "scale_1", "scale_2"]),
        opacity_logits=torch.from_numpy(np.asarray(v["opacity"], dtype=np.float32)),
        sh=sh,
    )
    return from_axes(g, axes)
