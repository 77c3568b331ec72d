"""``gld8tr train``: train the depth-completion network (or, with ``task: camera`` in the recipe, the camera
module; with ``task: splatter``, the feed-forward Gaussian network; with ``task: recon``, the mesh refiner)
from a YAML recipe, or evaluate a checkpoint.

    gld8tr train --config configs/tiny.yaml --out runs/tiny            # minutes on a CPU
    gld8tr train --config configs/camera-votes.yaml --out runs/camera   # the point-cloud camera module
    gld8tr train --config configs/recon.yaml --out runs/recon          # the volumetric mesh refiner
    gld8tr train --out runs/tiny --resume                              # continue after Ctrl-C
    gld8tr train --config configs/base.yaml --eval core/weights/gld8tr-depth --out runs/eval
    torchrun --nproc_per_node 8 --no-python gld8tr train --config configs/base.yaml --out runs/base   # 8 GPUs

Light to import: torch and the trainer load inside :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from core.errors import InputError

log = logging.getLogger("gld8tr.train")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="training recipe (YAML), e.g. configs/tiny.yaml; optional with --resume")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, logs, frame cache")
    parser.add_argument("--max-steps", type=int, help="override the recipe's max_steps (also extends a resumed run)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    parser.add_argument("--eval", metavar="CKPT", help="only evaluate checkpoint folder CKPT (with baselines) on "
                        "the recipe's held-out synthetic scenes; writes OUT/eval.json")
    parser.add_argument("--eval-scenes", metavar="SEED:COUNT", type=_seed_count,
                        help="with --eval: score COUNT validation scenes from seed SEED instead of the recipe's "
                        "(whose validation scenes chose the checkpoint), e.g. 1000:40")


def _seed_count(text: str) -> tuple[int, int]:
    try:
        seed, count = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SEED:COUNT, e.g. 1000:40, got {text!r}") from None
    if seed < 0 or count < 1:
        raise argparse.ArgumentTypeError(f"SEED must be >= 0 and COUNT >= 1, got {text!r}")
    return seed, count


def _task_of(config: str | None, out: Path, resume: bool) -> str:
    """The recipe's ``task:`` key (``depth`` when absent): which trainer ``gld8tr train`` runs. Resuming without
    ``--config`` reads the recipe the run saved (``train.yaml``; the reconstruction refiner's ``train.json``)."""
    from training.train_config import read_recipe

    if config:
        path = Path(config)
    else:
        saved = [out / name for name in ("train.yaml", "train.json")] if resume else []
        path = next((p for p in saved if p.is_file()), None)
    if path is None or not path.is_file():
        return "depth"
    return str(read_recipe(path).get("task", "depth"))


def _main_recon(args: argparse.Namespace, out: Path) -> int:
    from training.recon.config import ReconConfig
    from training.recon.trainer import train

    path = Path(args.config) if args.config else out / "train.json"
    overrides = {"max_steps": args.max_steps} if args.max_steps is not None else {}
    metrics = train(ReconConfig.load(path, overrides), out, resume=args.resume)
    log.info("done; refiner checkpoint: %s (use --refiner %s)", out, out)
    sys.stdout.write(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return 0


def main(args: argparse.Namespace) -> int:
    from training.train_config import load_recipe

    out = Path(args.out)
    task = _task_of(args.config, out, args.resume)
    if task == "recon":  # its own recipe schema; depth and camera recipes go through load_recipe
        return _main_recon(args, out)
    if task == "splatter":
        return _train_splatter(args, out)
    overrides = {"max_steps": args.max_steps} if args.max_steps is not None else {}
    if args.max_steps is not None and args.max_steps < 1:
        raise InputError("--max-steps must be at least 1")
    if args.resume:
        saved = out / "train.yaml"
        if not saved.is_file():
            raise InputError(f"--resume: {out} holds no run (no train.yaml)")
        cfg = load_recipe(saved, overrides)
        if args.config and load_recipe(args.config, overrides) != cfg:
            log.warning("--config differs from the recipe saved in %s; resuming with the saved recipe", saved)
    elif args.config:
        cfg = load_recipe(args.config, overrides)
    else:
        raise InputError("--config is required (unless --resume)")
    if args.eval_scenes and (not args.eval or cfg.task != "depth"):
        raise InputError("--eval-scenes goes with --eval CKPT on a depth recipe")
    if cfg.task == "camera":
        return _camera(cfg, args, out)

    if args.eval:
        if args.eval_scenes:
            seed, count = args.eval_scenes
            cfg = cfg.model_copy(update={"synthetic": cfg.synthetic.model_copy(update={"seed": seed,
                                                                                       "val_scenes": count})})
        return _evaluate(cfg, Path(args.eval), out)

    from training.distributed import init_distributed, shutdown
    from training.trainer import Trainer

    ctx = init_distributed(cfg.device)  # under torchrun: one process per device, rank 0 writes
    try:
        trainer = Trainer(cfg, out, resume=args.resume, dist=ctx)
        if args.resume:
            log.info("resuming run %s at step %d of %d", out, trainer.step, cfg.max_steps)
        else:
            log.info("new run %s: %d steps, model %d parameters, %d process(es) on %s", out, cfg.max_steps,
                     trainer.model.num_parameters(), ctx.world_size, ctx.device)
        metrics = trainer.train()
    finally:
        shutdown()
    if ctx.is_main:
        log.info("done at step %d; checkpoint: %s (use --depth-model ckpt:%s)", trainer.step, out, out)
        sys.stdout.write(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return 0


def _camera(cfg, args: argparse.Namespace, out: Path) -> int:
    """``task: camera``: train the point-cloud camera module, or evaluate a checkpoint on the validation frames."""
    from training.camera.trainer import CameraTrainer

    if args.eval:
        import torch

        from core.camera_recovery import PointCloudCameraNet
        from training.camera.data import synthetic_depth_cache
        from training.camera.trainer import validate

        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        cache_dir = Path(cfg.data.cache_dir) if cfg.data.cache_dir else out / "cache"
        metrics = validate(PointCloudCameraNet.from_pretrained(args.eval), synthetic_depth_cache(cfg.data, "val",
                           cache_dir), cfg)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps({"checkpoint": str(args.eval), **metrics}, indent=2) + "\n")
        sys.stdout.write(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        return 0
    trainer = CameraTrainer(cfg, out, resume=args.resume)
    log.info("%s camera run %s at step %d of %d, model %d parameters", "resuming" if args.resume else "new", out,
             trainer.step, cfg.max_steps, trainer.model.num_parameters())
    metrics = trainer.train()
    log.info("done at step %d; checkpoint: %s (use --camera-model %s)", trainer.step, out, out)
    sys.stdout.write(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return 0


def _train_splatter(args: argparse.Namespace, out: Path) -> int:
    """``task: splatter`` recipes: the feed-forward Gaussian network (``training/splatter_trainer.py``)."""
    from training.splatter_config import SplatterTrainConfig

    overrides = {"max_steps": args.max_steps} if args.max_steps is not None else {}
    if args.max_steps is not None and args.max_steps < 1:
        raise InputError("--max-steps must be at least 1")
    if args.eval:
        raise InputError("--eval is for depth-network recipes; splatter runs evaluate as they train")
    cfg = SplatterTrainConfig.load(out / "train.yaml" if args.resume else args.config, overrides)
    from training.splatter_trainer import SplatterTrainer

    trainer = SplatterTrainer(cfg, out, resume=args.resume)
    log.info("splatter run %s (input depth: %s) at step %d of %d, model %d parameters", out, cfg.input_depth,
             trainer.step, cfg.max_steps, trainer.model.num_parameters())
    metrics = trainer.train()
    log.info("done at step %d; best checkpoint: %s", trainer.step, out / "best")
    sys.stdout.write(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return 0


def _evaluate(cfg, ckpt: Path, out: Path) -> int:
    from core.depthnet import DepthCompletionNet
    from training.completion_dataset import synthetic_cache, validation_batches
    from training.evaluate import evaluate

    if cfg.num_threads:
        import torch

        torch.set_num_threads(cfg.num_threads)
    model = DepthCompletionNet.from_pretrained(ckpt)
    cache_dir = Path(cfg.synthetic.cache_dir) if cfg.synthetic.cache_dir else out / "cache"
    batches = validation_batches(synthetic_cache(cfg.synthetic, "val", cache_dir), batch_size=16)
    metrics = evaluate(model, batches, baselines=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps({"checkpoint": str(ckpt), **metrics}, indent=2, sort_keys=True) + "\n")
    sys.stdout.write(_table(metrics) + "\n")
    return 0


def _table(m: dict[str, float]) -> str:
    """The evaluation as the model card's table: the network, the benchmark's baselines by name, the monocular rows."""
    from core.backends.registry import COMPLETION_BASELINES

    rows = [("gld8tr completion (holes)", "hole")]
    rows += [(f"{name} (holes)", f"{name}_hole") for name in COMPLETION_BASELINES]
    rows += [("gld8tr monocular (whole frames)", "frame"), ("gld8tr monocular, median-scaled", "frame_scaled"),
             ("constant depth, median-scaled", "constant_frame_scaled")]
    lines = [f"{'method':<36}{'AbsRel':>9}{'delta1':>9}{'MAE m':>9}{'RMSE m':>9}{'pixels':>10}"]
    for label, key in rows:
        if f"{key}_absrel" in m:
            lines.append(f"{label:<36}{m[f'{key}_absrel']:>9.4f}{m[f'{key}_delta1']:>9.4f}{m[f'{key}_mae']:>9.4f}"
                         f"{m[f'{key}_rmse']:>9.4f}{int(m[f'{key}_n']):>10d}")
    return "\n".join(lines)
