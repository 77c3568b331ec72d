"""Real spherical harmonics up to degree 3, in the ordering and sign convention the 3DGS PLY uses.

Why our own: the colour of a Gaussian seen along ``dirs`` must be evaluated identically by the CPU reference
rasteriser, the fitting loop and (through the file) by other viewers, so the basis is written out once here.
"""

from __future__ import annotations

import torch

from core.gaussians.model import SH_C0

_C1 = 0.4886025119029199
_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def sh_basis(degree: int, dirs: torch.Tensor) -> torch.Tensor:
    """Basis values [N, (degree+1)^2] for unit directions [N, 3]."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        out += [-_C1 * y, _C1 * z, -_C1 * x]
    if degree >= 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        out += [
            _C2[0] * xy,
            _C2[1] * yz,
            _C2[2] * (2 * zz - xx - yy),
            _C2[3] * xz,
            _C2[4] * (xx - yy),
        ]
    if degree >= 3:
        out += [
            _C3[0] * y * (3 * xx - yy),
            _C3[1] * xy * z,
            _C3[2] * y * (4 * zz - xx - yy),
            _C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            _C3[4] * x * (4 * zz - xx - yy),
            _C3[5] * z * (xx - yy),
            _C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(out, dim=-1)


def eval_sh_colors(sh: torch.Tensor, dirs: torch.Tensor, degree: int | None = None) -> torch.Tensor:
    """RGB [N, 3] of Gaussians with coefficients ``sh`` [N, K, 3] seen along ``dirs`` [N, 3] (camera -> mean).

    Uses the first ``(degree+1)^2`` coefficients (all when ``degree`` is None); adds the 0.5 offset and clamps
    below at 0 like 3DGS and gsplat, so dark colours stay differentiable above zero only.
    """
    k = sh.shape[1] if degree is None else (degree + 1) ** 2
    d = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    basis = sh_basis(round(k**0.5) - 1, d)  # [N, k]
    # A batched [1, k] x [k, 3] product: a broadcast multiply summed over k would make the backward reduce over
    # the size-3 colour axis, the slowest reduction a CPU does (measured: it dominated the rasteriser's backward).
    return (torch.bmm(basis[:, None, :], sh[:, :k]).squeeze(1) + 0.5).clamp_min(0.0)


class _GatheredShColors(torch.autograd.Function):
    """``sum_k basis[m, k] sh[rows[m], k, :]``: the linear part of the SH colour of the Gaussians ``rows``.

    Hand-written backward: autograd would take the gather's gradient by scattering into a zero tensor the size
    of ``sh`` and the batched product's by a batched matmul of [1, 3] x [k, 1] outer products, both several
    times slower on the CPU than writing ``basis x grad`` straight into the full-size gradient (``rows`` are
    distinct).
    """

    @staticmethod
    def forward(ctx, sh, rows, basis):  # noqa: ANN001, ANN205
        k = basis.shape[1]
        coeffs = sh.index_select(0, rows)[:, :k]  # [M, k, 3]
        ctx.save_for_backward(coeffs, rows, basis)
        ctx.sh_shape = sh.shape
        return torch.bmm(basis[:, None, :], coeffs).squeeze(1)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        coeffs, rows, basis = ctx.saved_tensors
        n, n_coeffs, _ = ctx.sh_shape
        m, k = basis.shape
        grad_sh = grad_basis = None
        if ctx.needs_input_grad[0]:
            # Scatter the [M, k] basis and [M, 3] grad (small) and multiply once into the full gradient.
            padded = torch.nn.functional.pad(basis, (0, n_coeffs - k))
            b_full = basis.new_zeros(n, n_coeffs).index_copy_(0, rows, padded)
            g_full = grad.new_zeros(n, 3).index_copy_(0, rows, grad)
            grad_sh = b_full[:, :, None] * g_full[:, None, :]
        if ctx.needs_input_grad[2]:
            grad_basis = torch.bmm(coeffs, grad[:, :, None]).squeeze(2)
        return grad_sh, None, grad_basis


def eval_sh_colors_of(sh: torch.Tensor, rows: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """``eval_sh_colors(sh[rows], dirs)`` (all coefficients) without materialising ``sh[rows]`` for autograd.

    ``sh`` [N, K, 3], ``rows`` [M] distinct int64 indices, ``dirs`` [M, 3]; RGB [M, 3].
    """
    k = sh.shape[1]
    d = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    basis = sh_basis(round(k**0.5) - 1, d)  # [M, k]
    return (_GatheredShColors.apply(sh, rows, basis) + 0.5).clamp_min(0.0)
