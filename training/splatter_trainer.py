"""Train :class:`core.splatter.SplatterNet`: one input view in, render held-out views of the same scene, compare.

Two stages as in Splatter Image: pixel loss (MSE) first, then MSE + ``lambda_ssim`` (1 - SSIM) from
``ssim_from_step`` (SSIM stands in for LPIPS, whose VGG weights are not available offline). Rendering uses the
project's own Gaussian rasteriser (``core.gaussians.fit.pick_renderer``: the torch reference on the CPU, gsplat on
CUDA), the same one inference and the fit stage use.

The run folder holds ``train.yaml``, ``state.pt`` (model + optimiser + step, for ``--resume``), ``last/`` and
``best/`` (``save_pretrained`` folders; best = highest held-out novel-view PSNR) and ``metrics.csv``. Sampling is
a pure function of ``(seed, step)``, so a resumed run sees the batches an uninterrupted one would have.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from core.camera import Camera, Intrinsics, unproject_depth
from core.errors import InputError
from core.splatter import SplatterNet
from training.splatter_config import SplatterTrainConfig
from training.splatter_data import ViewCache

log = logging.getLogger(__name__)

STATE = "state.pt"
RUN_CONFIG = "train.yaml"
METRICS_CSV = "metrics.csv"
CSV_FIELDS = ["step", "seconds", "loss", "val_psnr_novel", "val_ssim_novel", "val_psnr_input", "lr"]


def view_camera(K: torch.Tensor, pose: torch.Tensor, height: int, width: int) -> Camera:
    return Camera(Intrinsics.from_matrix(K, width, height), pose.detach().cpu().float())


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM (11x11 Gaussian window) of [H, W, 3] images in [0, 1]."""
    from kornia.metrics import ssim as kssim

    return kssim(pred.permute(2, 0, 1)[None], target.permute(2, 0, 1)[None], 11).mean()


def render_views(model: SplatterNet, batch: dict[str, torch.Tensor], input_depth: str, render, views: list[int]):  # noqa: ANN001, ANN201
    """Per scene of the batch, the renders [H, W, 3] of ``views`` (indices into the batch's views)."""
    return render_maps(predict_maps(model, batch, input_depth), batch, render, views)


def predict_maps(model: SplatterNet, batch: dict[str, torch.Tensor], input_depth: str) -> dict[str, torch.Tensor]:
    """The network's per-pixel Gaussian maps for the batch's input views (view 0), fed depth unless ``none``."""
    depth = batch["input_depth"] if input_depth != "none" else None
    return model(batch["rgb"][:, 0], batch["K"][:, 0], depth)


def render_maps(maps: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], render, views: list[int]):  # noqa: ANN001, ANN201
    """:func:`render_views` from the network's output maps."""
    rgb, K = batch["rgb"], batch["K"]
    H, W = rgb.shape[-2:]
    out = []
    for b in range(rgb.shape[0]):
        g = SplatterNet.gaussians(maps, b)
        out.append([render(g, view_camera(K[b, v], batch["poses"][b, v], H, W)).image for v in views])
    return out


def geometry_departure(maps: dict[str, torch.Tensor], K: torch.Tensor, depth: torch.Tensor | None) -> torch.Tensor:
    """Mean distance of the splats from their pixels' lifted points, in pixel footprints (``z / f``): the depth
    correction along the ray plus the 3D offset. A light L1 penalty on it keeps splats on the input depth unless
    the novel views need them elsewhere, which is what the closed-form colour solve needs on the input views."""
    z = maps["depth"]
    ref = z if depth is None else torch.where(depth[:, 0] > 0, depth[:, 0], z)
    lifted = torch.stack([unproject_depth(ref[b], K[b]) for b in range(len(ref))])
    footprint = (ref / K[:, 0, 0, None, None]).clamp_min(1e-6)
    return ((maps["means"] - lifted).norm(dim=-1) / footprint).mean()


