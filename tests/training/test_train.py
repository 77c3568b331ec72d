"""The trainer on a miniature recipe: it learns, it checkpoints, and an interrupted run resumes exactly."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from core.backends import registry
from core.depthnet import DepthCompletionNet, DepthNetConfig
from training.train_config import TrainConfig
from training.trainer import Trainer, task_losses

REPO = Path(__file__).resolve().parents[2]

MINI = {
    "seed": 0,
    "model": {"base_channels": 8, "channel_mults": [1, 2, 4], "groups": 4},
    "synthetic": {"train_scenes": 2, "val_scenes": 1, "frames_per_scene": 2, "height": 40, "width": 56},
    "crop": [32, 48],
    "batch_size": 4,
    "max_steps": 6,
    "lr": 3e-3,
    "warmup_steps": 2,
    "log_every": 1,
    "eval_every": 3,
    "save_every": 2,
    "num_threads": 1,
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("frame-cache")


def _mini_data(cache_dir: Path) -> dict:
    """A deep copy of MINI whose frame cache lives in ``cache_dir`` (shared by the module's tests)."""
    data = yaml.safe_load(yaml.safe_dump(MINI))
    data["synthetic"]["cache_dir"] = str(cache_dir)
    return data


def _cfg(cache_dir: Path, **changes) -> TrainConfig:
    return TrainConfig.from_dict({**_mini_data(cache_dir), **changes})


def _mini_recipe(cache_dir: Path, tmp_path: Path) -> Path:
    """MINI written as a recipe file for the CLI."""
    config = tmp_path / "mini.yaml"
    config.write_text(yaml.safe_dump(_mini_data(cache_dir)))
    return config


def test_frame_cache_holds_both_tasks(cache_dir, tmp_path) -> None:
    trainer = Trainer(_cfg(cache_dir), tmp_path / "run")
    cache = trainer.train_cache
    assert cache.images.dtype == np.uint8 and cache.images.shape[1:] == (40, 56, 3)
    assert len(cache) >= 6  # 2 scenes x 2 cameras, most with a neighbour view
    assert len(cache.warp_known) > 0
    for m in range(len(cache.warp_known)):
        t = cache.warp_target[m]
        known = cache.warp_known[m] > 0
        assert cache.scene[cache.warp_source[m]] == cache.scene[t]
        assert 0.03 <= 1 - known.mean() <= 0.75 or (cache.depths[t] == 0).any()
    batch = trainer.sampler.batch(0, 8)
    assert batch.rgb.shape == (8, 3, 32, 48)
    assert (~batch.known[~batch.completion]).all(), "monocular samples must have empty depth channels"
    assert batch.hole[batch.completion].any() and not batch.hole[~batch.completion].any()


def test_a_few_training_steps_lower_the_loss(cache_dir, tmp_path) -> None:
    trainer = Trainer(_cfg(cache_dir, max_steps=25, eval_every=100, save_every=100), tmp_path / "run")
    probe = trainer.sampler.batch(10_000, 8)
    with torch.no_grad():
        before = {k: float(v) for k, v in task_losses(trainer.model, probe, trainer.cfg).items()}
    trainer.train()
    with torch.no_grad():
        after = {k: float(v) for k, v in task_losses(trainer.model, probe, trainer.cfg).items()}
    assert after["loss"] < 0.9 * before["loss"], (before, after)
    rows = list(csv.DictReader((tmp_path / "run" / "train_metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 26))
    assert {"loss", "silog", "consistency"} <= set(rows[0])


def _state(trainer: Trainer) -> dict[str, torch.Tensor]:
    out = {f"model.{k}": v for k, v in trainer.model.state_dict().items()}
    out.update({f"ema.{k}": v for k, v in trainer.ema.state_dict().items()})
    for idx, st in trainer.opt.state_dict()["state"].items():
        out.update({f"opt.{idx}.{k}": torch.as_tensor(v) for k, v in st.items()})
    return out


def test_interrupted_run_resumes_at_the_same_step_with_identical_state(cache_dir, tmp_path) -> None:
    straight = Trainer(_cfg(cache_dir), tmp_path / "straight")
    straight.train()

    def interrupt(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt

    first = Trainer(_cfg(cache_dir), tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        first.train(on_step=interrupt)
    saved = _state(first)

    resumed = Trainer(_cfg(cache_dir), tmp_path / "resumed", resume=True)
    assert resumed.step == 3
    for k, v in _state(resumed).items():
        assert torch.equal(v, saved[k]), k
    resumed.train()
    assert resumed.step == straight.step == 6
    ref = _state(straight)
    for k, v in _state(resumed).items():
        assert torch.equal(v, ref[k]), k
    with (tmp_path / "resumed" / "train_metrics.csv").open() as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh)]
    assert steps == [1, 2, 3, 4, 5, 6]

    # The run folder itself is a checkpoint for the backends (EMA weights).
    completer = registry.build("depth_completer", f"ckpt:{tmp_path / 'resumed'}")
    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    assert completer(image, np.zeros((40, 56), np.float32), np.zeros((40, 56), bool)).shape == (40, 56)
    best = DepthCompletionNet.from_pretrained(tmp_path / "resumed" / "best")
    assert best.num_parameters() == resumed.model.num_parameters()


def _gld8tr(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "gld8tr", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_trains_refuses_to_overwrite_and_resumes(cache_dir, tmp_path) -> None:
    config = _mini_recipe(cache_dir, tmp_path)
    out = tmp_path / "run"
    first = _gld8tr("train", "--config", str(config), "--out", str(out), "--max-steps", "2")
    assert first.returncode == 0, first.stderr
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    again = _gld8tr("train", "--config", str(config), "--out", str(out))
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = _gld8tr("train", "--out", str(out), "--resume", "--max-steps", "4")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming run" in resumed.stderr and "at step 2 of 4" in resumed.stderr
    assert yaml.safe_load((out / "train.yaml").read_text())["max_steps"] == 4


def test_eval_scores_other_held_out_scenes_on_request(cache_dir, tmp_path) -> None:
    """``--eval-scenes SEED:COUNT`` scores scenes the run never selected on: another seed, another count."""
    config = _mini_recipe(cache_dir, tmp_path)
    ckpt = tmp_path / "ckpt"
    DepthCompletionNet(DepthNetConfig(**MINI["model"])).save_pretrained(ckpt)
    runs = {}
    for name, extra in (("recipe", []), ("other", ["--eval-scenes", "40:2"])):
        done = _gld8tr("train", "--config", str(config), "--eval", str(ckpt), "--out", str(tmp_path / name), *extra)
        assert done.returncode == 0, done.stderr[-2000:]
        runs[name] = json.loads((tmp_path / name / "eval.json").read_text())
    # two scenes from seed 40, not the recipe's one scene from seed 0: other frames, so other pixels and errors
    assert runs["other"]["frame_n"] != runs["recipe"]["frame_n"]
    assert runs["other"]["frame_absrel"] != runs["recipe"]["frame_absrel"]
    recipes = [json.loads(p.read_text()) for p in cache_dir.glob("synthetic-val-*.json")]
    assert {(r["seed"], r["scenes"]) for r in recipes} >= {(0, 1), (40, 2)}
    for bad, why in (("40", "expected SEED:COUNT"), ("-1:2", "must be >= 0"), ("3:0", "COUNT >= 1")):
        done = _gld8tr("train", "--config", str(config), "--eval", str(ckpt), "--out", str(tmp_path / "x"),
                       f"--eval-scenes={bad}")
        assert done.returncode == 2 and why in done.stderr.splitlines()[-1], done.stderr
    done = _gld8tr("train", "--config", str(config), "--out", str(tmp_path / "y"), "--eval-scenes", "40:2")
    assert done.returncode == 2 and "goes with --eval" in done.stderr, done.stderr


@pytest.mark.slow
def test_tiny_recipe_runs_end_to_end_from_the_cli(tmp_path) -> None:
    out = tmp_path / "tiny"
    done = _gld8tr("train", "--config", "configs/tiny.yaml", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = yaml.safe_load((out / "metrics.json").read_text())
    assert metrics["step"] == 150 and metrics["hole_n"] > 0
    assert 0 < metrics["hole_absrel"] < 1


def test_self_training_samples_complete_the_models_own_depth_under_warp_masks() -> None:
    from training.self_training import SelfTrainingSource, load_photos

    torch.manual_seed(0)
    model = DepthCompletionNet().eval()
    source = SelfTrainingSource(load_photos("skimage"), crop=(48, 64))
    batch = source.batch(np.random.default_rng(0), 3, model)
    assert batch.rgb.shape == (3, 3, 48, 64) and batch.completion.all()
    with torch.no_grad():
        zeros = torch.zeros_like(batch.target)
        mono = model(batch.rgb, zeros, zeros)
    torch.testing.assert_close(batch.target, mono)  # the target is the model's own monocular prediction
    assert batch.hole.any() and batch.known.any()
    torch.testing.assert_close(batch.known_depth[batch.known], batch.target[batch.known])


def test_laplacian_prior_depth_l1_and_best_by_hole_mae(cache_dir, tmp_path) -> None:
    model = {**MINI["model"], "fill_prior": "laplacian"}
    cfg = _cfg(cache_dir, model=model, depth_l1_weight=0.5, select_metric="hole_mae", max_steps=9)
    trainer = Trainer(cfg, tmp_path / "run")
    losses = task_losses(trainer.model, trainer.sampler.batch(0, 8), cfg)
    assert float(losses["depth_l1"]) > 0 and torch.isfinite(losses["loss"])
    trainer.train()
    rows = list(csv.DictReader((tmp_path / "run" / "val_metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [3, 6, 9]
    best = json.loads((tmp_path / "run" / "best" / "metrics.json").read_text())
    assert best["hole_mae"] == pytest.approx(min(float(r["hole_mae"]) for r in rows), rel=1e-4)
    assert DepthCompletionNet.from_pretrained(tmp_path / "run" / "best").config.fill_prior == "laplacian"
    train_rows = list(csv.DictReader((tmp_path / "run" / "train_metrics.csv").open()))
    assert all(float(r["depth_l1"]) > 0 for r in train_rows)
    with pytest.raises(Exception, match="select_metric"):
        _cfg(cache_dir, select_metric="loss")
