"""The point-cloud module: a small PointNet++-style set network that reads a distorted cloud and predicts the
depth shift and the log focal-length scale that undo the distortion (LeReS' point-cloud module, one network with
two heads instead of two networks).

Plain torch, any device. Two set-abstraction levels (farthest-point centroids, k nearest neighbours, a shared
MLP on each neighbourhood's offsets normalised by its radius, max-pooling) see local shape -- the bending a wrong
shift puts into planes -- and a global level sees how surfaces meet -- the angles a wrong focal length changes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.errors import ModelNotAvailableError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class CameraNetConfig:
    """Architecture and input conventions; saved as ``config.json`` beside the weights."""

    in_channels: int = 5
    """3 = xyz only; 5 = xyz plus the normalised pixel coordinates uv (LeReS' ``--input_chanels 3|5``)."""
    num_points: int = 2048
    """Points subsampled from the valid pixels of a depth map."""
    normals: bool = False
    """Append each first-level neighbourhood's surface normal (its smallest principal axis, turned towards the
    camera) to that level's features: a wrong focal length skews the angles between surfaces, which normals
    show directly, while a shared MLP over raw offsets has to learn to find them."""
    centroids: tuple[int, ...] = (256, 64)
    """Centroids of each set-abstraction level."""
    neighbours: int = 16
    widths: tuple[tuple[int, ...], ...] = ((64, 64, 128), (128, 128, 256))
    """Shared-MLP widths of each set-abstraction level."""
    global_width: int = 512
    guess_fov_deg: float = 60.0
    """Field of view the first pass unprojects with (LeReS: 60 degrees); the predicted scale corrects it."""
    iterations: int = 2
    """Inference passes; each applies the predicted shift, then re-reads the cloud and applies the focal."""
    max_abs_log_focal_scale: float = 1.2
    """Predicted log focal scales are squashed into +-this (tanh): e^1.2 = 3.3x either way."""
    pair_bins: int = 0
    """0 = off. Otherwise (needs ``normals``) a histogram with this many bins of the focal-scale votes of all
    pairs of first-level normals (:func:`normal_pair_votes`) joins the global features: a wrong focal length
    shows as right angles that are no longer right, and each pair of surfaces that met at a right angle votes
    for the exact scale; a max-pooled set MLP has to discover that comparison by itself and, trained on a CPU,
    barely does (model card)."""

    def __post_init__(self) -> None:
        if self.in_channels not in (3, 5):
            raise ValueError(f"in_channels must be 3 or 5, got {self.in_channels}")
        if self.pair_bins and not self.normals:
            raise ValueError("pair_bins needs normals: true")
        if len(self.centroids) != len(self.widths):
            raise ValueError("centroids and widths need one entry per level")
        self.centroids = tuple(int(c) for c in self.centroids)
        self.widths = tuple(tuple(int(w) for w in ws) for ws in self.widths)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["centroids"] = list(self.centroids)
        data["widths"] = [list(w) for w in self.widths]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraNetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown camera-net config keys: {sorted(unknown)}")
        return cls(**data)


def farthest_point_indices(xyz: torch.Tensor, m: int) -> torch.Tensor:
    """Indices [B, m] of ``m`` farthest-point samples of ``xyz`` [B, N, 3], starting from point 0 (deterministic)."""
    B, N, _ = xyz.shape
    idx = torch.zeros(B, m, dtype=torch.long, device=xyz.device)
    dist = torch.full((B, N), float("inf"), device=xyz.device, dtype=xyz.dtype)
    cur = torch.zeros(B, dtype=torch.long, device=xyz.device)
    batch = torch.arange(B, device=xyz.device)
    for i in range(m):
        idx[:, i] = cur
        d = ((xyz - xyz[batch, cur][:, None]) ** 2).sum(-1)
        dist = torch.minimum(dist, d)
        cur = dist.argmax(dim=-1)
    return idx


@torch.no_grad()
def neighbourhood_normals(offsets: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Unit normals [B, M, 3] of neighbourhoods ``offsets`` [B, M, k, 3] (relative to ``centres`` [B, M, 3]):
    the smallest principal axis, oriented towards the camera (n . p <= 0). An input feature, not differentiated."""
    c = offsets - offsets.mean(dim=2, keepdim=True)
    cov = (c.transpose(-1, -2) @ c).double() + 1e-12 * torch.eye(3, dtype=torch.float64, device=offsets.device)
    n = torch.linalg.eigh(cov).eigenvectors[..., 0].to(offsets.dtype)
    return torch.where((n * centres).sum(-1, keepdim=True) > 0, -n, n)


PAIR_VOTE_RANGE = 1.2
"""Votes (log focal scales) are histogrammed over +-this (as ``max_abs_log_focal_scale``)."""


@torch.no_grad()
def normal_pair_votes(normals: torch.Tensor, bins: int) -> torch.Tensor:
    """Histogram [B, bins + 1] of the focal-scale votes of all pairs of unit normals [B, M, 3].

    Unprojecting with ``f_in = a f_true`` divides x and y by ``a``, so a normal becomes ``(a nx, a ny, nz)``
    (renormalised). For two surfaces that truly meet at a right angle the distorted normals then satisfy
    ``a^2 = 1 - (n1 . n2) / (n1z n2z)`` exactly, whatever their orientation: every pair casts the vote
    ``log a = 0.5 log(1 - (n1 . n2) / (n1z n2z))``. Pairs of (nearly) parallel surfaces give no vote (the
    argument is <= 0); pairs at other angles spread theirs; the truly orthogonal ones pile up at the answer.
    The vote does not depend on which way either normal points. Linear binning (each vote split between its two
    nearest bins) over +-``PAIR_VOTE_RANGE``, normalised by the number of pairs; the last entry is the fraction
    of pairs that voted.
    """
    n = normals.float()
    B, M, _ = n.shape
    dots = n @ n.transpose(1, 2)  # [B, M, M]
    nz = n[..., 2]
    zz = nz[:, :, None] * nz[:, None, :]
    steep = zz.abs() > 1e-3  # a surface seen edge-on (nz ~ 0) keeps its normal under any focal: no vote
    arg = 1 - dots / torch.where(steep, zz, torch.ones_like(zz))
    vote = 0.5 * torch.log(arg.clamp_min(1e-6))
    off_diag = ~torch.eye(M, dtype=torch.bool, device=n.device)
    ok = (arg > 1e-6) & off_diag & steep & (vote.abs() < PAIR_VOTE_RANGE)
    # linear binning: each vote splits between its two nearest bin centres
    pos = ((vote.clamp(-PAIR_VOTE_RANGE, PAIR_VOTE_RANGE) + PAIR_VOTE_RANGE) * (bins - 1) / (2 * PAIR_VOTE_RANGE))
    lo = pos.floor().clamp(0, bins - 2)
    frac_hi = (pos - lo) * ok
    frac_lo = (1 - (pos - lo)) * ok
    hist = torch.zeros(B, bins, device=n.device, dtype=n.dtype)
    lo = lo.long().reshape(B, -1)
    hist.scatter_add_(1, lo, frac_lo.reshape(B, -1))
    hist.scatter_add_(1, lo + 1, frac_hi.reshape(B, -1))
    pairs = M * (M - 1)
    hist = hist / pairs * (bins / 4)  # ~O(1) entries
    frac = ok.sum(dim=(1, 2)).to(n.dtype) / pairs
    return torch.cat([hist, frac[:, None]], dim=-1).to(normals.dtype)


def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x [B, N, C], idx [B, ...] -> [B, ..., C]."""
    B = x.shape[0]
    flat = idx.reshape(B, -1)
    out = torch.gather(x, 1, flat[..., None].expand(-1, -1, x.shape[-1]))
    return out.reshape(*idx.shape, x.shape[-1])


def _mlp(channels: list[int], last_act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(channels[:-1], channels[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if last_act or i < len(channels) - 2:
            layers += [nn.LayerNorm(b), nn.GELU()]
    return nn.Sequential(*layers)


class SetAbstraction(nn.Module):
    """Centroids by farthest-point sampling, their ``k`` nearest neighbours, a shared MLP, max-pool."""

    def __init__(self, m: int, k: int, in_features: int, widths: tuple[int, ...], *, normals: bool = False) -> None:
        super().__init__()
        self.m, self.k, self.normals = m, k, normals
        self.mlp = _mlp([in_features + 4, *widths])

    def forward(self, xyz: torch.Tensor, feats: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """xyz [B, N, 3], feats [B, N, C] or None -> (centroids [B, m, 3], features [B, m, widths[-1] (+3)])."""
        centre_idx = farthest_point_indices(xyz.detach(), min(self.m, xyz.shape[1]))
        centres = _gather(xyz, centre_idx)
        k = min(self.k, xyz.shape[1])
        nbr = torch.cdist(centres.detach(), xyz.detach()).topk(k, dim=-1, largest=False).indices  # [B, m, k]
        offsets = _gather(xyz, nbr) - centres[:, :, None]
        radius = offsets.pow(2).sum(-1).mean(-1, keepdim=True).sqrt().clamp_min(1e-6)  # [B, m, 1]
        parts = [offsets / radius[..., None], torch.log(radius)[..., None].expand(-1, -1, k, 1)]
        if feats is not None:
            parts.append(_gather(feats, nbr))
        out = self.mlp(torch.cat(parts, dim=-1)).amax(dim=2)
        if self.normals:
            out = torch.cat([out, neighbourhood_normals(offsets, centres)], dim=-1)
        return centres, out


class VoteScorer(nn.Module):
    """Reads the focal from a vote histogram [B, bins]: a small 1-D CNN scores every bin (translation-equivariant,
    so what it learns about one peak holds at every focal) and the soft-argmax of the scores is the log focal
    scale [B]. A Hough-style read-out: the network learns to tell the right-angle peak from the other votes."""

    def __init__(self, channels: int = 16, kernel: int = 5) -> None:
        super().__init__()
        pad = kernel // 2
        self.net = nn.Sequential(
            nn.Conv1d(1, channels, kernel, padding=pad), nn.GELU(),
            nn.Conv1d(channels, channels, kernel, padding=pad), nn.GELU(),
            nn.Conv1d(channels, 1, kernel, padding=pad),
        )

    def forward(self, hist: torch.Tensor) -> torch.Tensor:
        bins = hist.shape[-1]
        centres = torch.linspace(-PAIR_VOTE_RANGE, PAIR_VOTE_RANGE, bins, device=hist.device, dtype=hist.dtype)
        logits = self.net(torch.log1p(hist)[:, None])[:, 0]  # [B, bins]
        return (logits.softmax(dim=-1) * centres).sum(-1)


class PointCloudCameraNet(nn.Module):
    """``forward(points [B, N, 3], uv [B, N, 2]) -> (shift [B], log_focal_scale [B])``.

    ``points`` is the cloud unprojected with depth normalised to a 98th percentile of 1; ``shift`` is in those
    units (true depth ~ depth - shift) and ``log_focal_scale = log(focal_used / focal_true)``.
    """

    def __init__(self, config: CameraNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or CameraNetConfig()
        c = self.config
        levels, in_feats = [], c.in_channels
        for i, (m, widths) in enumerate(zip(c.centroids, c.widths, strict=True)):
            with_normals = c.normals and i == 0
            levels.append(SetAbstraction(m, c.neighbours, in_feats, widths, normals=with_normals))
            in_feats = widths[-1] + (3 if with_normals else 0)
        self.levels = nn.ModuleList(levels)
        self.global_mlp = _mlp([in_feats + 3, c.global_width, c.global_width])
        self.pair_mlp = _mlp([c.pair_bins + 1, 128, 128]) if c.pair_bins else None
        self.pair_scores = VoteScorer() if c.pair_bins else None
        self.head = _mlp([c.global_width + (128 if c.pair_bins else 0), 256, 2], last_act=False)

    def forward(self, points: torch.Tensor, uv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert points.ndim == 3 and points.shape[-1] == 3, f"points must be [B, N, 3], got {tuple(points.shape)}"
        feats = torch.cat([points, uv], dim=-1) if self.config.in_channels == 5 else points
        xyz = points
        votes = None
        for i, level in enumerate(self.levels):
            xyz, feats = level(xyz, feats)
            if i == 0 and self.pair_mlp is not None:
                votes = normal_pair_votes(feats[..., -3:], self.config.pair_bins)
        g = self.global_mlp(torch.cat([xyz, feats], dim=-1)).amax(dim=1)
        if votes is not None:
            g = torch.cat([g, self.pair_mlp(votes)], dim=-1)
        out = self.head(g)
        log_a = out[:, 1]
        if votes is not None:
            # the focal is the peak of the learned vote scores (soft-argmax) plus the head's correction
            log_a = log_a + self.pair_scores(votes[:, :-1])
        limit = self.config.max_abs_log_focal_scale
        return out[:, 0], limit * torch.tanh(log_a / limit)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(self, directory: str | Path) -> None:
        from safetensors.torch import save_file

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(d / WEIGHTS_NAME))

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str | torch.device = "cpu") -> PointCloudCameraNet:
        """Load a folder written by :meth:`save_pretrained` (strictly: a mismatch is an error)."""
        from safetensors.torch import load_file

        d = Path(path).expanduser()
        if not ((d / CONFIG_NAME).is_file() and (d / WEIGHTS_NAME).is_file()):
            raise ModelNotAvailableError(
                f"no camera-module checkpoint in {str(path)!r}: expected {CONFIG_NAME} and {WEIGHTS_NAME} "
                "(train one with `gld8tr train --config configs/camera-votes.yaml --out DIR`)"
            )
        model = cls(CameraNetConfig.from_dict(json.loads((d / CONFIG_NAME).read_text())))
        model.load_state_dict(load_file(str(d / WEIGHTS_NAME)), strict=True)
        return model.to(device).eval()