def load_data(cfg: SplatterTrainConfig, out: Path) -> tuple[ViewCache, ViewCache]:
    d = cfg.data
    if d.source == "srn":
        from training.data.srn import srn_cache

        depth_model = d.depth_model if cfg.input_depth == "predicted" else None
        return (srn_cache(d.root, "train", d.targets, d.train_scenes, d.seed, depth_model),
                srn_cache(d.root, "val", d.targets, d.val_scenes, d.seed, depth_model))
    from training.splatter_data import splatter_cache

    cache_dir = Path(d.cache_dir) if d.cache_dir else out / "cache"
    args = (d.targets, d.height, d.width, d.seed)
    return (splatter_cache(d.train_scenes, *args, "train", cache_dir, d.depth_model).downsampled(d.downsample),
            splatter_cache(d.val_scenes, *args, "val", cache_dir, d.depth_model).downsampled(d.downsample))


@torch.no_grad()
def evaluate(model: SplatterNet, cache: ViewCache, input_depth: str, render) -> dict[str, float]:  # noqa: ANN001
    """Mean PSNR / SSIM of the held-out (novel) views and PSNR of the input view over a whole split."""
    from core.gaussians.rasterize import psnr

    was_training = model.training
    model.eval()
    novel_p, novel_s, inp = [], [], []
    V = cache.images.shape[1]
    for start in range(0, len(cache), 8):
        index = np.arange(start, min(start + 8, len(cache)))
        batch = cache.batch(index, input_depth, next(model.parameters()).device)
        renders = render_views(model, batch, input_depth, render, list(range(V)))
        for b, imgs in enumerate(renders):
            for v, img in enumerate(imgs):
                target = batch["rgb"][b, v].permute(1, 2, 0)
                pred = img.clamp(0, 1)
                if v == 0:
                    inp.append(psnr(pred, target))
                else:
                    novel_p.append(psnr(pred, target))
                    novel_s.append(float(ssim(pred, target)))
    model.train(was_training)
    return {"val_psnr_novel": float(np.mean(novel_p)), "val_ssim_novel": float(np.mean(novel_s)),
            "val_psnr_input": float(np.mean(inp))}


