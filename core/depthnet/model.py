"""A small U-Net that completes depth conditioned on the depth a scene already has.

Parametrisation (why it looks like this): the network works in log depth relative to a per-image reference
scale ``s``. When some depth is known, ``s`` is the median of the known depth and the known values enter as
``log(depth / s)``; the output is ``log(depth / s)`` too, so multiplying every known depth by ``k`` multiplies
the prediction by exactly ``k``. The net therefore cannot (and need not) guess absolute scale when conditioning
is given -- it only has to continue the known geometry into the holes. With nothing known, ``s`` is a fixed
reference (``mono_log_scale``) and the same net acts as a monocular metric estimator; a constant input flag tells
it which case it is in, since a U-Net's receptive field cannot see that the whole mask is empty.

The output is a residual on top of a classical fill of the known log depth (``DepthNetConfig.fill_prior``): a
network this small, trained for an hour on a CPU, then starts at the accuracy of a classical fill in the holes
and only has to learn where and how to depart from it.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from core.depthnet.config import DepthNetConfig
from core.depthnet.plane import plane_fill
from core.errors import ModelNotAvailableError

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
METRICS_NAME = "metrics.json"

INFERENCE_REVISION = 2
"""Bump when the way a checkpoint's output is computed changes without its weights changing (revision 2 added
:meth:`DepthCompletionNet.meet_known`): the benchmark stamps results with it, so a rerun rescores instead of
resuming rows of the old behaviour."""

SEAM_FADE_PX = 4.0
"""How far (pixels at the working resolution) :meth:`DepthCompletionNet.meet_known` carries the known depth's
correction into a hole; chosen on the validation scenes among 4, 16 and a harmonic (unfaded) extension."""

_RGB_MEAN = 0.45
_RGB_STD = 0.25
_FLAG_CHANNEL = 5
"""Index of the "any depth known" flag among the input channels (after RGB, the log ratio and the mask)."""


def nearest_known_coords(known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row and column [B,1,H,W] (``known``'s float dtype) of the nearest ``known`` pixel ({0,1} or bool
    [B,1,H,W]) of every pixel, and whether one was found (bool). Jump flooding: each pixel keeps the coordinates
    of the best seed seen so far and, for steps of H/2, H/4, ..., 1 pixels (and a final 1), looks at the seeds of
    its 8 neighbours at that distance. Exact for almost every pixel (rare ties and near-ties differ),
    O(H W log(max(H, W))), pure torch on any device."""
    B, _, H, W = known.shape
    dtype = known.dtype if known.dtype.is_floating_point else torch.float32
    far = float(4 * (H + W) + 1)
    ys = torch.arange(H, device=known.device, dtype=dtype).view(1, 1, H, 1).expand(B, 1, H, W)
    xs = torch.arange(W, device=known.device, dtype=dtype).view(1, 1, 1, W).expand(B, 1, H, W)
    k = known > 0.5 if known.dtype.is_floating_point else known
    sy = torch.where(k, ys, torch.full_like(ys, far))
    sx = torch.where(k, xs, torch.full_like(xs, far))
    steps = [1 << e for e in reversed(range(max(1, (max(H, W) - 1).bit_length())))] + [1]
    for s in steps:
        best = (sy - ys) ** 2 + (sx - xs) ** 2
        py, px = F.pad(sy, (s, s, s, s), value=far), F.pad(sx, (s, s, s, s), value=far)
        for dy in (-s, 0, s):
            for dx in (-s, 0, s):
                if dy == 0 and dx == 0:
                    continue
                cy = py[..., s + dy : s + dy + H, s + dx : s + dx + W]
                cx = px[..., s + dy : s + dy + H, s + dx : s + dx + W]
                d = (cy - ys) ** 2 + (cx - xs) ** 2
                better = d < best
                sy, sx, best = torch.where(better, cy, sy), torch.where(better, cx, sx), torch.where(better, d, best)
    return sy, sx, sy < far


