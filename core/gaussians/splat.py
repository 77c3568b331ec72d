"""The ``.splat`` format (antimatter15's web viewer): 32 bytes per Gaussian, no header.

Row layout (little endian): position 3 x float32, scale 3 x float32 (linear, i.e. exp of the log scale),
colour RGBA 4 x uint8 (RGB = the DC colour 0.5 + C0 * f_dc, A = sigmoid(opacity)), rotation 4 x uint8
(``q / |q| * 128 + 128``, w first). Rows are sorted by ``exp(sum of log scales) * opacity``, largest first,
which is what the format's viewers expect. View-dependent colour (SH above degree 0) is dropped, and colours
and rotations are quantised to 8 bits, so a round trip is lossy by at most those quantisation steps.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from core.gaussians.axes import Axes, from_axes, to_axes
from core.gaussians.model import Gaussians, rgb_to_sh_dc
from core.io.atomic import write_bytes_atomic

SPLAT_ROW = np.dtype(
    [("position", "<f4", (3,)), ("scale", "<f4", (3,)), ("rgba", "u1", (4,)), ("rot", "u1", (4,))]
)
assert SPLAT_ROW.itemsize == 32


def splat_bytes(g: Gaussians, *, axes: Axes = "opencv") -> bytes:
    """The ``.splat`` contents for ``g`` (converted to ``axes``), rows sorted as the format expects."""
    g = to_axes(g.detach().to("cpu"), axes)
    order = torch.argsort(-(g.log_scales.sum(dim=1).exp() * g.opacities), stable=True)
    g = g.subset(order)
    rows = np.zeros(len(g), dtype=SPLAT_ROW)
    rows["position"] = g.means.numpy()
    rows["scale"] = g.scales.numpy()
    rgba = torch.cat([g.rgb, g.opacities[:, None]], dim=1)
    rows["rgba"] = (rgba * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    q = g.quats / g.quats.norm(dim=1, keepdim=True).clamp_min(1e-12)
    rows["rot"] = (q * 128 + 128).round().clamp(0, 255).to(torch.uint8).numpy()
    return rows.tobytes()


def save_splat(g: Gaussians, path: str | os.PathLike[str], *, axes: Axes = "opencv") -> Path:
    write_bytes_atomic(path, splat_bytes(g, axes=axes))
    return Path(path)


def load_splat(source: str | os.PathLike[str] | bytes, *, axes: Axes = "opencv") -> Gaussians:
    """Read a ``.splat`` (path or bytes) written in ``axes`` into project Gaussians (SH degree 0)."""
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    if len(raw) % SPLAT_ROW.itemsize:
        raise ValueError(f".splat data must be a multiple of 32 bytes, got {len(raw)}")
    rows = np.frombuffer(raw, dtype=SPLAT_ROW)
    rgba = torch.from_numpy(rows["rgba"].astype(np.float32) / 255.0)
    # Alpha 0 and 255 have no finite logit; keep them half a quantisation step inside (0, 1).
    alpha = rgba[:, 3].clamp(0.5 / 255, 1 - 0.5 / 255)
    sh = rgb_to_sh_dc(rgba[:, :3])[:, None, :]
    g = Gaussians(
        means=torch.from_numpy(rows["position"].astype(np.float32)),
        quats=torch.from_numpy((rows["rot"].astype(np.float32) - 128.0) / 128.0),
        log_scales=torch.from_numpy(rows["scale"].astype(np.float32)).clamp_min(1e-12).log(),
        opacity_logits=torch.logit(alpha),
        sh=sh,
    )
    return from_axes(g, axes)
