"""The learned volumetric refiner (IOAR's idea): a 3D U-Net over the scene's volume that predicts its TSDF with
separate awareness of the outer (free-space) and inner (solid) side of surfaces.

Input per voxel (:func:`volume_features`, 16 channels): the fused TSDF of the (predicted) depth (0 where
unobserved), an observed flag and the log fusion weight, plus the frames' back-projected image evidence
(:mod:`core.mesh.photo`: mean and spread of RGB and gradients over the frames that see the voxel, how many do,
their mean depth). Why the image evidence: a monocular depth network's depth can be metres off, and then the fused
TSDF alone says almost nothing about where the true surface is; photo-consistency across posed frames does.
Output per voxel: a TSDF in [-1, 1] (tanh), an *outer* logit (the voxel lies in free space within the truncation
band of a surface) and an *inner* logit (within the band, inside a solid). IOAR predicts the two sides separately
because a thin structure (a table top) has two outer bands and a very thin inner one. At meshing time marching
cubes runs on the network's TSDF only where either band is predicted above the checkpoint's ``band_threshold``
(chosen on validation crops, not a fixed 0.5), over every voxel the frames see, not only near the fused surface.

``VolumeRefineNet.from_pretrained(dir)`` / ``save_pretrained(dir)``: ``config.json`` + ``model.safetensors``.
The shipped checkpoint is ``core/weights/gld8tr-recon/`` (trained by ``gld8tr train --config configs/recon.yaml``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from core.mesh.photo import PHOTO_CHANNELS, PhotoEvidence
from core.mesh.tsdf import BLOCK, TSDFVolume, pack_keys, unpack_keys

SHIPPED_RECON_DIR = Path(__file__).resolve().parent.parent / "weights" / "gld8tr-recon"


@dataclass
class RefineNetConfig:
    base_channels: int = 16
    levels: int = 2  # down-sampling steps (receptive field grows 2x each)
    voxel_size: float = 0.04  # the voxel size the network was trained at (metres)
    trunc_voxels: float = 3.0
    band_threshold: float = 0.5  # probability above which a voxel is meshed (set on validation by the trainer)
    in_channels: int = 3 + PHOTO_CHANNELS


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.SiLU(),
        nn.Conv3d(cout, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.SiLU(),
    )


def volume_features(tsdf: torch.Tensor, weight: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """Network input [B, 16, D, H, W] from fused tsdf / weight [B, D, H, W] and the back-projected evidence
    ``photo`` [B, 13, D, H, W] (:meth:`core.mesh.photo.PhotoEvidence.crop`): (tsdf if observed else 0, observed,
    log1p(weight) / log(256), photo...)."""
    obs = (weight > 0).float()
    return torch.cat([torch.stack([tsdf * obs, obs, torch.log1p(weight) / math.log(256.0)], 1), photo], 1)


class VolumeRefineNet(nn.Module):
    """3D U-Net: [B, 16, D, H, W] -> (tsdf [B, D, H, W] in [-1, 1], outer logit, inner logit). D, H, W must be
    multiples of 2**levels."""

    def __init__(self, config: RefineNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or RefineNetConfig()
        c = self.config.base_channels
        chans = [c * 2**i for i in range(self.config.levels + 1)]
        self.inp = _block(self.config.in_channels, chans[0])
        self.down = nn.ModuleList(_block(chans[i], chans[i + 1]) for i in range(self.config.levels))
        self.up = nn.ModuleList(_block(chans[i + 1] + chans[i], chans[i]) for i in reversed(range(self.config.levels)))
        self.head = nn.Conv3d(chans[0], 3, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        skips = [self.inp(x)]
        h = skips[0]
        for d in self.down:
            h = d(F.max_pool3d(h, 2))
            skips.append(h)
        for i, u in enumerate(self.up):
            skip = skips[-2 - i]
            h = u(torch.cat([F.interpolate(h, size=skip.shape[2:], mode="trilinear", align_corners=False), skip], 1))
        out = self.head(h)
        # No residual on the fused TSDF: with predicted depth it is too often wrong to be a useful prior.
        tsdf = torch.tanh(out[:, 0])
        return tsdf, out[:, 1], out[:, 2]

    # ------------------------------------------------------------------ save / load

    def save_pretrained(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps({"model_type": "gld8tr-recon", **asdict(self.config)}, indent=2))
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, path / "model.safetensors")

    @classmethod
    def from_pretrained(
        cls, path: str | Path = SHIPPED_RECON_DIR, device: str | torch.device = "cpu"
    ) -> VolumeRefineNet:
        from safetensors.torch import load_file

        path = Path(path)
        if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
            raise FileNotFoundError(f"{path} is not a refiner checkpoint (needs config.json and model.safetensors)")
        cfg = json.loads((path / "config.json").read_text())
        cfg.pop("model_type", None)
        model = cls(RefineNetConfig(**cfg))
        model.load_state_dict(load_file(path / "model.safetensors"), strict=True)
        return model.to(device).eval()


def band_probability(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """Probability that a voxel lies within the truncation band of a surface, either side."""
    return torch.maximum(torch.sigmoid(outer), torch.sigmoid(inner))


@torch.no_grad()
def refine_volume(volume: TSDFVolume, model: VolumeRefineNet, evidence: PhotoEvidence, *,
                  chunk: int = 64, halo: int = 8, threshold: float | None = None) -> TSDFVolume:
    """A new volume over every voxel the frames see (their frustums up to ``evidence.far``; chunks no two frames
    see are skipped): the network's TSDF with weight 1 where it predicts a surface band (probability above
    ``threshold``, default the checkpoint's ``band_threshold``) and 0 elsewhere, so marching cubes makes surface
    only there. Colours: the back-projected mean colour. ``volume`` is the fused (predicted-depth) volume."""
    dev = next(model.parameters()).device
    thr = model.config.band_threshold if threshold is None else threshold
    vs = volume.voxel_size
    out = TSDFVolume(vs, volume.trunc / vs, device=volume.device, with_color=True)
    lo, hi = evidence.bounds(vs)
    counts = np.ceil((hi - lo + 1) / chunk).astype(int)
    core = slice(halo, halo + chunk)
    for ci in np.ndindex(*counts):
        origin = lo + np.array(ci) * chunk - halo
        size = chunk + 2 * halo
        photo = evidence.crop(origin, size, vs)
        photo = photo.to(dev)
        seen2 = photo[PHOTO_CHANNELS - 2] > 0
        if not bool(seen2[core, core, core].any()):
            continue
        t, w, _ = volume.read_dense(torch.as_tensor(origin), size)
        x = volume_features(t[None].to(dev), w[None].to(dev), photo[None])
        tsdf, outer, inner = model(x)
        band = (band_probability(outer, inner)[0] > thr) & seen2
        bc = band[core, core, core].to(volume.device)
        if not bool(bc.any()):
            continue
        # Only the blocks holding band voxels (and their neighbours, so the cubes across block faces close).
        vd = volume.device
        r = torch.arange(chunk, device=vd)
        vidx = torch.stack(torch.meshgrid(r, r, r, indexing="ij"), -1)[bc] + torch.as_tensor(origin + halo, device=vd)
        blocks = torch.div(vidx, BLOCK, rounding_mode="floor")
        keys = torch.unique(pack_keys(blocks))
        rr = torch.arange(-1, 2, device=vd)
        nb = torch.stack(torch.meshgrid(rr, rr, rr, indexing="ij"), -1).reshape(-1, 3)
        keys = torch.unique(pack_keys((unpack_keys(keys)[:, None] + nb[None]).reshape(-1, 3)))
        col = (photo[0:3].permute(1, 2, 3, 0)[core, core, core] * 255.0).to(volume.device)
        out.write_dense(torch.as_tensor(origin + halo), tsdf[0][core, core, core].to(volume.device),
                        bc.float(), col, only_blocks=keys)
    return out
