"""Data-parallel training on 2 CPU processes (gloo): identical replicas, rank-0 checkpoints, resume."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

RECIPE = {
    "seed": 0,
    "model": {"base_channels": 4, "channel_mults": [1, 2, 4], "groups": 2, "fill_prior": "bilateral"},
    "synthetic": {"train_scenes": 2, "val_scenes": 1, "frames_per_scene": 1, "height": 40, "width": 56},
    "crop": [32, 48], "batch_size": 4, "max_steps": 3, "warmup_steps": 1, "camera_effects": 0.5,
    "log_every": 1, "eval_every": 3, "save_every": 3, "num_threads": 1, "device": "cpu",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str, max_steps: int, resume: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    from training.distributed import shutdown
    from training.train_config import TrainConfig
    from training.trainer import Trainer

    try:
        trainer = Trainer(TrainConfig.from_dict({**RECIPE, "max_steps": max_steps}), out, resume=resume)
        trainer.train()
        torch.save({k: v.clone() for k, v in trainer.model.state_dict().items()}, Path(out) / f"rank{rank}.pt")
    finally:
        shutdown()


def _run(out: Path, max_steps: int, resume: bool = False) -> list[dict[str, torch.Tensor]]:
    mp.spawn(_worker, args=(2, _free_port(), str(out), max_steps, resume), nprocs=2, join=True)
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


@pytest.mark.slow
def test_two_cpu_processes_train_identical_replicas_and_resume(tmp_path: Path) -> None:
    from core.depthnet import DepthCompletionNet
    from training.train_config import TrainConfig
    from training.trainer import STATE_JSON, net_config

    out = tmp_path / "run"
    ranks = _run(out, max_steps=3)
    assert ranks[0].keys() == ranks[1].keys()
    for k in ranks[0]:
        assert torch.equal(ranks[0][k], ranks[1][k]), k
    torch.manual_seed(0)
    init = DepthCompletionNet(net_config(TrainConfig.from_dict(RECIPE))).state_dict()
    assert any(not torch.equal(init[k], ranks[0][k]) for k in init)  # it trained
    # rank 0 alone wrote the run: one checkpoint, one log row per step (not two)
    assert (out / STATE_JSON).is_file() and (out / "best" / "model.safetensors").is_file()
    rows = (out / "train_metrics.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]

    resumed = _run(out, max_steps=5, resume=True)
    for k in resumed[0]:
        assert torch.equal(resumed[0][k], resumed[1][k]), k
    rows = (out / "train_metrics.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4", "5"]
