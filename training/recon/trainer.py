"""Training loop of the volumetric refiner (``gld8tr train --config configs/recon.yaml --out DIR``).

Loss per voxel of a crop, over the voxels at least two frames see (the only ones the refiner meshes): L1 between
the predicted and the exact TSDF (weighted x4 inside the truncation band, where the surface is decided) plus
binary cross-entropy of IOAR's two band heads, *outer* (0 < sdf < trunc, free side) and *inner* (-trunc < sdf <= 0,
solid side), the in-band class weighted ``pos_weight`` (it is the minority). At every save the meshing threshold of
the band probability is chosen on the validation crops (best F1 of "in band") and stored in the checkpoint, so
meshing never gates on an uncalibrated 0.5. Augmentation: flips of x and z and swapping them (rooms have
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

from core.mesh.photo import PHOTO_CHANNELS
from core.mesh.refine import RefineNetConfig, VolumeRefineNet, band_probability, volume_features
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
    # Kept in float16 (a batch is converted when drawn): the photo channels make the crops ~1 MB each.
    return {k: torch.from_numpy(np.concatenate([p[k] for p in parts])) for k in parts[0]}


def targets(gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From exact sdf / trunc: (tsdf target in [-1, 1], outer band, inner band) as float."""
    return gt.clamp(-1, 1), ((gt > 0) & (gt < 1)).float(), ((gt <= 0) & (gt > -1)).float()


SEEN2 = 3 + PHOTO_CHANNELS - 2
"""Channel of the network input that flags voxels seen by >= 2 frames."""


def loss_fn(model: VolumeRefineNet, x: torch.Tensor, gt: torch.Tensor, cfg: ReconConfig
            ) -> tuple[torch.Tensor, dict[str, float], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Loss of network input ``x`` [B, 16, S, S, S] against exact sdf / trunc ``gt``; also the predictions."""
    pred, outer, inner = model(x)
    t, o, i = targets(gt)
    mask = x[:, SEEN2]
    n = mask.sum().clamp_min(1.0)
    band = (gt.abs() < 1).float()
    l1 = ((pred - t).abs() * (1 + 3 * band) * mask).sum() / n
    pw = torch.tensor(cfg.pos_weight)
    bce = sum((F.binary_cross_entropy_with_logits(z, y, pos_weight=pw, reduction="none") * mask).sum() / n
              for z, y in ((outer, o), (inner, i)))
    loss = l1 + cfg.w_occupancy * bce
    return loss, {"l1": float(l1.detach()), "bce": float(bce.detach())}, (pred, outer, inner)


def batch_input(data: dict[str, torch.Tensor], idx) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(tsdf, weight, photo, gt) of crops ``idx`` as float32."""
    return tuple(data[k][idx].float() for k in ("tsdf", "weight", "photo", "gt"))


def augment(batch: list[torch.Tensor], rng: np.random.Generator) -> list[torch.Tensor]:
    """Same random flip of x / z and x<->z swap for every tensor [B, ..., X, Y, Z] (every channel is a per-voxel
    scalar, so channels move with their voxels and nothing else changes)."""
    if rng.random() < 0.5:
        batch = [b.flip(-3) for b in batch]
    if rng.random() < 0.5:
        batch = [b.flip(-1) for b in batch]
    if rng.random() < 0.5:
        batch = [b.transpose(-3, -1) for b in batch]
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
    if resume and (out / "config.json").is_file():
        model.config.band_threshold = json.loads((out / "config.json").read_text()).get("band_threshold", 0.5)
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
    torch.manual_seed(cfg.seed + step)
    rng = np.random.default_rng([cfg.seed, step])
    log.info("training on %d crops (%d val), %d parameters", n, val_set["gt"].shape[0],
             sum(p.numel() for p in model.parameters()))
    history = []
    t0 = time.time()
    while step < cfg.max_steps:
        model.train()
        idx = torch.from_numpy(rng.integers(0, n, cfg.batch_size))
        t, w, ph, g = augment(list(batch_input(train_set, idx)), rng)
        loss, parts, _ = loss_fn(model, volume_features(t, w, ph), g, cfg)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if step % cfg.log_every == 0:
            log.info("step %d loss %.4f l1 %.4f bce %.4f (%.1fs)", step, float(loss.detach()), parts["l1"],
                     parts["bce"], time.time() - t0)
        if step % cfg.save_every == 0 or step == cfg.max_steps:
            val = evaluate(model, val_set, cfg)
            history.append({"step": step, **val})
            log.info("step %d val %s", step, json.dumps(val))
            model.config.band_threshold = val["band_threshold"]
            if val["loss"] < best:
                best = val["loss"]
                model.save_pretrained(out / "best")
            model.save_pretrained(out)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "step": step, "best": best}, state_path)
            with (out / "history.jsonl").open("a") as fh:
                fh.write(json.dumps(history[-1]) + "\n")
    return history[-1] if history else {}


THRESHOLDS = torch.linspace(0.05, 0.95, 19)


@torch.no_grad()
def evaluate(model: VolumeRefineNet, data: dict[str, torch.Tensor], cfg: ReconConfig) -> dict[str, float]:
    """Validation loss; L1 in the true band of the model and of the fused input (the baseline, on voxels it
    observed); the band threshold with the best F1 of "in band" on voxels >= 2 frames see, and that F1."""
    model.eval()
    tot, l1m, l1f, nb = 0.0, 0.0, 0.0, 0
    tp = torch.zeros(len(THRESHOLDS))
    fp = torch.zeros(len(THRESHOLDS))
    npos = 0
    for s in range(0, data["gt"].shape[0], 4):
        t, w, ph, g = batch_input(data, slice(s, s + 4))
        x = volume_features(t, w, ph)
        loss, _, (pred, outer, inner) = loss_fn(model, x, g, cfg)
        seen = x[:, SEEN2] > 0
        band = (g.abs() < 1) & seen
        obs_band = band & (w > 0)
        tot += float(loss) * g.shape[0]
        l1m += float((pred - g.clamp(-1, 1)).abs()[obs_band].sum())
        l1f += float((t - g.clamp(-1, 1)).abs()[obs_band].sum())
        nb += int(obs_band.sum())
        prob = band_probability(outer, inner)[seen]
        truth = band[seen]
        npos += int(truth.sum())
        for k, th in enumerate(THRESHOLDS):
            hit = prob > th
            tp[k] += float((hit & truth).sum())
            fp[k] += float((hit & ~truth).sum())
    f1 = 2 * tp / (2 * tp + fp + (npos - tp)).clamp_min(1.0)
    k = int(f1.argmax())
    n = data["gt"].shape[0]
    return {"loss": tot / n, "band_l1_model": l1m / max(nb, 1), "band_l1_fused": l1f / max(nb, 1),
            "band_f1": float(f1[k]), "band_threshold": round(float(THRESHOLDS[k]), 3),
            "band_f1_at_0.5": float(f1[9])}
