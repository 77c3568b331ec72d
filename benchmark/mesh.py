"""``gld8tr benchmark --task mesh``: 3D and 2D scores of reconstructed meshes on held-out synthetic sequences.

Each sequence is a smooth camera path through a procedural room whose seeds no trainer draws from
(:data:`training.recon.data.BENCH_SEED_START` on). Methods (each a mesh from the same posed frames):

* ``fusion-true``: TSDF fusion of the exact depth (the ceiling of fusion at this voxel size);
* ``fusion-pred``: TSDF fusion of the project's depth network, frame-to-frame completion (no depth sensor);
* ``refined-pred``: the learned refiner (``core/weights/gld8tr-recon``) over that same fused volume and the
  frames' back-projected colours (its TSDF, meshed inside its predicted band).

3D metrics follow Atlas / IOAR (:mod:`core.mesh.metrics`): both the ground truth and the prediction are taken
*as seen from the sequence's frames* (the exact depth for the ground truth, the mesh ray-cast into every frame for
the prediction), downsampled at 2 cm and matched both ways; F at 5 cm. 2D metrics: the mesh's rendered depth
against the exact depth over every pixel with ground truth (a pixel the mesh leaves empty counts as a failure;
``coverage`` reports how many it covers).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.metrics import depth_errors
from core.mesh.metrics import lift_depths, point_metrics, render_depth, voxel_downsample

log = logging.getLogger(__name__)

METHODS = ("fusion-true", "fusion-pred", "refined-pred")
COLUMNS = ("fscore", "prec", "recall", "acc", "comp", "chamfer", "absrel", "rmse", "delta1", "coverage")


@dataclass
class MeshBenchConfig:
    sequences: int = 8
    frames: int = 20
    height: int = 120
    width: int = 160
    voxel_size: float = 0.04
    trunc_voxels: float = 3.0
    depth_model: str = "gld8tr"
    refiner: str | None = None  # checkpoint folder; None = the shipped one
    seed_start: int | None = None
    workers: int = 1
    threads: int = 1


def score_mesh(mesh, frames, gt_points: np.ndarray) -> dict[str, float]:
    Ks = [f.K for f in frames]
    poses = [f.cam_to_world for f in frames]
    H, W = frames[0].height, frames[0].width
    rendered = render_depth(mesh, Ks, poses, H, W)
    pred_pts = voxel_downsample(lift_depths(rendered, Ks, poses))
    out = point_metrics(pred_pts, gt_points)
    gt = np.stack([f.depth for f in frames])
    pr = np.stack(rendered)
    valid = gt > 0
    out.update({k: v for k, v in depth_errors(pr, gt, valid).items() if k in ("absrel", "rmse", "delta1", "mae")})
    out["coverage"] = float((pr[valid] > 0).mean())
    return out


def score_sequence(index: int, cfg: MeshBenchConfig) -> list[dict]:
    """Rows (one per method) of held-out sequence ``index``."""
    import torch

    from core.backends.registry import build_depth_completer
    from core.mesh.photo import PhotoEvidence, choose_far
    from core.mesh.refine import SHIPPED_RECON_DIR, VolumeRefineNet, refine_volume
    from training.recon.data import BENCH_SEED_START, fuse_frames, sequence_depths, synthetic_sequence

    torch.set_num_threads(cfg.threads)
    completer = build_depth_completer(cfg.depth_model)
    refiner = VolumeRefineNet.from_pretrained(cfg.refiner or SHIPPED_RECON_DIR)
    start = BENCH_SEED_START if cfg.seed_start is None else cfg.seed_start
    seq = synthetic_sequence(start + index, cfg.frames, cfg.height, cfg.width)
    frames = seq.frames
    gt_points = voxel_downsample(lift_depths([f.depth for f in frames], [f.K for f in frames],
                                             [f.cam_to_world for f in frames]))
    t = time.perf_counter()
    vol_true = fuse_frames(frames, [f.depth for f in frames], cfg.voxel_size, cfg.trunc_voxels)
    meshes = {"fusion-true": vol_true.extract_mesh()}
    pred = sequence_depths(frames, completer)
    vol_pred = fuse_frames(frames, pred, cfg.voxel_size, cfg.trunc_voxels)
    meshes["fusion-pred"] = vol_pred.extract_mesh()
    evidence = PhotoEvidence([f.image for f in frames], [f.K for f in frames], [f.cam_to_world for f in frames],
                             far=choose_far(pred))
    meshes["refined-pred"] = refine_volume(vol_pred, refiner, evidence).extract_mesh()
    log.info("sequence %d built in %.1fs", index, time.perf_counter() - t)
    return [{"sequence": seq.scene.scene_id, "method": name, "frames": len(frames),
             **score_mesh(mesh, frames, gt_points)} for name, mesh in meshes.items()]


def run_mesh_benchmark(cfg: MeshBenchConfig, out: Path | None = None, progress: bool = True) -> dict:
    """Per-sequence rows and the mean per method; writes ``rows.jsonl``, ``summary.json`` and ``summary.md``.
    ``cfg.workers`` > 1 scores sequences in that many processes (each ``cfg.threads`` threads)."""
    from tqdm import tqdm

    rows: list[dict] = []
    if cfg.workers > 1:
        import multiprocessing as mp
        from functools import partial

        with mp.get_context("spawn").Pool(cfg.workers) as pool:
            for r in tqdm(pool.imap(partial(score_sequence, cfg=cfg), range(cfg.sequences)), total=cfg.sequences,
                          desc="mesh benchmark", disable=not progress):
                rows += r
    else:
        for i in tqdm(range(cfg.sequences), desc="mesh benchmark", disable=not progress):
            rows += score_sequence(i, cfg)
    summary = {m: {c: float(np.mean([r[c] for r in rows if r["method"] == m])) for c in COLUMNS} for m in METHODS}
    result = {"config": cfg.__dict__, "summary": summary, "rows": rows}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (out / "summary.json").write_text(json.dumps({"config": cfg.__dict__, "summary": summary}, indent=2))
        (out / "summary.md").write_text(markdown(summary))
    return result


def markdown(summary: dict[str, dict[str, float]]) -> str:
    head = ("| method | F@5cm | Prec | Recall | Acc (m) | Comp (m) | Chamfer (m) | AbsRel | RMSE (m) | delta1 "
            "| coverage |")
    lines = [head, "| --- |" + " ---: |" * len(COLUMNS)]
    for m, s in summary.items():
        lines.append(f"| {m} | " + " | ".join(f"{s[c]:.3f}" for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"
