"""``gld8tr benchmark --task mesh`` end to end on one tiny held-out sequence (tiny random refiner)."""

from __future__ import annotations

import json

import pytest

from benchmark.mesh import METHODS
from core.mesh.refine import RefineNetConfig, VolumeRefineNet
from gld8tr.cli import main


@pytest.mark.slow
def test_mesh_task_prints_and_writes_the_table(tmp_path, capsys):
    VolumeRefineNet(RefineNetConfig(base_channels=4)).save_pretrained(tmp_path / "refiner")
    rc = main(["benchmark", "--task", "mesh", "--sequences", "1", "--frames", "4", "--refiner",
               str(tmp_path / "refiner"), "--out", str(tmp_path / "out"), "--no-progress", "--threads", "1"])
    assert rc == 0
    table = capsys.readouterr().out
    assert all(m in table for m in METHODS) and "F@5cm" in table
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["summary"]
    assert summary["fusion-true"]["fscore"] > 0.8  # exact depth fused: the surfaces seen are reproduced
    assert summary["fusion-true"]["fscore"] > summary["fusion-pred"]["fscore"]


def test_mesh_task_validates_arguments(capsys):
    assert main(["benchmark", "--task", "mesh", "--sequences", "0"]) == 2
    assert "--sequences must be >= 1" in capsys.readouterr().err


def test_completion_task_still_needs_a_dataset(capsys):
    assert main(["benchmark"]) == 2
    assert "--dataset is required" in capsys.readouterr().err
