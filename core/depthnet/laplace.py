"""Harmonic (Laplace) hole filling in torch, on the device of the tensors: the GPU twin of the sparse solve.

:func:`core.fill.laplacian_fill` solves the same system exactly with a sparse LU on the CPU
(scipy); on a GPU that would mean a host round trip in the middle of the network's forward. This solves it with
the conjugate gradient method, batched, on any device: the system (each unknown pixel equals the mean of its
in-image 4-neighbours, known pixels fixed) is symmetric positive definite, so CG converges, and starting from a
push-pull fill (already smooth and close) it needs a few hundred matrix-free iterations at the network's working
resolution. Tests check it against the scipy solve on the CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_RTOL = 1e-7
"""Stop when the residual norm falls below this fraction of the right-hand side's (per image)."""
CHECK_EVERY = 32
"""Iterations between convergence checks (each check reads one number back from the device)."""


def _neighbour_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of the 4-neighbours inside the image of every pixel of ``x`` [B,1,H,W] (outside counts 0)."""
    p = F.pad(x, (1, 1, 1, 1))
    return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]


def laplacian_fill_torch(
    values: torch.Tensor, known: torch.Tensor, *, rtol: float = DEFAULT_RTOL, max_iter: int | None = None
) -> torch.Tensor:
    """Harmonic interpolation of ``values`` [B,1,H,W] into the pixels where ``known`` ({0,1} or bool) is False.

    Known pixels come back exactly; images with nothing known come back as 0 (as the scipy twin's caller does).
    Computed in float64 where the device has it (the running sums of CG need it), returned in ``values``' dtype.
    """
    B, _, H, W = values.shape
    dtype = torch.float32 if values.device.type == "mps" else torch.float64
    k = known > 0.5
    unknown = (~k).to(dtype)
    v = torch.where(k, values.to(dtype), torch.zeros((), dtype=dtype, device=values.device))
    degree = _neighbour_sum(torch.ones((1, 1, H, W), dtype=dtype, device=values.device))

    def apply(x: torch.Tensor) -> torch.Tensor:  # A x on the unknown pixels (x is 0 on known ones)
        return (degree * x - _neighbour_sum(x)) * unknown

    rhs = _neighbour_sum(v) * unknown
    from core.depthnet.model import push_pull_fill

    x = push_pull_fill(v, k.to(dtype)) * unknown  # a smooth start close to the answer
    r = rhs - apply(x)
    p = r.clone()
    rr = (r * r).sum(dim=(1, 2, 3), keepdim=True)
    stop = (rtol**2) * (rhs * rhs).sum(dim=(1, 2, 3), keepdim=True).clamp_min(1e-300)
    limit = max_iter if max_iter is not None else 20 * (H + W)
    for it in range(1, limit + 1):
        ap = apply(p)
        pap = (p * ap).sum(dim=(1, 2, 3), keepdim=True)
        alpha = torch.where(pap > 0, rr / pap.clamp_min(1e-300), torch.zeros_like(pap))
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = (r * r).sum(dim=(1, 2, 3), keepdim=True)
        beta = torch.where(rr > 0, rr_new / rr.clamp_min(1e-300), torch.zeros_like(rr))
        p = r + beta * p
        rr = rr_new
        if it % CHECK_EVERY == 0 and bool((rr <= stop).all()):
            break
    out = torch.where(k, v, x)
    has_known = k.flatten(1).any(dim=1)[:, None, None, None]
    return torch.where(has_known, out, torch.zeros_like(out)).to(values.dtype)
