"""Training loop of the point-cloud camera module: L1 on the shift and on the log focal scale (LeReS), AdamW with
warm-up and cosine decay, an EMA copy that is what gets saved, resumable state in ``OUT/state.*``.

``OUT`` itself is a checkpoint folder (``config.json`` + ``model.safetensors`` of the EMA weights, plus
``metrics.json``); ``OUT/best`` holds the best-validation one.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from core.camera_recovery import CameraNetConfig, PointCloudCameraNet
from core.camera_recovery.geometry import focal_from_fov, fov_from_focal
from core.camera_recovery.recover import module_recovery
from core.errors import InputError
from training.camera.config import CameraTrainConfig
from training.camera.data import DepthCache, distorted_batch, real_depth_cache, synthetic_depth_cache

log = logging.getLogger(__name__)

RUN_CONFIG = "train.yaml"
STATE_WEIGHTS = "state.safetensors"
STATE_JSON = "state.json"
TRAIN_KEYS = ["loss", "shift_l1", "focal_l1", "lr", "sec_per_step"]
VAL_KEYS = ["shift_mae", "log_focal_mae", "fov_median_deg", "fov_mean_deg", "fov_metric_median_deg", "select"]
VAL_SEED = 12345


def net_config(cfg: CameraTrainConfig) -> CameraNetConfig:
    m = cfg.model
    return CameraNetConfig(in_channels=m.in_channels, num_points=m.num_points, normals=m.normals,
                           centroids=tuple(m.centroids),
                           neighbours=m.neighbours, widths=tuple(tuple(w) for w in m.widths),
                           global_width=m.global_width, guess_fov_deg=m.guess_fov_deg, iterations=m.iterations,
                           pair_bins=m.pair_bins)


def lr_at(cfg: CameraTrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    p = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


@torch.no_grad()
def validate(model: PointCloudCameraNet, cache: DepthCache, cfg: CameraTrainConfig) -> dict[str, float]:
    """Single-pass errors on fixed distortions, and the inference settings: from the guessed FOV, iterated, on
    the distorted clouds (shift estimated) and on exact unshifted depth (``fov_metric_*``: the benchmark's
    ``metric`` scenario, shift not estimated)."""
    model.eval()
    gen = torch.Generator().manual_seed(VAL_SEED)
    gen_exact = torch.Generator().manual_seed(VAL_SEED + 1)  # its own stream: the distorted clouds stay as before
    shift_err, logf_err, fov_err, fov_metric_err = [], [], [], []
    exact = cfg.distortion.model_copy(update={"p_no_shift": 1.0, "depth_noise": 0.0})
    for start in range(0, len(cache), 32):
        rows = np.arange(start, min(start + 32, len(cache)))
        cloud, focal = distorted_batch(cache, rows, gen, cfg.distortion, cfg.model.num_points)
        s, la = model(cloud.points(), cloud.uv)
        shift_err.append((s - cloud.shift).abs())
        counted = torch.ones_like(cloud.shift, dtype=torch.bool)
        if cfg.focal_max_shift is not None:  # as the loss: the focal is only read from (nearly) unshifted clouds
            counted = cloud.shift.abs() <= cfg.focal_max_shift
        logf_err.append((la - cloud.log_focal_scale).abs()[counted])
        _, f = module_recovery(model, cloud.depth_n, cloud.uv, float(focal_from_fov(cfg.model.guess_fov_deg)))
        fov_err.append((fov_from_focal(f) - fov_from_focal(focal)).abs())
        plain, _ = distorted_batch(cache, rows, gen_exact, exact, cfg.model.num_points)
        _, f = module_recovery(model, plain.depth_n, plain.uv, float(focal_from_fov(cfg.model.guess_fov_deg)),
                               estimate_shift=False)
        fov_metric_err.append((fov_from_focal(f) - fov_from_focal(focal)).abs())
    fe = torch.cat(fov_err)
    m = {"shift_mae": float(torch.cat(shift_err).mean()), "log_focal_mae": float(torch.cat(logf_err).mean()),
         "fov_median_deg": float(fe.median()), "fov_mean_deg": float(fe.mean()),
         "fov_metric_median_deg": float(torch.cat(fov_metric_err).median())}
    m["select"] = m["shift_mae"] + m["log_focal_mae"]
    return m


class CameraTrainer:
    """Owns the model, its EMA, the optimizer and the run folder; :meth:`train` runs to ``max_steps``."""

    def __init__(self, cfg: CameraTrainConfig, out: str | Path, *, resume: bool = False) -> None:
        self.cfg = cfg
        self.out = Path(out)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        torch.manual_seed(cfg.seed)
        self.model = PointCloudCameraNet(net_config(cfg))
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.step = 0
        self.best: float | None = None
        if resume:
            self._load_state()
        elif (self.out / STATE_JSON).exists():
            raise InputError(f"{self.out} already holds a training run; pass --resume to continue it or pick a "
                             "new --out")
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / RUN_CONFIG).write_text(cfg.to_yaml())
        cache_dir = Path(cfg.data.cache_dir) if cfg.data.cache_dir else self.out / "cache"
        self.train_cache = synthetic_depth_cache(cfg.data, "train", cache_dir)
        real = real_depth_cache(cfg.data.real, cfg.data.height, cfg.data.width)
        if real is not None:
            self.train_cache = DepthCache(np.concatenate([self.train_cache.depths, real.depths]),
                                          np.concatenate([self.train_cache.focal_n, real.focal_n]))
        self.val_cache = synthetic_depth_cache(cfg.data, "val", cache_dir)

    def train(self) -> dict[str, float]:
        """Train until ``max_steps``; Ctrl-C saves the state (so ``--resume`` continues) and re-raises."""
        from tqdm import tqdm

        cfg = self.cfg
        if self.step >= cfg.max_steps:
            log.info("run in %s is already at step %d >= max_steps %d", self.out, self.step, cfg.max_steps)
            return self._read_metrics()
        bar = tqdm(total=cfg.max_steps, initial=self.step, desc="train camera", unit="step", dynamic_ncols=True)
        try:
            while self.step < cfg.max_steps:
                t0 = time.perf_counter()
                stats = self._train_step()
                self.step += 1
                stats["sec_per_step"] = time.perf_counter() - t0
                bar.update(1)
                bar.set_postfix(loss=f"{stats['loss']:.4f}")
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    self._log_row("train_metrics.csv", ["step", *TRAIN_KEYS], stats)
                if self.step % cfg.eval_every == 0 or self.step == cfg.max_steps:
                    self._validate()
                if self.step % cfg.save_every == 0 or self.step == cfg.max_steps:
                    self.save()
        except KeyboardInterrupt:
            self.save()
            log.warning("interrupted at step %d; state saved, continue with --resume --out %s", self.step, self.out)
            raise
        finally:
            bar.close()
        return self._read_metrics()

    def _train_step(self) -> dict[str, float]:
        cfg = self.cfg
        lr = lr_at(cfg, self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.step)
        rows = torch.randint(len(self.train_cache), (cfg.batch_size,), generator=gen).numpy()
        cloud, _ = distorted_batch(self.train_cache, rows, gen, cfg.distortion, cfg.model.num_points)
        self.model.train()
        s, la = self.model(cloud.points(), cloud.uv)
        shift_l1 = (s - cloud.shift).abs().mean()
        focal_err = (la - cloud.log_focal_scale).abs()
        if cfg.focal_max_shift is not None:
            keep = (cloud.shift.abs() <= cfg.focal_max_shift).float()
            focal_l1 = (focal_err * keep).sum() / keep.sum().clamp_min(1)
        else:
            focal_l1 = focal_err.mean()
        loss = cfg.shift_weight * shift_l1 + cfg.focal_weight * focal_l1
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        with torch.no_grad():
            decay = min(cfg.ema_decay, (1 + self.step) / (10 + self.step))
            for e, p in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                e.lerp_(p, 1 - decay)
        return {"loss": float(loss), "shift_l1": float(shift_l1), "focal_l1": float(focal_l1), "lr": lr}

    def _validate(self) -> dict[str, float]:
        m = validate(self.ema, self.val_cache, self.cfg)
        m["step"] = self.step
        self._log_row("val_metrics.csv", ["step", *VAL_KEYS], m)
        log.info("step %d val: shift MAE %.4f, log-focal MAE %.4f, FOV error median %.2f / mean %.2f deg",
                 self.step, m["shift_mae"], m["log_focal_mae"], m["fov_median_deg"], m["fov_mean_deg"])
        self._save_model(self.out, m)
        if self.best is None or m["select"] < self.best:
            self.best = m["select"]
            self._save_model(self.out / "best", m)
        return m

    def _save_model(self, d: Path, metrics: dict[str, float]) -> None:
        self.ema.save_pretrained(d)
        (d / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")

    def _log_row(self, name: str, keys: list[str], values: dict[str, float]) -> None:
        path = self.out / name
        new = not path.exists()
        with path.open("a", newline="") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(keys)
            w.writerow([self.step if k == "step" else f"{values.get(k, float('nan')):.6g}" for k in keys])

    def _read_metrics(self) -> dict[str, float]:
        path = self.out / "metrics.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def save(self) -> None:
        """Resumable state: weights file first, then the json naming its step."""
        from safetensors.torch import save_file

        tensors = {f"model.{k}": v.detach().contiguous() for k, v in self.model.state_dict().items()}
        tensors.update({f"ema.{k}": v.detach().contiguous() for k, v in self.ema.state_dict().items()})
        opt_state = self.opt.state_dict()
        for idx, st in opt_state["state"].items():
            for name, v in st.items():
                tensors[f"opt.{idx}.{name}"] = torch.as_tensor(v).detach().contiguous()
        tmp = self.out / (STATE_WEIGHTS + ".tmp")
        save_file(tensors, str(tmp))
        tmp.replace(self.out / STATE_WEIGHTS)
        tmp_json = self.out / (STATE_JSON + ".tmp")
        tmp_json.write_text(json.dumps({"step": self.step, "best": self.best,
                                        "param_groups": opt_state["param_groups"]}, indent=2))
        tmp_json.replace(self.out / STATE_JSON)
        if not (self.out / "model.safetensors").exists():
            self.ema.save_pretrained(self.out)

    def _load_state(self) -> None:
        from safetensors.torch import load_file

        if not (self.out / STATE_JSON).is_file():
            log.warning("--resume: %s was stopped before its first checkpoint; starting at step 0", self.out)
            return
        meta = json.loads((self.out / STATE_JSON).read_text())
        tensors = load_file(str(self.out / STATE_WEIGHTS))
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
        self.ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}, strict=True)
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, idx, name = k.split(".", 2)
                state.setdefault(int(idx), {})[name] = v
        self.opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        self.step, self.best = int(meta["step"]), meta.get("best")
        for name in ("train_metrics.csv", "val_metrics.csv"):
            path = self.out / name
            if path.exists():
                rows = list(csv.reader(path.open()))
                kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) <= self.step]
                with path.open("w", newline="") as fh:
                    csv.writer(fh).writerows(kept)
