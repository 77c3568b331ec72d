"""SplatterNet: one U-Net pass turns an image (and optionally its depth) into one 3D Gaussian per pixel.

Parametrisation (why it looks like this). Every output is a residual on a geometric guess, and the last layer
starts at zero, so an untrained net already produces a sensible scene and a *known depth map lands exactly on
its unprojected points* (the geometric oracle of the tests):

* depth (z along the pixel's ray): ``log z = base + head``, where ``base`` is ``log`` of the input depth where
  it is known and the per-image reference scale ``s`` elsewhere (median known depth, or ``mono_log_scale``
  without depth). Known depth enters as ``log(depth / s)``, so scaling the input depth by ``k`` scales the
  whole predicted scene by ``k``: the depth variants need not guess absolute scale;
* position: the unprojected point plus an offset of at most ``max_offset`` x depth, or ``offset_px`` pixel
  footprints (tanh-bounded);
* scale: ``init_scale_px`` pixel footprints at that depth (``z / f``) times ``exp(head)``; rotation: a raw
  quaternion around identity; opacity: a logit around ``init_opacity``;
* colour: SH DC of the input pixel's colour plus a residual (degree-1 terms start at zero).

Frames: the Gaussians are built in the camera frame (OpenCV axes) and moved to the world by ``cam_to_world``.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from core.camera import pixel_grid
from core.depthnet.model import GlobalContext, ResBlock, _norm
from core.errors import InputError, ModelNotAvailableError
from core.gaussians.model import Gaussians, rgb_to_sh_dc, rotmat_to_quat
from core.splatter.config import MODEL_TYPE, SplatterConfig

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
METRICS_NAME = "metrics.json"

_RGB_MEAN = 0.45
_RGB_STD = 0.25


class SplatterNet(nn.Module):
    """``forward(rgb [B,3,H,W] in [0,1], K [B,3,3], depth [B,1,H,W] metres or None (0 = unknown))`` -> a dict of
    per-pixel Gaussian maps (``means`` [B,H,W,3] camera frame, ``quats`` [B,H,W,4], ``log_scales`` [B,H,W,3],
    ``opacity_logits`` [B,H,W], ``sh`` [B,H,W,K,3], ``depth`` [B,H,W]); :meth:`gaussians` turns one image's maps
    into :class:`~core.gaussians.model.Gaussians`. Any ``H, W`` works (padded to the U-Net stride, cropped)."""

    def __init__(self, config: SplatterConfig | None = None) -> None:
        super().__init__()
        self.config = config or SplatterConfig()
        cfg = self.config
        chans = [cfg.base_channels * m for m in cfg.channel_mults]
        self.stem = nn.Conv2d(cfg.in_channels, chans[0], 3, padding=1)
        self.enc = nn.ModuleList([ResBlock(chans[0], cfg.groups)])
        self.down = nn.ModuleList()
        for c_in, c_out in zip(chans[:-1], chans[1:], strict=True):
            self.down.append(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1))
            self.enc.append(ResBlock(c_out, cfg.groups))
        self.mid = nn.Sequential(GlobalContext(chans[-1]), ResBlock(chans[-1], cfg.groups))
        self.fuse = nn.ModuleList()
        self.dec = nn.ModuleList()
        for c_deep, c_skip in zip(reversed(chans[1:]), reversed(chans[:-1]), strict=True):
            self.fuse.append(nn.Conv2d(c_deep + c_skip, c_skip, 3, padding=1))
            self.dec.append(ResBlock(c_skip, cfg.groups))
        self.head = nn.Sequential(
            _norm(chans[0], cfg.groups), nn.SiLU(), nn.Conv2d(chans[0], cfg.out_channels, 3, padding=1)
        )
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    # ----------------------------------------------------------------------------------------------- inputs
    def check_inputs(self, rgb: torch.Tensor, K: torch.Tensor, depth: torch.Tensor | None) -> None:
        """Clear errors for the mistakes a caller makes (channel count, depth size, intrinsics shape)."""
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise InputError(f"rgb must be [B, 3, H, W] (3 channels), got {tuple(rgb.shape)}")
        B, _, H, W = rgb.shape
        if K.shape != (B, 3, 3):
            raise InputError(f"K must be [{B}, 3, 3], got {tuple(K.shape)}")
        if depth is not None and depth.shape != (B, 1, H, W):
            raise InputError(f"depth must be [{B}, 1, {H}, {W}] like the image, got {tuple(depth.shape)}")

    def _inputs(
        self, rgb: torch.Tensor, K: torch.Tensor, depth: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(net input, rays [B,2,H,W], base log depth [B,1,H,W], reference log scale [B])``."""
        B, _, H, W = rgb.shape
        u, v = pixel_grid(H, W, rgb.device)
        rx = (u[None] - K[:, 0, 2, None, None]) / K[:, 0, 0, None, None]
        ry = (v[None] - K[:, 1, 2, None, None]) / K[:, 1, 1, None, None]
        rays = torch.stack([rx, ry], dim=1).to(rgb.dtype)
        channels = [(rgb - _RGB_MEAN) / _RGB_STD, rays]
        log_s = torch.full((B,), self.config.mono_log_scale, device=rgb.device, dtype=rgb.dtype)
        base = log_s[:, None, None, None].expand(B, 1, H, W)
        if self.config.depth_input:
            d = torch.zeros_like(rgb[:, :1]) if depth is None else depth.to(rgb.dtype)
            known = d > 0
            logd = torch.where(known, d.clamp_min(1e-6).log(), torch.full_like(d, float("nan")))
            med = logd.flatten(1).nanmedian(dim=1).values
            any_known = known.flatten(1).any(dim=1)
            log_s = torch.where(any_known, med, log_s)
            m = self.config.max_log_ratio
            ratio = torch.where(known, (logd - log_s[:, None, None, None]).clamp(-m, m), torch.zeros_like(d))
            flag = any_known.to(rgb.dtype)[:, None, None, None].expand(B, 1, H, W)
            channels += [ratio, known.to(rgb.dtype), flag]
            base = torch.where(known, logd, log_s[:, None, None, None].expand(B, 1, H, W))
        return torch.cat(channels, dim=1), rays, base, log_s

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[-2:]
        s = self.config.stride
        ph, pw = (-H) % s, (-W) % s
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < H and pw < W else "replicate")
        return x

    def unet(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[-2:]
        h = self.enc[0](self.stem(self._pad(x)))
        skips = [h]
        for down, block in zip(self.down, self.enc[1:], strict=True):
            h = block(down(h))
            skips.append(h)
        h = self.mid(h)
        for fuse, block, skip in zip(self.fuse, self.dec, reversed(skips[:-1]), strict=True):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = block(fuse(torch.cat([h, skip], dim=1)))
        return self.head(h)[..., :H, :W]

    # ------------------------------------------------------------------------------------------- forward
    def forward(
        self, rgb: torch.Tensor, K: torch.Tensor, depth: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        cfg = self.config
        self.check_inputs(rgb, K, depth)
        x, rays, base, _ = self._inputs(rgb, K, depth)
        out = self.unet(x).permute(0, 2, 3, 1)  # [B, H, W, C]
        B, H, W, _ = out.shape
        d_head, off_head, op_head = out[..., 0], out[..., 1:4], out[..., 4]
        sc_head, q_head, sh_head = out[..., 5:8], out[..., 8:12], out[..., 12:]
        log_z = (base[:, 0] + d_head).clamp(math.log(cfg.min_depth), math.log(cfg.max_depth))
        z = log_z.exp()
        r = rays.permute(0, 2, 3, 1)
        on_ray = torch.cat([r * z[..., None], z[..., None]], dim=-1)
        focal = K[:, 0, 0].to(z)[:, None, None, None]
        log_base = torch.log(z[..., None] / focal * cfg.init_scale_px)
        if cfg.ray_aligned:
            means = on_ray
            lateral = sc_head[..., :2].mean(dim=-1, keepdim=True).clamp(-6.0, cfg.lateral_scale_gain)
            log_scales = log_base + torch.cat([lateral, lateral, sc_head[..., 2:].clamp(-6.0, cfg.ray_scale_gain)], -1)
            quats = ray_quaternion(r)
        else:
            bound = cfg.max_offset * z[..., None] if cfg.offset_px is None else cfg.offset_px * z[..., None] / focal
            means = on_ray + bound * torch.tanh(off_head)
            log_scales = log_base + sc_head.clamp(-6.0, cfg.max_scale_gain)
            quats = q_head + torch.tensor([1.0, 0.0, 0.0, 0.0], device=out.device, dtype=out.dtype)
        opacity_logits = op_head + math.log(cfg.init_opacity / (1 - cfg.init_opacity))
        sh = sh_head.reshape(B, H, W, cfg.sh_bases, 3)
        dc = rgb_to_sh_dc(rgb.permute(0, 2, 3, 1))
        sh = torch.cat([sh[..., :1, :] + dc[..., None, :], sh[..., 1:, :]], dim=-2)
        return {"means": means, "quats": quats, "log_scales": log_scales, "opacity_logits": opacity_logits,
                "sh": sh, "depth": z}

    @staticmethod
    def gaussians(
        maps: dict[str, torch.Tensor], index: int = 0, cam_to_world: torch.Tensor | None = None,
        keep: torch.Tensor | None = None,
    ) -> Gaussians:
        """Image ``index``'s per-pixel Gaussians (row-major pixels), moved to the world by ``cam_to_world``
        [4, 4]; ``keep`` [H, W] bool selects pixels."""
        m = {k: v[index] for k, v in maps.items() if k != "depth"}
        if keep is not None:
            m = {k: v[keep] for k, v in m.items()}
        else:
            m = {k: v.reshape(-1, *v.shape[2:]) for k, v in m.items()}
        means, quats = m["means"], m["quats"]
        if cam_to_world is not None:
            pose = cam_to_world.to(means)
            means = means @ pose[:3, :3].T + pose[:3, 3]
            quats = quat_multiply(rotmat_to_quat(pose[None, :3, :3]), quats)
        return Gaussians(means, quats, m["log_scales"], m["opacity_logits"], m["sh"])

    # --------------------------------------------------------------------------------------- persistence
    def save_pretrained(self, directory: str | Path, *, metrics: dict | None = None, half: bool = False) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (+ ``metrics.json``) into ``directory`` (atomically)."""
        from safetensors.torch import save

        from core.io.atomic import write_bytes_atomic

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.config.save(out / CONFIG_NAME)
        state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
                 for k, v in self.state_dict().items()}
        write_bytes_atomic(out / WEIGHTS_NAME, save(state, metadata={"format": "pt", "model_type": MODEL_TYPE}))
        if metrics is not None:
            write_bytes_atomic(out / METRICS_NAME, (json.dumps(metrics, indent=2, sort_keys=True) + "\n").encode())
        return out

    @classmethod
    def from_pretrained(cls, path_or_hub_id: str | Path, *, device: str | torch.device = "cpu") -> SplatterNet:
        """Load a folder written by :meth:`save_pretrained` (or a hub repo id holding one); strict."""
        from safetensors.torch import load_file

        directory = _resolve(path_or_hub_id)
        model = cls(SplatterConfig.load(directory / CONFIG_NAME))
        state = load_file(str(directory / WEIGHTS_NAME))
        ref = model.state_dict()
        missing, unexpected = sorted(set(ref) - set(state)), sorted(set(state) - set(ref))
        bad = [k for k in ref if k in state and state[k].shape != ref[k].shape]
        if missing or unexpected or bad:
            raise InputError(f"{directory} does not hold weights of its config's splatter net (missing "
                             f"{missing[:3]}, unexpected {unexpected[:3]}, wrong shape {bad[:3]})")
        model.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()}, strict=True)
        return model.to(device).eval()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def ray_quaternion(rays: torch.Tensor) -> torch.Tensor:
    """(w, x, y, z) quaternions [..., 4] that turn the camera's z axis onto the rays through ``(x/z, y/z)`` [..., 2]
    (the shortest rotation: its axis is z x ray)."""
    d = torch.cat([rays, torch.ones_like(rays[..., :1])], dim=-1)
    d = d / d.norm(dim=-1, keepdim=True)
    q = torch.stack([1.0 + d[..., 2], -d[..., 1], d[..., 0], torch.zeros_like(d[..., 0])], dim=-1)
    return q / q.norm(dim=-1, keepdim=True)


def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``a * b`` of (w, x, y, z) quaternions [..., 4] (broadcasting): rotate by b, then a."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], dim=-1)


def _resolve(path_or_hub_id: str | Path) -> Path:
    path = Path(path_or_hub_id).expanduser()
    if (path / CONFIG_NAME).is_file() and (path / WEIGHTS_NAME).is_file():
        return path
    if path.exists() or str(path_or_hub_id).startswith((".", "/", "~")) or str(path_or_hub_id).count("/") != 1:
        raise ModelNotAvailableError(
            f"no splatter checkpoint in {str(path_or_hub_id)!r}: expected {CONFIG_NAME} and {WEIGHTS_NAME} "
            "(train one with `gld8tr train --config configs/splatter.yaml --out DIR`)"
        )
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(path_or_hub_id), allow_patterns=[CONFIG_NAME, WEIGHTS_NAME]))
    except Exception as exc:  # network errors, missing repo, offline mode: all mean "not available here"
        raise ModelNotAvailableError(
            f"splatter checkpoint {str(path_or_hub_id)!r} is neither a local folder nor downloadable: {exc}"
        ) from exc