class SplatterTrainer:
    """Owns the model, optimiser and run folder; :meth:`train` runs to ``max_steps``."""

    def __init__(self, cfg: SplatterTrainConfig, out: str | Path, *, resume: bool = False) -> None:
        from core.gaussians.fit import pick_renderer

        self.cfg = cfg
        self.out = Path(out)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        torch.manual_seed(cfg.seed)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.renderer, self.render = pick_renderer("auto", self.device)
        self.model = SplatterNet(cfg.net_config()).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.step = 0
        self.best: float | None = None
        self.seconds = 0.0
        if resume:
            self._load_state()
        elif (self.out / STATE).exists():
            raise InputError(f"{self.out} already holds a training run; pass --resume to continue it or pick a "
                             "new --out")
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / RUN_CONFIG).write_text(cfg.to_yaml())
        self.train_cache, self.val_cache = load_data(cfg, self.out)
        if len(self.train_cache) < cfg.batch_size:
            raise InputError(f"{len(self.train_cache)} training scenes < batch_size {cfg.batch_size}")

    def lr_at(self, step: int) -> float:
        cfg = self.cfg
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
        return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))

    def loss(self, batch: dict[str, torch.Tensor], step: int) -> torch.Tensor:
        cfg = self.cfg
        V = batch["rgb"].shape[1]
        targets = list(range(1, V))
        if cfg.targets_per_step is not None and cfg.targets_per_step < len(targets):
            rng = np.random.default_rng([cfg.seed, step, 1])
            targets = sorted(rng.choice(targets, cfg.targets_per_step, replace=False).tolist())
        views = [0, *targets] if cfg.render_input_view else targets
        maps = predict_maps(self.model, batch, cfg.input_depth)
        renders = render_maps(maps, batch, self.render, views)
        terms = []
        for b, imgs in enumerate(renders):
            for v, img in zip(views, imgs, strict=True):
                target = batch["rgb"][b, v].permute(1, 2, 0)
                term = torch.mean((img - target) ** 2)
                if step >= cfg.ssim_from_step:
                    term = term + cfg.lambda_ssim * (1 - ssim(img, target))
                terms.append(term)
        loss = torch.stack(terms).mean()
        if cfg.lambda_geometry:
            depth = batch["input_depth"] if cfg.input_depth != "none" else None
            loss = loss + cfg.lambda_geometry * geometry_departure(maps, batch["K"][:, 0], depth)
        return loss

    def train(self) -> dict[str, float]:
        from tqdm import tqdm

        cfg = self.cfg
        if self.step == 0:
            self._log_row({"step": 0, "seconds": 0.0, **evaluate(self.model, self.val_cache, cfg.input_depth,
                                                                  self.render)})
        bar = tqdm(total=cfg.max_steps, initial=self.step, desc=f"splatter {cfg.input_depth}", unit="step",
                   dynamic_ncols=True, mininterval=5)
        losses: list[float] = []
        try:
            while self.step < cfg.max_steps:
                t0 = time.perf_counter()
                rng = np.random.default_rng([cfg.seed, self.step])
                index = rng.choice(len(self.train_cache), cfg.batch_size, replace=False)
                batch = self.train_cache.batch(index, cfg.input_depth, self.device)
                lr = self.lr_at(self.step)
                for group in self.opt.param_groups:
                    group["lr"] = lr
                loss = self.loss(batch, self.step)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite loss at step {self.step}")
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.opt.step()
                self.step += 1
                self.seconds += time.perf_counter() - t0
                losses.append(float(loss.detach()))
                bar.update(1)
                row: dict[str, float] = {}
                if self.step % cfg.log_every == 0:
                    row = {"step": self.step, "seconds": round(self.seconds, 1), "loss": float(np.mean(losses)),
                           "lr": lr}
                    losses = []
                if self.step % cfg.eval_every == 0 or self.step == cfg.max_steps:
                    row = {**row, "step": self.step, "seconds": round(self.seconds, 1),
                           **evaluate(self.model, self.val_cache, cfg.input_depth, self.render)}
                    if self.best is None or row["val_psnr_novel"] > self.best:
                        self.best = row["val_psnr_novel"]
                        self.model.save_pretrained(self.out / "best", metrics=self._card_metrics(row))
                    log.info("step %d: val novel PSNR %.2f dB SSIM %.3f, input %.2f dB", self.step,
                             row["val_psnr_novel"], row["val_ssim_novel"], row["val_psnr_input"])
                if row:
                    self._log_row(row)
                if self.step % cfg.save_every == 0 or self.step == cfg.max_steps:
                    self._save_state()
        except KeyboardInterrupt:
            self._save_state()
            raise
        finally:
            bar.close()
        self.model.save_pretrained(self.out / "last")
        return self._card_metrics(self._last_eval())

    def _card_metrics(self, row: dict) -> dict:
        return {"step": self.step, "input_depth": self.cfg.input_depth, "cpu_seconds": round(self.seconds, 1),
                "renderer": self.renderer, **{k: v for k, v in row.items() if k.startswith("val_")}}

    def _last_eval(self) -> dict:
        with open(self.out / METRICS_CSV) as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("val_psnr_novel")]
        return {k: float(v) for k, v in rows[-1].items() if k.startswith("val_") and v} if rows else {}

    def _log_row(self, row: dict) -> None:
        path = self.out / METRICS_CSV
        new = not path.exists()
        with open(path, "a", newline="") as fh:
            w = csv.DictWriter(fh, CSV_FIELDS)
            if new:
                w.writeheader()
            w.writerow({k: row.get(k, "") for k in CSV_FIELDS})

    def _save_state(self) -> None:
        tmp = self.out / (STATE + ".tmp")
        torch.save({"model": self.model.state_dict(), "opt": self.opt.state_dict(), "step": self.step,
                    "best": self.best, "seconds": self.seconds}, tmp)
        tmp.replace(self.out / STATE)
        (self.out / "progress.json").write_text(json.dumps({"step": self.step, "best": self.best}) + "\n")

    def _load_state(self) -> None:
        path = self.out / STATE
        if not path.is_file():
            raise InputError(f"--resume: {self.out} holds no splatter run state ({STATE})")
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.step, self.best, self.seconds = state["step"], state["best"], state.get("seconds", 0.0)
        _truncate_csv(self.out / METRICS_CSV, self.step)


def _truncate_csv(path: Path, step: int) -> None:
    """Drop rows logged after the saved step (they will be logged again)."""
    if not path.exists():
        return
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, CSV_FIELDS)
        w.writeheader()
        w.writerows(r for r in rows if int(r["step"]) <= step)
