"""Training loop of the volumetric refiner (``gld8tr train --config configs/recon.yaml --out DIR``).

Loss per voxel of a crop: L1 between the predicted and the exact TSDF (weighted x4 inside the truncation band,
where the surface is decided) plus binary cross-entropy of IOAR's two band heads: *outer* (0 < sdf < trunc, free
side) and *inner* (-trunc < sdf <= 0, solid side). Augmentation: flips of x and z and swapping them (rooms have
no preferred horizontal axis; y is gravity). ``DIR`` is a checkpoint after every save (``config.json`` +
``model.safetensors``) and ``DIR/state.pt`` lets ``--resume`` continue.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.mesh.refine import RefineNetConfig, VolumeRefineNet, volume_features
from training.recon.config import ReconConfig
from training.recon.data import TRAIN_SEED_START, cached_crops

log = logging.getLogger(__name__)

VAL_SEED_START = 1_000_000 + 650_000


def _completer(spec: str):
    if spec == "true":
        return None
    from core.backends.registry import build_depth_completer

    return build_depth_completer(spec)


def load_crops(cfg: ReconConfig, split: str, cache_dir: Path) -> dict[str, torch.Tensor]:
    n = cfg.data.train_scenes if split == "train" else cfg.data.val_scenes
    start = (TRAIN_SEED_START + cfg.data.seed) if split == "train" else VAL_SEED_START
    completer = _completer(cfg.data.depth_model)
    parts = []
    for i in range(n):
        t0 = time.time()
        parts.append(cached_crops(start + i, cfg.data, completer, cache_dir))
        log.info("%s scene %d/%d ready (%.1fs)", split, i + 1, n, time.time() - t0)
    return {k: torch.from_numpy(np.concatenate([p[k] for p in parts])).float() for k in parts[0]}


def targets(gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From exact sdf / trunc: (tsdf target in [-1, 1], outer band, inner band) as float."""
    return gt.clamp(-1, 1), ((gt > 0) & (gt < 1)).float(), ((gt <= 0) & (gt > -1)).float()


def loss_fn(model: VolumeRefineNet, tsdf: torch.Tensor, weight: torch.Tensor, gt: torch.Tensor,
            w_occ: float) -> tuple[torch.Tensor, dict[str, float]]:
    pred, outer, inner = model(volume_features(tsdf, weight))
    t, o, i = targets(gt)
    band = (gt.abs() < 1).float()
    l1 = ((pred - t).abs() * (1 + 3 * band)).mean()
    bce = F.binary_cross_entropy_with_logits(outer, o) + F.binary_cross_entropy_with_logits(inner, i)
    return l1 + w_occ * bce, {"l1": float(l1.detach()), "bce": float(bce.detach())}


def augment(batch: list[torch.Tensor], rng: np.random.Generator) -> list[torch.Tensor]:
    """Same random flip of x / z and x<->z swap for every tensor [B, X, Y, Z]."""
    if rng.random() < 0.5:
        batch = [b.flip(1) for b in batch]
    if rng.random() < 0.5:
        batch = [b.flip(3) for b in batch]
    if rng.random() < 0.5:
        batch = [b.transpose(1, 3) for b in batch]
    return [b.contiguous() for b in batch]


def train(cfg: ReconConfig, out: Path, resume: bool = False) -> dict[str, float]:
    torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.json").write_text(cfg.model_dump_json(indent=2))
    cache = out / "cache"
    train_set = load_crops(cfg, "train", cache)
    val_set = load_crops(cfg, "val", cache)
    pick = torch.linspace(0, val_set["gt"].shape[0] - 1, min(cfg.val_crops, val_set["gt"].shape[0])).long()
    val_set = {k: v[pick] for k, v in val_set.items()}
    model = VolumeRefineNet(RefineNetConfig(base_channels=cfg.model.base_channels, levels=cfg.model.levels,
                                            voxel_size=cfg.data.voxel_size, trunc_voxels=cfg.data.trunc_voxels))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.max_steps, pct_start=0.05)
    step, best = 0, float("inf")
    state_path = out / "state.pt"
    if resume and state_path.is_file():
        st = torch.load(state_path, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        step, best = st["step"], st["best"]
    n = train_set["gt"].shape[0]
    log.info("training on %d crops (%d val), %d parameters", n, val_set["gt"].shape[0],
             sum(p.numel() for p in model.parameters()))
    history = []
    t0 = time.time()
    while step < cfg.max_steps:
        model.train()
        idx = torch.from_numpy(rng.integers(0, n, cfg.batch_size))
        t, w, g = augment([train_set["tsdf"][idx], train_set["weight"][idx], train_set["gt"][idx]], rng)
        loss, parts = loss_fn(model, t, w, g, cfg.w_occupancy)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if step % cfg.log_every == 0:
            log.info("step %d loss %.4f l1 %.4f bce %.4f (%.1fs)", step, float(loss), parts["l1"], parts["bce"],
                     time.time() - t0)
        if step % cfg.save_every == 0 or step == cfg.max_steps:
            val = evaluate(model, val_set, cfg)
            history.append({"step": step, **val})
            log.info("step %d val %s", step, json.dumps(val))
            if val["loss"] < best:
                best = val["loss"]
                model.save_pretrained(out / "best")
            model.save_pretrained(out)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "step": step, "best": best}, state_path)
            with (out / "history.jsonl").open("a") as fh:
                fh.write(json.dumps(history[-1]) + "\n")
    return history[-1] if history else {}


@torch.no_grad()
def evaluate(model: VolumeRefineNet, data: dict[str, torch.Tensor], cfg: ReconConfig) -> dict[str, float]:
    """Validation loss and voxel metrics in the band: L1 of the model and of the fused input (the baseline)."""
    model.eval()
    tot, l1m, l1f, nb = 0.0, 0.0, 0.0, 0
    for s in range(0, data["gt"].shape[0], 8):
        t, w, g = data["tsdf"][s : s + 8], data["weight"][s : s + 8], data["gt"][s : s + 8]
        loss, _ = loss_fn(model, t, w, g, cfg.w_occupancy)
        pred, _, _ = model(volume_features(t, w))
        band = (g.abs() < 1) & (w > 0)
        tot += float(loss) * g.shape[0]
        l1m += float((pred - g.clamp(-1, 1)).abs()[band].sum())
        l1f += float((t - g.clamp(-1, 1)).abs()[band].sum())
        nb += int(band.sum())
    n = data["gt"].shape[0]
    return {"loss": tot / n, "band_l1_model": l1m / max(nb, 1), "band_l1_fused": l1f / max(nb, 1)}
