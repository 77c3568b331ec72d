"""The fast CUDA path: gsplat's tiled rasteriser behind the same call as ``rasterize_reference``.

gsplat (Apache-2.0, the ``cuda`` extra; Dockerfile.gpu installs the pinned version) is imported lazily so that
CPU machines never need it. Two conventions differ from ours and are converted here, once:

* gsplat samples pixel (i, j) at ``(j + 0.5, i + 0.5)``; the project puts pixel centres at integers, so the
  principal point is shifted by +0.5 before the call;
* gsplat returns screen means with a leading camera axis; ``GaussianRender.screen_grads`` hides that.
"""

from __future__ import annotations

import torch

from core.camera import Camera
from core.gaussians.model import Gaussians
from core.gaussians.rasterize import ALPHA_MIN, EPS2D, NEAR, GaussianRender, camera_tensors


def gsplat_available() -> bool:
    """True when CUDA is usable and gsplat's compiled CUDA extension loads.

    Importing ``gsplat`` succeeds even when its kernels cannot be built (no nvcc, wrong arch); the extension is
    only loaded -- JIT-compiled on first use, which takes minutes once -- by ``gsplat.cuda._backend``, whose
    ``_C`` is None when that failed. Checking it here lets callers fall back to the torch rasteriser instead of
    failing mid-fit.
    """
    if not torch.cuda.is_available():
        return False
    try:
        from gsplat.cuda._backend import _C
    except Exception:  # noqa: BLE001 - any import failure (missing, ABI mismatch) means "not available"
        return False
    return _C is not None


def rasterize_gsplat(
    g: Gaussians,
    camera: Camera,
    *,
    background: torch.Tensor | tuple[float, float, float] | None = None,
    near: float = NEAR,
    eps2d: float = EPS2D,
) -> GaussianRender:
    """Render ``g`` (on a CUDA device) from ``camera`` with ``gsplat.rasterization``; same outputs as the reference."""
    from gsplat import rasterization

    device = g.means.device
    K, w2c, width, height = camera_tensors(camera, device)
    K = K.clone()
    K[0, 2] += 0.5
    K[1, 2] += 0.5
    bg = None
    if background is not None:
        bg = torch.as_tensor(background, dtype=torch.float32, device=device).reshape(1, 3)
    # Opacities below 1/255 can never pass the alpha threshold; the reference culls them too.
    renders, alphas, meta = rasterization(
        means=g.means,
        quats=g.quats,
        scales=g.scales,
        opacities=g.opacities,
        colors=g.sh,
        viewmats=w2c[None],
        Ks=K[None],
        width=width,
        height=height,
        near_plane=near,
        eps2d=eps2d,
        sh_degree=g.sh_degree,
        packed=False,
        backgrounds=bg,
        render_mode="RGB+ED",
    )
    means2d = meta["means2d"]  # [1, N, 2]
    if means2d.requires_grad:
        means2d.retain_grad()
    radii = meta["radii"][0]
    if radii.ndim == 1:  # older gsplat: one radius per Gaussian
        radii = radii[:, None].expand(-1, 2)
    visible = torch.nonzero((radii > 0).all(dim=-1) & (g.opacities.detach() > ALPHA_MIN)).squeeze(1)
    rgb = renders[0, ..., :3]
    depth = renders[0, ..., 3]
    alpha = alphas[0, ..., 0]
    return GaussianRender(rgb, alpha, depth, means2d, visible, radii[visible].long(), -1)
