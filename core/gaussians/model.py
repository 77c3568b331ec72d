"""The Gaussian scene representation shared by init, rendering, fitting and the exporters.

Parameters are stored the way the optimiser wants them (unconstrained): log scales, opacity logits, raw
quaternions, spherical-harmonic coefficients. That is also exactly what the 3DGS PLY stores, so export is a copy.

Frame: means live in the project's world frame, i.e. the input camera's OpenCV axes (x right, y down,
z forward). Quaternions are ``(w, x, y, z)`` and rotate Gaussian-local axes into that world frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

SH_C0 = 0.28209479177387814
"""Degree-0 spherical-harmonic constant: colour = 0.5 + SH_C0 * f_dc (the 3DGS convention)."""

MAX_SH_DEGREE = 3


def num_sh_bases(degree: int) -> int:
    """Coefficients per colour channel for SH ``degree`` (0 -> 1, 1 -> 4, 2 -> 9, 3 -> 16)."""
    if not 0 <= degree <= MAX_SH_DEGREE:
        raise ValueError(f"sh degree must lie in [0, {MAX_SH_DEGREE}], got {degree!r}")
    return (degree + 1) ** 2


def sh_degree_from_bases(bases: int) -> int:
    degree = round(math.sqrt(bases)) - 1
    if (degree + 1) ** 2 != bases or degree > MAX_SH_DEGREE:
        raise ValueError(f"{bases} SH coefficients per channel is not (d+1)^2 for d <= {MAX_SH_DEGREE}")
    return degree


def rgb_to_sh_dc(rgb: torch.Tensor) -> torch.Tensor:
    """Linear colour in [0, 1] -> degree-0 coefficient (inverse of ``0.5 + SH_C0 * f_dc``)."""
    return (rgb - 0.5) / SH_C0


def sh_dc_to_rgb(dc: torch.Tensor) -> torch.Tensor:
    return 0.5 + SH_C0 * dc


@dataclass
class Gaussians:
    """N anisotropic 3D Gaussians; all tensors share a device and dtype float32."""

    means: torch.Tensor  # [N, 3] world (OpenCV) coordinates
    quats: torch.Tensor  # [N, 4] (w, x, y, z), not necessarily normalised
    log_scales: torch.Tensor  # [N, 3] natural log of the standard deviations along the local axes
    opacity_logits: torch.Tensor  # [N] logit of the peak opacity
    sh: torch.Tensor  # [N, K, 3], K = (degree + 1)^2; sh[:, 0] is the DC term

    def __post_init__(self) -> None:
        n = self.means.shape[0]
        assert self.means.shape == (n, 3), f"means must be [N, 3], got {tuple(self.means.shape)}"
        assert self.quats.shape == (n, 4), f"quats must be [N, 4], got {tuple(self.quats.shape)}"
        assert self.log_scales.shape == (n, 3), f"log_scales must be [N, 3], got {tuple(self.log_scales.shape)}"
        assert self.opacity_logits.shape == (n,), f"opacity_logits must be [N], got {tuple(self.opacity_logits.shape)}"
        assert self.sh.ndim == 3 and self.sh.shape[0] == n and self.sh.shape[2] == 3, (
            f"sh must be [N, K, 3], got {tuple(self.sh.shape)}"
        )
        sh_degree_from_bases(self.sh.shape[1])

    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def sh_degree(self) -> int:
        return sh_degree_from_bases(self.sh.shape[1])

    @property
    def scales(self) -> torch.Tensor:
        """Standard deviations [N, 3] (metres)."""
        return self.log_scales.exp()

    @property
    def opacities(self) -> torch.Tensor:
        """Peak opacities [N] in (0, 1)."""
        return torch.sigmoid(self.opacity_logits)

    @property
    def rgb(self) -> torch.Tensor:
        """View-independent base colour [N, 3] in [0, 1] (from the DC term, clamped)."""
        return sh_dc_to_rgb(self.sh[:, 0]).clamp(0, 1)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def map(self, fn) -> Gaussians:  # noqa: ANN001 - a tensor -> tensor callable
        """A new ``Gaussians`` with ``fn`` applied to every tensor (``detach``, ``to``, indexing, ...)."""
        return Gaussians(**{k: fn(v) for k, v in self.tensors().items()})

    def detach(self) -> Gaussians:
        return self.map(lambda t: t.detach().clone())

    def to(self, device: torch.device | str) -> Gaussians:
        return self.map(lambda t: t.to(device))

    def subset(self, index: torch.Tensor) -> Gaussians:
        """Gaussians selected by a bool mask or an index tensor."""
        return self.map(lambda t: t[index])

    def with_sh_degree(self, degree: int) -> Gaussians:
        """Same Gaussians with the SH table truncated or zero-padded to ``degree``."""
        k = num_sh_bases(degree)
        sh = self.sh[:, :k]
        if sh.shape[1] < k:
            pad = sh.new_zeros(sh.shape[0], k - sh.shape[1], 3)
            sh = torch.cat([sh, pad], dim=1)
        return Gaussians(self.means, self.quats, self.log_scales, self.opacity_logits, sh)

    @staticmethod
    def concat(parts: list[Gaussians]) -> Gaussians:
        names = [f.name for f in fields(Gaussians)]
        return Gaussians(**{k: torch.cat([getattr(p, k) for p in parts], dim=0) for k in names})


def quat_to_rotmat_entries(quats: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The nine entries ``(r00, r01, r02, r10, ..., r22)`` [N] of the rotations of quaternions [N, 4] ``(w, x, y, z)``
    (normalised here): elementwise 3x3 algebra on them is faster on the CPU than on stacked [N, 3, 3] tensors."""
    q = quats / quats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    return (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [N, 3, 3] from quaternions [N, 4] ``(w, x, y, z)`` (normalised here)."""
    return torch.stack(quat_to_rotmat_entries(quats), dim=-1).reshape(*quats.shape[:-1], 3, 3)


def rotmat_to_quat(R: torch.Tensor) -> torch.Tensor:
    """Quaternions [N, 4] (w, x, y, z) of rotation matrices [N, 3, 3] (Shepperd's method, stable for all angles)."""
    m = R.reshape(-1, 9).unbind(-1)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m
    candidates = torch.stack(
        [
            torch.stack([1 + m00 + m11 + m22, m21 - m12, m02 - m20, m10 - m01], -1),
            torch.stack([m21 - m12, 1 + m00 - m11 - m22, m01 + m10, m02 + m20], -1),
            torch.stack([m02 - m20, m01 + m10, 1 - m00 + m11 - m22, m12 + m21], -1),
            torch.stack([m10 - m01, m02 + m20, m12 + m21, 1 - m00 - m11 + m22], -1),
        ],
        dim=1,
    )  # [N, 4 candidates, 4]; candidate k is 4 q_k q scaled; pick the best-conditioned (largest q_k)
    diag = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = diag.argmax(dim=-1)
    q = candidates[torch.arange(len(best)), best]
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.where(q[:, :1] < 0, -q, q)


def covariance_3d(quats: torch.Tensor, log_scales: torch.Tensor) -> torch.Tensor:
    """World covariances [N, 3, 3] = R S S^T R^T."""
    R = quat_to_rotmat(quats)
    M = R * log_scales.exp()[:, None, :]
    return M @ M.transpose(-1, -2)