def nearest_known_index(known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat index (long [B, H*W], into each image's H*W pixels) of the nearest ``known`` pixel ({0,1} or bool
    [B,1,H,W]) of every pixel, by :func:`nearest_known_coords`, and whether one was found (bool [B,1,H,W])."""
    H, W = known.shape[-2:]
    sy, sx, found = nearest_known_coords(known)
    return (sy.clamp(0, H - 1) * W + sx.clamp(0, W - 1)).long().flatten(1), found


def nearest_fill(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Every pixel of ``values`` [B,1,H,W] takes the value of the nearest ``known`` pixel ({0,1}, same shape),
    found by :func:`nearest_known_coords`. Images with nothing known come back as 0.
    """
    B, _, H, W = values.shape
    idx, found = nearest_known_index(known.to(values.dtype))
    out = values.flatten(1).gather(1, idx).view(B, 1, H, W)
    return torch.where(found, out, torch.zeros_like(out))


def _seam_correction_torch(stray: torch.Tensor, known: torch.Tensor, fade_px: float) -> torch.Tensor:
    """Torch twin of :meth:`DepthCompletionNet.meet_known`'s correction: each pixel takes the ``stray`` [B,1,H,W]
    of its nearest ``known`` pixel (bool) times ``exp(-distance / fade_px)``; 0 in images with nothing known."""
    B, _, H, W = stray.shape
    dtype = torch.float32 if stray.device.type == "mps" else torch.float64
    sy, sx, found = nearest_known_coords(known.to(dtype))
    ys = torch.arange(H, device=stray.device, dtype=dtype).view(1, 1, H, 1)
    xs = torch.arange(W, device=stray.device, dtype=dtype).view(1, 1, 1, W)
    idx = (sy.clamp(0, H - 1) * W + sx.clamp(0, W - 1)).long().flatten(1)
    near = stray.to(dtype).flatten(1).gather(1, idx).view(B, 1, H, W)
    corr = near * torch.exp(-torch.hypot(sy - ys, sx - xs) / fade_px)
    return torch.where(found, corr, torch.zeros_like(corr)).to(stray.dtype)


def push_pull_fill(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Fill the unknown pixels of ``values`` [B,1,H,W] smoothly from the ``known`` ones ({0,1}, same shape).

    Push: halve the resolution repeatedly with known-weighted averages. Pull: from the coarsest level back up,
    every pixel keeps its own average in proportion to how much known data it holds and takes the upsampled
    coarser estimate for the rest. Known pixels come back exactly; images with nothing known come back as 0.
    O(H W) and differentiable, unlike a distance-transform nearest fill.
    """
    pyramid = [(values * known, known)]
    while min(pyramid[-1][1].shape[-2:]) > 1:
        v, m = pyramid[-1]
        pyramid.append((F.avg_pool2d(v, 2, ceil_mode=True), F.avg_pool2d(m, 2, ceil_mode=True)))
    v, m = pyramid[-1]
    filled = v / m.clamp_min(1e-6)
    for v, m in reversed(pyramid[:-1]):
        up = F.interpolate(filled, size=v.shape[-2:], mode="bilinear", align_corners=False)
        own = v / m.clamp_min(1e-6)
        w = (4 * m).clamp(max=1.0) if m is not known else m
        filled = w * own + (1 - w) * up
    return filled


def _scanline_fill(values: torch.Tensor, known: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Along ``dim`` of [B,1,H,W]: the larger of the nearest known values before and after each pixel, and
    whether any was found (a pixel with a known value on one side only takes that one)."""
    n = values.shape[dim]
    shape = [1, 1, 1, 1]
    shape[dim] = n
    pos = torch.arange(n, device=values.device).view(shape).expand_as(values)
    before = torch.where(known, pos, torch.full_like(pos, -1)).cummax(dim=dim).values
    after = n - 1 - torch.where(known, n - 1 - pos, torch.full_like(pos, -1)).flip(dim).cummax(dim=dim).values.flip(dim)
    has_before, has_after = before >= 0, after < n
    v_before = values.gather(dim, before.clamp(0, n - 1))
    v_after = values.gather(dim, after.clamp(0, n - 1))
    low = torch.full_like(values, torch.finfo(values.dtype).min)
    best = torch.maximum(torch.where(has_before, v_before, low), torch.where(has_after, v_after, low))
    return best, has_before | has_after


def _max_pyramid_fill(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Push-pull whose pull step keeps the MAX known value of each 2x2 block; nothing known gives 0."""
    low = torch.finfo(values.dtype).min
    pyramid = [(torch.where(known, values, torch.full_like(values, low)), known)]
    while max(pyramid[-1][1].shape[-2:]) > 1:
        v, m = pyramid[-1]
        # ceil_mode pads odd sizes with -inf, which never wins a max
        pyramid.append((F.max_pool2d(v, 2, ceil_mode=True), F.max_pool2d(m.to(v.dtype), 2, ceil_mode=True) > 0))
    v, m = pyramid[-1]
    filled = torch.where(m, v, torch.zeros_like(v))
    for v, m in reversed(pyramid[:-1]):
        H, W = v.shape[-2:]
        up = filled.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)[..., :H, :W]
        filled = torch.where(m, v, up)
    return filled


def background_fill(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Fill the unknown pixels of ``values`` [B,1,H,W] (log depth) with the FARTHER side of the hole.

    Why: the holes left by reprojecting a view are disocclusions, whose true surface is the background behind
    a depth edge; a nearest fill extends whichever side is closer in the image, often the foreground. Each
    unknown pixel takes the larger of the nearest known values to its left and right on its row (camera motion
    opens holes mostly sideways); rows with nothing known use the column instead, and pixels with neither a
    far-biased (2x2 max) push-pull. Known pixels come back exactly; images with nothing known come back as 0.
    Vectorised, O(H W log(H W)), any H, W and batch.
    """
    k = known > 0.5
    row, has_row = _scanline_fill(values, k, dim=-1)
    col, has_col = _scanline_fill(values, k, dim=-2)
    filled = torch.where(has_row, row, torch.where(has_col, col, _max_pyramid_fill(values, k)))
    return torch.where(k, values, filled)

def laplacian_fill(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Fill the unknown pixels of ``values`` [B,1,H,W] with the harmonic (smoothest) surface through the known ones.

    Why: in the holes a moving camera opens, the surface usually spans from the known depth on one side to the
    known depth on the other; of the classical fills, the harmonic one (of log depth) has the lowest hole error
    on the benchmark pairs, so the residual the network must learn is smallest. It is the exact solution of
    Laplace's equation (a sparse direct solve on the CPU, :func:`core.fill.laplacian_fill`),
    not differentiable, which a prior need not be. Images with nothing known come back as 0. Off the CPU the
    same system is solved in torch on the device (:func:`core.depthnet.laplace.laplacian_fill_torch`, conjugate
    gradients), so a GPU forward never waits for a host round trip.
    """
    if values.device.type != "cpu":
        from core.depthnet.laplace import laplacian_fill_torch

        return laplacian_fill_torch(values.detach(), known)
    import numpy as np

    from core.fill import laplacian_fill as solve

    k = (known > 0.5).cpu().numpy()
    v = values.detach().cpu().double().numpy()
    out = np.zeros_like(v, dtype=np.float32)
    for i in range(v.shape[0]):
        if k[i, 0].any():
            out[i, 0] = solve(v[i, 0], k[i, 0])
    return torch.from_numpy(out).to(device=values.device, dtype=values.dtype)


def bilateral_fill(values: torch.Tensor, known: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """Joint-bilateral fill of ``values`` [B,1,H,W] guided by ``rgb`` [B,3,H,W] in [0, 1]: the image-guided prior
    (:func:`core.guided_fill.bilateral_fill`), which carries depth along the photo's colour regions."""
    from core.guided_fill import bilateral_fill as fill

    return fill(values, known, rgb)


def colorization_fill(values: torch.Tensor, known: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """Levin colourisation (the NYU toolbox's fill) of ``values`` [B,1,H,W] guided by ``rgb`` [B,3,H,W] in [0, 1]:
    the image-guided prior with the lowest hole error of the classical fills on the benchmark's synthetic and
    Middlebury pairs. ``values`` are log depth ratios; the fill runs on depth (their exponential), as the toolbox
    does, and is scale-equivariant. A sparse solve per image on the CPU, like the ``laplacian`` prior."""
    import numpy as np

    from core.guided_fill import colorization_fill as solve

    k = (known > 0.5).cpu().numpy()
    v = values.detach().cpu().double().numpy()
    img = (rgb.detach().permute(0, 2, 3, 1).cpu().numpy().clip(0, 1) * 255 + 0.5).astype(np.uint8)
    out = np.zeros(v.shape, dtype=np.float32)
    for i in range(v.shape[0]):
        if k[i, 0].any():
            out[i, 0] = np.log(solve(img[i], np.where(k[i, 0], np.exp(v[i, 0]), 0.0), k[i, 0]))
    return torch.from_numpy(out).to(device=values.device, dtype=values.dtype)


_FILL_PRIORS = {"nearest": nearest_fill, "push_pull": push_pull_fill, "background": background_fill,
                "laplacian": laplacian_fill, "bilateral": bilateral_fill, "colorization": colorization_fill,
                "plane": plane_fill}
_IMAGE_GUIDED_PRIORS = {"bilateral", "colorization"}

def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (pre-activation keeps deep stacks trainable)."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _norm(channels, groups),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            _norm(channels, groups),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class GlobalContext(nn.Module):
    """Adds an image-wide summary to every bottleneck cell: monocular scale is a global property."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj(x.mean(dim=(2, 3)))[:, :, None, None]


class DepthCompletionNet(nn.Module):
    """RGB + masked depth + mask in, dense metric depth out (see the module docstring for the parametrisation).

    ``forward(rgb [B,3,H,W] in [0,1], depth [B,1,H,W] metres (0 unknown), mask [B,1,H,W] {0,1}) -> [B,1,H,W]``.
    Any ``H, W`` works: inputs are reflection-padded to a multiple of the U-Net stride and the output cropped.
    Known pixels are *not* pasted back here (training needs the raw prediction there); backends do that.
    """

    def __init__(self, config: DepthNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or DepthNetConfig()
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
        self.head = nn.Sequential(_norm(chans[0], cfg.groups), nn.SiLU(),
                                  nn.Conv2d(chans[0], cfg.out_channels, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    # ----------------------------------------------------------------------------------------------- inputs
    def reference_log_scale(self, depth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-image log reference scale [B]: median log of the known depth, or ``mono_log_scale`` if none."""
        known = (mask > 0.5) & (depth > 0)
        logd = torch.where(known, depth.clamp_min(1e-6).log(), torch.full_like(depth, float("nan")))
        med = logd.flatten(1).nanmedian(dim=1).values
        return torch.where(known.flatten(1).any(dim=1), med, torch.full_like(med, self.config.mono_log_scale))

    def _inputs(
        self, rgb: torch.Tensor, depth: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        B, _, H, W = rgb.shape
        assert rgb.shape[1] == 3 and depth.shape == (B, 1, H, W) and mask.shape == (B, 1, H, W), (
            f"rgb {tuple(rgb.shape)}, depth {tuple(depth.shape)}, mask {tuple(mask.shape)}"
        )
        known = ((mask > 0.5) & (depth > 0)).to(rgb.dtype)
        log_s = self.reference_log_scale(depth, known)
        m = self.config.max_log_ratio
        ratio = (depth.clamp_min(1e-6).log() - log_s[:, None, None, None]).clamp(-m, m) * known
        flag = known.flatten(1).amax(dim=1)[:, None, None, None].expand(B, 1, H, W)
        image = (rgb - _RGB_MEAN) / _RGB_STD if self.config.image_input else torch.zeros_like(rgb)
        channels = [image, ratio, known, flag]  # flag at _FLAG_CHANNEL
        fills = [self._fill(name, ratio, known, rgb) for name in self._fill_names()]
        channels.extend(fills)
        if self.config.row_coordinate:
            rows = torch.linspace(-1.0, 1.0, H, device=rgb.device, dtype=rgb.dtype)
            channels.append(rows[None, None, :, None].expand(B, 1, H, W))
        return torch.cat(channels, dim=1), log_s, fills

    def _fill_names(self) -> list[str]:
        cfg = self.config
        return [] if cfg.fill_prior == "none" else [cfg.fill_prior, *cfg.mixture_priors]

    @staticmethod
    def _fill(name: str, ratio: torch.Tensor, known: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        guide = (rgb,) if name in _IMAGE_GUIDED_PRIORS else ()
        return _FILL_PRIORS[name](ratio, known, *guide).detach()

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        H, W = x.shape[-2:]
        s = self.config.stride
        ph, pw = (-H) % s, (-W) % s
        if ph or pw:
            # Reflection (as the original) keeps image statistics at the border; it needs pad < size.
            mode = "reflect" if ph < H and pw < W else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return x, H, W

    # ------------------------------------------------------------------------------------------- forward
    def predict_log(self, rgb: torch.Tensor, depth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Log metric depth [B,1,H,W], unclamped (the training losses live in log space); in eval mode the mean
        with the mirrored input's when the config asks for it (``flip_average``)."""
        out = self._predict_log_once(rgb, depth, mask)
        if self.config.flip_average and not self.training:
            mirrored = self._predict_log_once(rgb.flip(-1), depth.flip(-1), mask.flip(-1)).flip(-1)
            out = 0.5 * (out + mirrored)
        return out

    def _predict_log_once(self, rgb: torch.Tensor, depth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x, log_s, fills = self._inputs(rgb, depth, mask)
        x, H, W = self._pad(x)
        h = self.enc[0](self.stem(x))
        skips = [h]
        for down, block in zip(self.down, self.enc[1:], strict=True):
            h = block(down(h))
            skips.append(h)
        h = self.mid(h)
        for fuse, block, skip in zip(self.fuse, self.dec, reversed(skips[:-1]), strict=True):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = block(fuse(torch.cat([h, skip], dim=1)))
        head = self.head(h)[..., :H, :W]
        out = head[:, :1]
        if fills:
            out = out + fills[0]
        if self.config.mixture_priors:
            out = self._mix(out, fills[1:], head[:, 1:], x[:, _FLAG_CHANNEL : _FLAG_CHANNEL + 1, :H, :W])
        return out + log_s[:, None, None, None]

    @staticmethod
    def _mix(own: torch.Tensor, fills: list[torch.Tensor], logits: torch.Tensor, flag: torch.Tensor) -> torch.Tensor:
        """Softmax-weighted mean of the net's own log ratio and the fills'; with nothing known, the net's own."""
        nothing_known = flag < 0.5
        logits = torch.cat([logits[:, :1], logits[:, 1:].masked_fill(nothing_known, float("-inf"))], dim=1)
        weights = torch.softmax(logits, dim=1)
        return (weights * torch.cat([own, *fills], dim=1)).sum(dim=1, keepdim=True)

    @staticmethod
    def meet_known(
        pred_log: torch.Tensor, depth: torch.Tensor, mask: torch.Tensor, *, fade_px: float = SEAM_FADE_PX
    ) -> torch.Tensor:
        """``pred_log`` bent to equal ``log(depth)`` on the known pixels, fading back to itself into the holes.

        Why: the raw prediction strays from the known depth by a few percent (the consistency loss keeps it small,
        not zero), and pasting the known depth back then leaves a step at every seam -- the very artefact the
        method exists to avoid. Each hole pixel subtracts the stray of its nearest known pixel, weighted by
        ``exp(-distance / fade_px)``: no step at the seam, the network's own prediction deeper in. Measured on the
        held-out validation scenes and the benchmark pairs, this lowers the seam error and does not raise the hole
        error; a harmonic extension of the stray (no fade) was better on the benchmark but worse on validation,
        because isolated known specks inside holes then bend large areas. Images with nothing known come back
        unchanged.
        """
        if pred_log.device.type != "cpu":  # on the device, no host round trip (jump-flooding nearest seeds)
            return pred_log - _seam_correction_torch(pred_log.detach() - depth.clamp_min(1e-6).log(),
                                                     (mask > 0.5) & (depth > 0), fade_px)
        import numpy as np

        from core.fill import nearest_known_index

        known = ((mask > 0.5) & (depth > 0)).cpu().numpy()
        if not known.any():
            return pred_log
        stray = (pred_log.detach() - depth.clamp_min(1e-6).log()).double().cpu().numpy()
        correction = np.zeros(stray.shape, dtype=np.float64)
        ys, xs = np.indices(stray.shape[-2:])
        for i in range(stray.shape[0]):
            k = known[i, 0]
            if not k.any():
                continue
            iy, ix = nearest_known_index(k)
            dist = np.hypot(iy - ys, ix - xs)
            correction[i, 0] = stray[i, 0][iy, ix] * np.exp(-dist / fade_px)
        return pred_log - torch.from_numpy(correction).to(device=pred_log.device, dtype=pred_log.dtype)

    def depth_from_log(self, pred_log: torch.Tensor) -> torch.Tensor:
        """Metres from a log-depth prediction, clamped to the config's [min_depth, max_depth]."""
        cfg = self.config
        return pred_log.clamp(math.log(cfg.min_depth), math.log(cfg.max_depth)).exp()

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Metric depth [B,1,H,W]: the prediction met to the known depth (:meth:`meet_known`), clamped."""
        return self.depth_from_log(self.meet_known(self.predict_log(rgb, depth, mask), depth, mask))

    # --------------------------------------------------------------------------------------- persistence
    def save_pretrained(self, directory: str | Path, *, metrics: dict | None = None, half: bool = False) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (+ ``metrics.json``) into ``directory``.

        ``half`` stores fp16 weights (half the size, for the shipped checkpoint); loading casts back to fp32.
        """
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.config.save(out / CONFIG_NAME)
        state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
                 for k, v in self.state_dict().items()}
        tmp = out / (WEIGHTS_NAME + ".tmp")
        save_file(state, str(tmp), metadata={"format": "pt", "model_type": "gld8tr-depth-unet"})
        tmp.replace(out / WEIGHTS_NAME)
        (out / WEIGHTS_NAME).chmod(0o644)  # safetensors creates it owner-only; checkpoints are meant to be shared
        if metrics is not None:
            (out / METRICS_NAME).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        return out

    @classmethod
    def from_pretrained(cls, path_or_hub_id: str | Path, *, device: str | torch.device = "cpu") -> DepthCompletionNet:
        """Load a folder written by :meth:`save_pretrained`, or a Hugging Face hub repo id holding one.

        Weights load strictly: a checkpoint that does not match its own config is an error, never half-loaded.
        """
        from safetensors.torch import load_file

        directory = _resolve(path_or_hub_id)
        model = cls(DepthNetConfig.load(directory / CONFIG_NAME))
        state = load_file(str(directory / WEIGHTS_NAME))
        ref = model.state_dict()
        state = {k: v.to(ref[k].dtype) if k in ref else v for k, v in state.items()}
        model.load_state_dict(state, strict=True)
        return model.to(device).eval()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _resolve(path_or_hub_id: str | Path) -> Path:
    """A local checkpoint folder, else a hub snapshot; missing both raises ``ModelNotAvailableError``."""
    path = Path(path_or_hub_id).expanduser()
    if (path / CONFIG_NAME).is_file() and (path / WEIGHTS_NAME).is_file():
        return path
    if path.exists() or str(path_or_hub_id).startswith((".", "/", "~")) or str(path_or_hub_id).count("/") != 1:
        raise ModelNotAvailableError(
            f"no depth-network checkpoint in {str(path_or_hub_id)!r}: expected {CONFIG_NAME} and {WEIGHTS_NAME} "
            "(train one with `gld8tr train --config configs/tiny.yaml --out DIR`)"
        )
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(path_or_hub_id), allow_patterns=[CONFIG_NAME, WEIGHTS_NAME]))
    except Exception as exc:  # network errors, missing repo, offline mode: all mean "not available here"
        raise ModelNotAvailableError(
            f"depth-network checkpoint {str(path_or_hub_id)!r} is neither a local folder nor downloadable: {exc}"
        ) from exc
