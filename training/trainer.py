"""The training loop of the depth network: two tasks, EMA weights, exact resume, CSV/TensorBoard logs.

Run folder layout (``OUT``)::

    train.yaml              the resolved recipe (what --resume continues)
    config.json             network config     } the EMA weights: OUT itself is a checkpoint
    model.safetensors       inference weights  } usable as ``--depth-model ckpt:OUT``
    metrics.json            latest validation metrics and the step they belong to
    best/                   the same three files for the best validation ``select_metric`` so far
    trainer_state.safetensors + trainer_state.json   raw weights, optimizer moments, step (for --resume)
    train_metrics.csv, val_metrics.csv, tb/ (if tensorboard is installed), cache/ (rendered frames)

Everything a step consumes is a function of ``(seed, step)`` and the saved state, so an interrupted run resumed
with ``--resume`` produces bit-identical weights to one that never stopped (on the same machine and threads).
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

from core.depthnet import DepthCompletionNet, DepthNetConfig
from core.errors import InputError
from training.completion_dataset import Batch, CompletionSampler, synthetic_cache, validation_batches
from training.distributed import DistContext, init_distributed, replicas_agree
from training.evaluate import evaluate
from training.losses import consistency_loss, relative_l1_loss, silog_loss
from training.train_config import TrainConfig

log = logging.getLogger(__name__)

STATE_WEIGHTS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"
RUN_CONFIG = "train.yaml"
VAL_KEYS = ["hole_absrel", "hole_delta1", "hole_mae", "frame_absrel", "frame_delta1", "frame_mae",
            "frame_scaled_absrel", "frame_scaled_delta1", "known_mae"]
TRAIN_KEYS = ["loss", "silog", "consistency", "depth_l1", "self_loss", "lr", "sec_per_step"]


def net_config(cfg: TrainConfig) -> DepthNetConfig:
    m = cfg.model
    return DepthNetConfig(
        base_channels=m.base_channels, channel_mults=tuple(m.channel_mults), groups=m.groups,
        mono_log_scale=m.mono_log_scale, fill_prior=m.fill_prior,
        mixture_priors=tuple(m.mixture_priors), row_coordinate=m.row_coordinate, flip_average=m.flip_average,
        image_input=m.image_input,
    )


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at ``max_steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    t = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def task_losses(model: DepthCompletionNet, batch: Batch, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """SILog on the target, the known-pixel consistency term and (optionally) hole L1 in depth, sample-weighted.

    Monocular samples are scored on the whole frame with ``silog_lambda`` (scale is genuinely ambiguous there).
    Completion samples are scored on their holes -- the known pixels are the consistency term's job -- with
    ``silog_lambda_completion``: known depth fixes the scale, so an offset in the holes is a real error.
    """
    pred_log = model.predict_log(batch.rgb, batch.known_depth, batch.known.float())
    w = batch.weight
    terms = []
    for i in range(len(w)):
        comp = bool(batch.completion[i])
        region = batch.hole[i : i + 1] if comp else batch.target_valid[i : i + 1]
        lam = cfg.silog_lambda_completion if comp else cfg.silog_lambda
        terms.append(silog_loss(pred_log[i : i + 1], batch.target[i : i + 1], region, lam=lam))
    silog = (torch.stack(terms) * w).sum() / w.sum()
    cons = consistency_loss(pred_log, batch.known_depth, batch.known & (w > 0)[:, None, None, None])
    loss = silog + cfg.consistency_weight * cons
    out = {"silog": silog, "consistency": cons}
    if cfg.depth_l1_weight > 0:
        log_s = model.reference_log_scale(batch.known_depth, batch.known.float())
        comp = batch.completion.to(torch.bool) & (w > 0)
        l1 = relative_l1_loss(pred_log, batch.target, batch.hole & comp[:, None, None, None], log_s)
        loss = loss + cfg.depth_l1_weight * l1
        out["depth_l1"] = l1
    out["loss"] = loss
    return out


class StepLoss(torch.nn.Module):
    """One training step's loss as a module: the synthetic batch's task losses plus the weighted self-training
    batch's. Why a module: ``DistributedDataParallel`` averages gradients through hooks armed by its own
    ``forward``, once per backward; both batches must therefore go through one wrapped forward."""

    def __init__(self, net: DepthCompletionNet, cfg: TrainConfig) -> None:
        super().__init__()
        self.net = net
        self.cfg = cfg

    def forward(self, batch: Batch, self_batch: Batch | None = None) -> dict[str, torch.Tensor]:
        out = task_losses(self.net, batch, self.cfg)
        if self_batch is not None:
            self_loss = task_losses(self.net, self_batch, self.cfg)["loss"]
            out["loss"] = out["loss"] + self.cfg.self_training.weight * self_loss
            out["self_loss"] = self_loss
        return out


class Trainer:
    """Owns the model, its EMA, the optimizer and the run folder; :meth:`train` runs to ``max_steps``.

    Under ``torchrun`` (:mod:`training.distributed`) every rank builds the same trainer: ``batch_size`` is the
    global batch, each rank trains on its share of it (the same samples a single process would draw for that
    step, dealt out round-robin), ``DistributedDataParallel`` averages the gradients, and rank 0 alone renders the
    frame cache, validates, logs and writes checkpoints. ``--resume`` works the same way on every rank.
    """

    def __init__(
        self, cfg: TrainConfig, out: str | Path, *, resume: bool = False, dist: DistContext | None = None
    ) -> None:
        self.cfg = cfg
        self.out = Path(out)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        self.dist = dist if dist is not None else init_distributed(cfg.device)
        if cfg.batch_size % self.dist.world_size:
            raise InputError(f"batch_size {cfg.batch_size} (the global batch) must be a multiple of the "
                             f"{self.dist.world_size} processes")
        device = self.dist.device
        torch.manual_seed(cfg.seed)
        self.model = DepthCompletionNet(net_config(cfg)).to(device)
        if cfg.init and not resume:
            _warm_start(self.model, cfg.init)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.loss_fn: torch.nn.Module = StepLoss(self.model, cfg)
        if self.dist.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self.loss_fn = DistributedDataParallel(self.loss_fn, device_ids=ids)
        self.step = 0
        self.best: float | None = None
        if resume:
            self._load_state()
        elif (self.out / STATE_JSON).exists():
            raise InputError(f"{self.out} already holds a training run; pass --resume to continue it or pick a "
                             "new --out")
        main = self.dist.is_main
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / RUN_CONFIG).write_text(cfg.to_yaml())
        cache_dir = Path(cfg.synthetic.cache_dir) if cfg.synthetic.cache_dir else self.out / "cache"
        if not main:  # rank 0 renders the cache once; the others read it
            self.dist.barrier()
        self.train_cache = synthetic_cache(cfg.synthetic, "train", cache_dir)
        self.val_cache = synthetic_cache(cfg.synthetic, "val", cache_dir)
        if main:
            self.dist.barrier()
        self.sampler = CompletionSampler(
            self.train_cache, crop=tuple(cfg.crop), p_completion=cfg.p_completion, p_warp=cfg.p_warp,
            rescale=tuple(cfg.rescale), seed=cfg.seed, camera_effects=cfg.camera_effects,
        )
        self.val_batches = validation_batches(self.val_cache, batch_size=16) if main else []
        self.self_source = None
        if cfg.self_training.images:
            from training.self_training import SelfTrainingSource

            self.self_source = SelfTrainingSource.from_config(cfg, crop=tuple(cfg.crop))
        self._tb = _tensorboard(self.out / "tb") if main else None

    # -------------------------------------------------------------------------------------------- loop
    def train(self, *, on_step: Callable[[int], None] | None = None) -> dict[str, float]:
        """Train until ``max_steps``; Ctrl-C saves the state (so ``--resume`` continues) and re-raises."""
        from tqdm import tqdm

        cfg = self.cfg
        if self.step >= cfg.max_steps:
            log.info("run in %s is already at step %d >= max_steps %d", self.out, self.step, cfg.max_steps)
            return self._read_metrics()
        self.model.train()
        main = self.dist.is_main
        bar = tqdm(total=cfg.max_steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True,
                   disable=not main)
        try:
            while self.step < cfg.max_steps:
                t0 = time.perf_counter()
                stats = self._train_step()
                self.step += 1
                stats["sec_per_step"] = time.perf_counter() - t0
                bar.update(1)
                bar.set_postfix(loss=f"{stats['loss']:.4f}", silog=f"{stats['silog']:.4f}",
                                cons=f"{stats['consistency']:.4f}")
                if main and (self.step % cfg.log_every == 0 or self.step == cfg.max_steps):
                    self._log_row("train_metrics.csv", ["step", *TRAIN_KEYS], stats)
                if main and (self.step % cfg.eval_every == 0 or self.step == cfg.max_steps):
                    self._validate()
                if self.step % cfg.save_every == 0 or self.step == cfg.max_steps:
                    self.save()  # every rank: the replica check inside is collective
                if on_step is not None:
                    on_step(self.step)
        except KeyboardInterrupt:
            self.save()
            log.warning("interrupted at step %d; state saved, continue with --resume --out %s", self.step, self.out)
            raise
        finally:
            bar.close()
        self.dist.barrier()
        return self._read_metrics()

    def _train_step(self) -> dict[str, float]:
        cfg = self.cfg
        lr = lr_at(cfg, self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        ctx, device = self.dist, self.dist.device
        batch = self.sampler.batch(self.step, cfg.batch_size, shard=(ctx.rank, ctx.world_size)).to(device)
        self_batch = None
        st = cfg.self_training
        n_self = len(ctx.shard(st.per_batch))
        if self.self_source is not None and self.step >= st.start_step and n_self > 0:
            rng = self.sampler.rng(self.step, stream=1, rank=ctx.rank if ctx.distributed else None)
            self_batch = self.self_source.batch(rng, n_self, self.ema).to(device)
        losses = self.loss_fn(batch, self_batch)
        loss = losses["loss"]
        self_loss = losses.get("self_loss", torch.zeros(()))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        self._update_ema()
        return {"loss": float(loss.detach()), "silog": float(losses["silog"].detach()),
                "consistency": float(losses["consistency"].detach()),
                "depth_l1": float(losses["depth_l1"].detach()) if "depth_l1" in losses else None,
                "self_loss": float(self_loss.detach()), "lr": lr}

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Early on the EMA would mostly remember the random init; ramp the decay up with the step count.
        decay = min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step))
        for e, p in zip(self.ema.parameters(), self.model.parameters(), strict=True):
            e.lerp_(p, 1 - decay)
        for e, b in zip(self.ema.buffers(), self.model.buffers(), strict=True):
            e.copy_(b)

    def _validate(self) -> dict[str, float]:
        metrics = evaluate(self.ema, self.val_batches)
        metrics["step"] = self.step
        self._log_row("val_metrics.csv", ["step", *VAL_KEYS], metrics)
        log.info("step %d val: hole AbsRel %.4f delta1 %.3f MAE %.3f m | frame AbsRel %.4f delta1 %.3f MAE %.3f m",
                 self.step, metrics["hole_absrel"], metrics["hole_delta1"], metrics["hole_mae"],
                 metrics["frame_absrel"], metrics["frame_delta1"], metrics["frame_mae"])
        self.ema.save_pretrained(self.out, metrics=metrics)
        value = metrics[self.cfg.select_metric]
        if self.best is None or value < self.best:
            self.best = value
            self.ema.save_pretrained(self.out / "best", metrics=metrics)
        return metrics

    # ------------------------------------------------------------------------------------------ logging
    def _log_row(self, name: str, keys: list[str], values: dict[str, float]) -> None:
        path = self.out / name
        new = not path.exists()
        with path.open("a", newline="") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(keys)
            writer.writerow([self.step if k == "step" else _fmt(values.get(k)) for k in keys])
        if self._tb is not None:
            split = "val" if name.startswith("val") else "train"
            for k in keys:
                if k != "step" and values.get(k) is not None:
                    self._tb.add_scalar(f"{split}/{k}", float(values[k]), self.step)
            self._tb.flush()

    def _read_metrics(self) -> dict[str, float]:
        path = self.out / "metrics.json"
        return json.loads(path.read_text()) if path.exists() else {}

    # ------------------------------------------------------------------------------------------- state
    def save(self) -> None:
        """Write the resumable state atomically-enough: weights file first, then the json that names its step.

        Called on every rank: first all ranks check that they hold identical weights (a diverged replica is an
        error, never a silently saved checkpoint), then rank 0 writes."""
        from safetensors.torch import save_file

        if not replicas_agree(self.model, self.dist):
            raise RuntimeError(f"step {self.step}: data-parallel replicas hold different weights")
        if not self.dist.is_main:
            return
        tensors: dict[str, torch.Tensor] = {}
        for k, v in self.model.state_dict().items():
            tensors[f"model.{k}"] = v.detach().cpu().contiguous()
        for k, v in self.ema.state_dict().items():
            tensors[f"ema.{k}"] = v.detach().cpu().contiguous()
        opt_state = self.opt.state_dict()
        for idx, st in opt_state["state"].items():
            for name, v in st.items():
                tensors[f"opt.{idx}.{name}"] = torch.as_tensor(v).detach().cpu().contiguous()
        tmp = self.out / (STATE_WEIGHTS + ".tmp")
        save_file(tensors, str(tmp))
        tmp.replace(self.out / STATE_WEIGHTS)
        meta = {"step": self.step, "best": self.best, "select_metric": self.cfg.select_metric,
                "param_groups": opt_state["param_groups"]}
        tmp_json = self.out / (STATE_JSON + ".tmp")
        tmp_json.write_text(json.dumps(meta, indent=2))
        tmp_json.replace(self.out / STATE_JSON)
        if not (self.out / "model.safetensors").exists():
            self.ema.save_pretrained(self.out)

    def _load_state(self) -> None:
        from safetensors.torch import load_file

        if not (self.out / STATE_JSON).is_file():
            if not (self.out / RUN_CONFIG).is_file():
                raise InputError(f"--resume: {self.out} holds no training run")
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
        self.step = int(meta["step"])
        self.best = meta.get("best", meta.get("best_hole_absrel"))
        if self.dist.is_main:
            for name in ("train_metrics.csv", "val_metrics.csv"):
                _truncate_csv(self.out / name, self.step)


def _warm_start(model: DepthCompletionNet, ckpt: str) -> None:
    """Copy the weights of checkpoint ``ckpt`` into ``model``; the architecture must match, except that the fill
    prior, the image input and the inference flip may differ (they change what an input channel holds or how
    inference runs, not the weights' shapes) and the model may add mixture fills: their input channels and logits
    start at zero, so the warm-started net first predicts the uniform mixture of its own prediction and the fills."""
    src = DepthCompletionNet.from_pretrained(ckpt)
    a, b = src.config.to_dict(), model.config.to_dict()
    for d in (a, b):
        for key in ("fill_prior", "mixture_priors", "row_coordinate", "flip_average", "image_input"):
            d.pop(key)
    if a != b or src.config.mixture_priors != model.config.mixture_priors[: len(src.config.mixture_priors)]:
        raise InputError(f"init: {ckpt} has architecture {src.config.to_dict()}, the recipe asks for "
                         f"{model.config.to_dict()}")
    state = model.state_dict()
    for k, v in src.state_dict().items():
        if state[k].shape == v.shape:
            state[k] = v
        else:  # the stem's extra input channels, the head's extra logits: leading slices copied, the rest zero
            state[k] = torch.zeros_like(state[k])
            state[k][tuple(slice(0, n) for n in v.shape)] = v
    model.load_state_dict(state, strict=True)
    log.info("warm start from %s", ckpt)


def _fmt(v: float | None) -> str:
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _truncate_csv(path: Path, step: int) -> None:
    """Drop rows logged after the saved step (they will be logged again, identically, by the resumed run)."""
    if not path.exists():
        return
    with path.open() as fh:
        rows = list(csv.reader(fh))
    kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) <= step]
    if len(kept) != len(rows):
        with path.open("w", newline="") as fh:
            csv.writer(fh).writerows(kept)


def _tensorboard(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional; the CSV logs are always written
        return None
    return SummaryWriter(str(path))
