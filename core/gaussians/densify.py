"""Adaptive density control of 3DGS: clone small Gaussians and split large ones where the screen-space gradient
is high, prune transparent ones. The config is a small dataclass; the running statistics live apart in
``DensifyState`` so a config can be shared and logged.

Gradients are measured in NDC-like units (pixel gradient times half the image size), so the classic 3DGS
threshold 2e-4 keeps its meaning at any resolution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from core.gaussians.model import quat_to_rotmat

log = logging.getLogger(__name__)


@dataclass
class DensifyConfig:
    start_iter: int = 100
    stop_fraction: float = 0.6  # no densification after this fraction of the iterations
    interval: int = 100
    grad_threshold: float = 2e-4
    percent_dense: float = 0.01  # clone below / split above this fraction of the scene extent
    prune_opacity: float = 0.005
    max_gaussians: int = 1_000_000
    enabled: bool = True

    def due(self, it: int, iters: int) -> bool:
        """True after iteration ``it`` (1-based) if a densify step should run now."""
        return (
            self.enabled and it >= self.start_iter and it <= self.stop_fraction * iters and it % self.interval == 0
        )


class DensifyState:
    """Accumulated screen-space gradient norms per Gaussian since the last densify step."""

    def __init__(self, n: int, device: torch.device) -> None:
        self.grad = torch.zeros(n, device=device)
        self.count = torch.zeros(n, device=device)

    def accumulate(self, visible: torch.Tensor, grads2d: torch.Tensor, width: int, height: int) -> None:
        """``visible`` [M] ids and ``grads2d`` [M, 2] pixel-space gradients of their screen means."""
        scale = torch.tensor([width / 2.0, height / 2.0], device=grads2d.device)
        self.grad.index_add_(0, visible, (grads2d * scale).norm(dim=-1))
        self.count.index_add_(0, visible, torch.ones_like(visible, dtype=self.count.dtype))

    def mean(self) -> torch.Tensor:
        return self.grad / self.count.clamp_min(1)


def _edit_params(
    optimizer: torch.optim.Optimizer,
    params: dict[str, torch.nn.Parameter],
    keep: torch.Tensor,
    extra: dict[str, torch.Tensor] | None = None,
) -> None:
    """Keep rows ``keep`` (bool [N]) of every parameter, append ``extra`` rows, and carry Adam's moments along
    (appended rows start with zero moments, as in 3DGS). Updates ``params`` and the optimiser in place."""
    for group in optimizer.param_groups:
        name = group["name"]
        old = group["params"][0]
        new_data = old.detach()[keep]
        if extra is not None:
            new_data = torch.cat([new_data, extra[name].to(new_data)], dim=0)
        new = torch.nn.Parameter(new_data.contiguous())
        state = optimizer.state.pop(old, None)
        if state:
            for key in ("exp_avg", "exp_avg_sq"):
                moment = state[key][keep]
                if extra is not None:
                    moment = torch.cat([moment, torch.zeros_like(extra[name]).to(moment)], dim=0)
                state[key] = moment
            optimizer.state[new] = state
        group["params"][0] = new
        params[name] = new


def densify_and_prune(
    optimizer: torch.optim.Optimizer,
    params: dict[str, torch.nn.Parameter],
    state: DensifyState,
    cfg: DensifyConfig,
    extent: float,
) -> DensifyState:
    """One adaptive density control step; returns a fresh ``DensifyState`` for the new Gaussian count."""
    n = params["means"].shape[0]
    device = params["means"].device
    with torch.no_grad():
        grads = state.mean()
        max_scale = params["log_scales"].exp().max(dim=1).values
        hot = grads >= cfg.grad_threshold
        room = max(cfg.max_gaussians - n, 0)
        if int(hot.sum()) > room:  # over budget: densify only the hottest Gaussians
            hot_ids = torch.nonzero(hot).squeeze(1)
            top = hot_ids[torch.argsort(grads[hot_ids], descending=True)[:room]]
            hot = torch.zeros_like(hot)
            hot[top] = True
        small = max_scale <= cfg.percent_dense * extent
        clone = hot & small
        split = hot & ~small

        extra = {k: v.detach()[clone] for k, v in params.items()}
        if split.any():
            sel = {k: v.detach()[split] for k, v in params.items()}
            stds = sel["log_scales"].exp().repeat(2, 1)
            R = quat_to_rotmat(sel["quats"]).repeat(2, 1, 1)
            offsets = (R @ (torch.randn_like(stds) * stds)[..., None])[..., 0]
            halves = {k: v.repeat(2, *([1] * (v.ndim - 1))) for k, v in sel.items()}
            halves["means"] = halves["means"] + offsets
            halves["log_scales"] = halves["log_scales"] - torch.log(torch.tensor(1.6, device=device))
            extra = {k: torch.cat([extra[k], halves[k]], dim=0) for k in extra}
        _edit_params(optimizer, params, ~split, extra)

        transparent = torch.sigmoid(params["opacity_logits"].detach()) < cfg.prune_opacity
        if transparent.any():
            _edit_params(optimizer, params, ~transparent)
    log.debug(
        "densify: %d cloned, %d split, %d pruned -> %d Gaussians",
        int(clone.sum()), int(split.sum()), int(transparent.sum()), params["means"].shape[0],
    )
    return DensifyState(params["means"].shape[0], device)
