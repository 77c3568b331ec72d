"""Back-projected image evidence for the volumetric refiner (Atlas / IOAR's idea): what the frames say about a
voxel independently of any predicted depth.

Every voxel of a dense crop is projected into every frame; the frame's small fixed features at that pixel (RGB and
the luminance gradients) are averaged over the frames that see the voxel, together with their spread. On a
Lambertian surface seen by several frames the samples agree (low standard deviation: photo-consistency); a voxel
in free space or behind a surface projects onto different surfaces in different frames and its samples disagree.
The mean depth of the voxel in the frames that see it tells the network on which side the cameras are (free space
is the side towards them). No occlusion reasoning: like Atlas, the 3D network sorts that out from context.

Channels (:data:`PHOTO_CHANNELS`): mean RGB + mean (gx, gy) (5), their standard deviations (5), the fraction of
frames that see the voxel, a "seen by >= 2 frames" flag, and the mean camera depth / 5 m. Voxels seen by fewer
than two frames get zeros except for the fraction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

PHOTO_CHANNELS = 13
IMAGE_CHANNELS = 5
NEAR = 0.1
"""Closest camera depth (metres) at which a voxel counts as seen."""


def image_features(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """[5, H, W] float: RGB in [0, 1] and the Sobel gradients of luminance (x, y), x4 so they span ~[-1, 1]."""
    img = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image).float() / 255.0
    rgb = img.permute(2, 0, 1)
    lum = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])[None, None]
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8.0
    g = F.conv2d(F.pad(lum, (1, 1, 1, 1), mode="replicate"), torch.stack([kx, kx.T])[:, None])[0] * 4.0
    return torch.cat([rgb, g], 0)


def frustum_bounds(Ks: Sequence[np.ndarray], poses: Sequence[np.ndarray], height: int, width: int, far: float,
                   voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Voxel index box ``(lo, hi)`` (inclusive, int64 [3]) holding every frame's frustum up to ``far`` metres:
    the region whose voxels any frame can see, so the network looks wherever the true surface may be."""
    pts = []
    for K, pose in zip(Ks, poses, strict=True):
        K = np.asarray(K, np.float64)
        pose = np.asarray(pose, np.float64)
        for u, v in ((0, 0), (width, 0), (0, height), (width, height)):
            ray = np.array([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], 1.0])
            pts.append(pose[:3, :3] @ (ray * far) + pose[:3, 3])
        pts.append(pose[:3, 3])
    pts = np.stack(pts)
    return np.floor(pts.min(0) / voxel_size).astype(np.int64), np.ceil(pts.max(0) / voxel_size).astype(np.int64)


def choose_far(depths: Sequence[np.ndarray] | None, lo: float = 3.0, hi: float = 8.0) -> float:
    """How deep the refiner looks (metres): 1.25x the 95th percentile of the (predicted) depth, within [lo, hi]."""
    if depths is None:
        return hi
    vals = np.concatenate([np.asarray(d)[np.isfinite(d) & (np.asarray(d) > 0)].ravel() for d in depths])
    if vals.size == 0:
        return hi
    return float(np.clip(1.25 * np.percentile(vals, 95), lo, hi))


class PhotoEvidence:
    """The frames of a sequence, ready to be back-projected into any crop (:meth:`crop`)."""

    def __init__(self, images: Sequence[np.ndarray], Ks: Sequence[np.ndarray], poses: Sequence[np.ndarray],
                 far: float, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.Ks = [np.asarray(K, np.float64) for K in Ks]
        self.poses = [np.asarray(P, np.float64) for P in poses]
        self.height, self.width = np.asarray(images[0]).shape[:2]
        self.feats = torch.stack([image_features(im) for im in images]).to(self.device)  # [N, 5, H, W]
        self.K = torch.as_tensor(np.stack(Ks), dtype=torch.float32, device=self.device)
        c2w = torch.as_tensor(np.stack(poses), dtype=torch.float32, device=self.device)
        self.R_wc = c2w[:, :3, :3].transpose(1, 2)
        self.t_wc = -(self.R_wc @ c2w[:, :3, 3:])[..., 0]
        self.far = float(far)

    def bounds(self, voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
        """:func:`frustum_bounds` of these frames up to ``far``."""
        return frustum_bounds(self.Ks, self.poses, self.height, self.width, self.far, voxel_size)

    @property
    def num_frames(self) -> int:
        return int(self.feats.shape[0])

    @torch.no_grad()
    def crop(self, origin: np.ndarray | torch.Tensor, size: int, voxel_size: float) -> torch.Tensor:
        """[PHOTO_CHANNELS, S, S, S] for the dense crop of ``size``^3 voxels starting at voxel ``origin`` (voxel
        ``i`` centred at ``i * voxel_size``, as in :class:`core.mesh.tsdf.TSDFVolume`)."""
        dev = self.device
        origin = torch.as_tensor(np.asarray(origin), dtype=torch.long, device=dev)
        r = torch.arange(size, device=dev)
        idx = torch.stack(torch.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3) + origin
        p = idx.float() * voxel_size
        n_vox = p.shape[0]
        _, C, H, W = self.feats.shape
        cnt = torch.zeros(n_vox, device=dev)
        s1 = torch.zeros(C, n_vox, device=dev)
        s2 = torch.zeros(C, n_vox, device=dev)
        zsum = torch.zeros(n_vox, device=dev)
        for i in range(self.num_frames):
            pc = p @ self.R_wc[i].T + self.t_wc[i]
            z = pc[:, 2]
            zs = z.clamp_min(1e-6)
            u = self.K[i, 0, 0] * pc[:, 0] / zs + self.K[i, 0, 2]
            v = self.K[i, 1, 1] * pc[:, 1] / zs + self.K[i, 1, 2]
            seen = (z > NEAR) & (z < self.far) & (u >= 0) & (u <= W - 1) & (v >= 0) & (v <= H - 1)
            if not bool(seen.any()):
                continue
            grid = torch.stack([(u[seen] + 0.5) / W * 2 - 1, (v[seen] + 0.5) / H * 2 - 1], -1)
            f = F.grid_sample(self.feats[i : i + 1], grid[None, None], mode="bilinear", padding_mode="border",
                              align_corners=False)[0, :, 0]  # [C, M]
            cnt[seen] += 1
            s1[:, seen] += f
            s2[:, seen] += f * f
            zsum[seen] += z[seen]
        two = (cnt >= 2).float()
        n = cnt.clamp_min(1)
        mean = s1 / n
        std = (s2 / n - mean * mean).clamp_min(0).sqrt()
        out = torch.cat([mean * two, std * two, (cnt / self.num_frames)[None], two[None], (zsum / n / 5.0 * two)[None]])
        return out.reshape(PHOTO_CHANNELS, size, size, size)
