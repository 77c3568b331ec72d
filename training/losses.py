"""Training losses of the depth-completion network (validation metrics are :mod:`core.depth_metrics`).

Both losses work on log depth, where the network predicts: the scale-invariant log loss (Eigen et al.) on the
target, as Invisible Stitch's ZoeDepth, plus a consistency term that pins the prediction to the known depth
where it was given (the property the pipeline's seamless merging relies on).
"""

from __future__ import annotations

import torch


def silog_loss(
    pred_log: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, *, lam: float = 0.85
) -> torch.Tensor:
    """Scale-invariant log loss, averaged over images that have any valid target pixel.

    pred_log: [B,1,H,W] log metres; target: [B,1,H,W] metres; valid: [B,1,H,W] bool.
    ``sqrt(mean(g^2) - lam * mean(g)^2)`` per image with ``g = pred_log - log(target)``; ``lam = 1`` ignores the
    global scale entirely, ``lam = 0`` is plain log-RMSE.
    """
    valid = valid & (target > 0)
    g = torch.where(valid, pred_log - target.clamp_min(1e-6).log(), torch.zeros_like(pred_log))
    n = valid.flatten(1).sum(dim=1)
    has = n > 0
    n = n.clamp_min(1).to(pred_log.dtype)
    mean = g.flatten(1).sum(dim=1) / n
    mean_sq = g.square().flatten(1).sum(dim=1) / n
    per_image = (mean_sq - lam * mean.square()).clamp_min(1e-8).sqrt()
    if not bool(has.any()):
        return pred_log.sum() * 0.0
    return per_image[has].mean()


def consistency_loss(pred_log: torch.Tensor, known_depth: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Mean squared log error on the known pixels (0 with a graph when no pixel is known)."""
    known = known & (known_depth > 0)
    if not bool(known.any()):
        return pred_log.sum() * 0.0
    err = pred_log - known_depth.clamp_min(1e-6).log()
    return err[known].square().mean()


def relative_l1_loss(
    pred_log: torch.Tensor, target: torch.Tensor, region: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """Mean ``|depth - target| / s`` over ``region & target > 0``, with ``s = exp(log_scale)`` per image [B].

    Unlike the log losses this weighs an error by its size in metres (relative to the image's scale only), as the
    benchmark's hole MAE does. ``pred_log`` is clamped before ``exp`` so an early, wild prediction cannot overflow.
    """
    region = region & (target > 0)
    if not bool(region.any()):
        return pred_log.sum() * 0.0
    ls = log_scale[:, None, None, None]
    pred = (pred_log - ls).clamp(-10.0, 10.0).exp()
    err = (pred - target / ls.exp()).abs()
    return err[region].mean()
