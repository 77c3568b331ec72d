"""The learned volumetric refiner (IOAR's idea): a 3D U-Net over a fused TSDF that predicts a cleaner TSDF with
separate awareness of the outer (free-space) and inner (solid) side of surfaces.

Input per voxel: the fused TSDF (0 where unobserved), an observed flag and the log fusion weight. Output per
voxel: a TSDF in [-1, 1] (tanh), an *outer* logit (the voxel lies in free space within the truncation band of a
surface) and an *inner* logit (within the band, inside a solid). IOAR predicts occupancy of the two sides
separately because a thin structure (a table top, a shelf) has two outer bands and a very thin inner one; one
"near surface" head blurs them into a single slab. At meshing time marching cubes runs only where either band is
predicted (the mask), so floaters from bad depth, which the network judges far from any surface, disappear.

``VolumeRefineNet.from_pretrained(dir)`` / ``save_pretrained(dir)``: ``config.json`` + ``model.safetensors``.
The shipped checkpoint is ``core/weights/gld8tr-recon/`` (trained by ``gld8tr train --config configs/recon.yaml``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.mesh.tsdf import BLOCK, TSDFVolume, pack_keys, unpack_keys

SHIPPED_RECON_DIR = Path(__file__).resolve().parent.parent / "weights" / "gld8tr-recon"


@dataclass
class RefineNetConfig:
    base_channels: int = 16
    levels: int = 2  # down-sampling steps (receptive field grows 2x each)
    voxel_size: float = 0.04  # the voxel size the network was trained at (metres)
    trunc_voxels: float = 3.0


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.SiLU(),
        nn.Conv3d(cout, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.SiLU(),
    )


def volume_features(tsdf: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Network input [B, 3, D, H, W] from fused tsdf / weight [B, D, H, W]: (tsdf if observed else 0, observed,
    log1p(weight) / log(256))."""
    obs = (weight > 0).float()
    return torch.stack([tsdf * obs, obs, torch.log1p(weight) / math.log(256.0)], 1)


class VolumeRefineNet(nn.Module):
    """3D U-Net: [B, 3, D, H, W] -> (tsdf [B, D, H, W] in [-1, 1], outer logit, inner logit). D, H, W must be
    multiples of 2**levels."""

    def __init__(self, config: RefineNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or RefineNetConfig()
        c = self.config.base_channels
        chans = [c * 2**i for i in range(self.config.levels + 1)]
        self.inp = _block(3, chans[0])
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
        # Residual on the observed TSDF: the network corrects the fusion rather than re-deriving it.
        tsdf = torch.tanh(out[:, 0] + 2.0 * x[:, 0])
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


@torch.no_grad()
def refine_volume(volume: TSDFVolume, model: VolumeRefineNet, *, chunk: int = 64, halo: int = 8,
                  threshold: float = 0.5, keep_observed: bool = False) -> TSDFVolume:
    """A new volume over the allocated blocks of ``volume`` dilated by one block: the network's TSDF where it
    predicts a surface band (outer or inner probability above ``threshold``; weight 1 there, 0 elsewhere, so
    marching cubes makes surface only inside the band). Colours are carried over from the fused volume.
    ``keep_observed``: keep the fused TSDF on observed voxels and use the network's only on unobserved ones (the
    heads then act as a learned filter of the fusion)."""
    dev = next(model.parameters()).device
    out = TSDFVolume(volume.voxel_size, volume.trunc / volume.voxel_size, device=volume.device,
                     with_color=volume.color is not None)
    if volume.num_blocks == 0:
        return out
    bc = volume.block_coords()
    r = torch.arange(-1, 2, device=bc.device)
    nb = torch.stack(torch.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    dilated_keys = torch.unique(pack_keys((bc[:, None] + nb[None]).reshape(-1, 3)))  # sorted
    dilated = unpack_keys(dilated_keys)
    per = chunk // BLOCK
    chunks = unpack_keys(torch.unique(pack_keys(torch.div(dilated, per, rounding_mode="floor"))))
    for c in chunks:
        origin = c * chunk - halo
        size = chunk + 2 * halo
        t, w, col = volume.read_dense(origin, size)
        x = volume_features(t[None].to(dev), w[None].to(dev))
        tsdf, outer, inner = model(x)
        band = (torch.sigmoid(outer) > threshold) | (torch.sigmoid(inner) > threshold)
        core_sl = slice(halo, halo + chunk)
        tc = tsdf[0][core_sl, core_sl, core_sl].to(volume.device)
        if keep_observed:
            obs = w[core_sl, core_sl, core_sl] > 0
            tc = torch.where(obs, t[core_sl, core_sl, core_sl], tc)
        wc = band[0][core_sl, core_sl, core_sl].float().to(volume.device)
        if not bool(wc.any()):
            continue
        cc = None if col is None else col[core_sl, core_sl, core_sl]
        out.write_dense(origin + halo, tc, wc, cc, only_blocks=dilated_keys)
    return out
