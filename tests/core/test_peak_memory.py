"""Per-stage peak memory in the scene and its sidecar, and ``--low-vram`` through ``gld8tr run``.

On CPU the numbers are the process RSS high-water mark (``cpu_process_max_rss``), cumulative by construction; on
CUDA they are ``max_memory_allocated`` reset per stage (``cuda_max_allocated``, GPU test below).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import EXAMPLES

from benchmark.box_room import BoxRoom, RoomOracle, room_cameras
from core.backends import registry
from core.backends.patchmatch_inpainter import PatchMatchInpainter
from core.io.sidecar import read_sidecar
from core.pipeline import generate_scene, save_scene
from core.trajectory import poses_for_mode
from core.vram import PEAK_MEMORY_CPU, PEAK_MEMORY_CUDA, process_max_rss_mib, track_peak_memory
from gld8tr.cli import main as cli_main

_MIB = 1024 * 1024
# Order in which the stages of a ``stage`` run last execute (the loop's last view ends with merge).
_LAST_RUN_ORDER = ["load", "backends", "depth", "render", "masks", "inpaint", "complete", "merge"]


def _current_rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / _MIB


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_cpu_stage_peak_sees_an_allocation_inside_the_stage() -> None:
    peaks: dict[str, float] = {}
    with track_peak_memory("small", peaks, "cpu"):
        pass
    # Grow the RSS 64 MiB above the high-water mark so far, whatever earlier tests allocated.
    grow = max(0.0, peaks["small"] - _current_rss_mib()) + 64
    with track_peak_memory("big", peaks, "cpu"):
        block = np.ones(int(grow * _MIB), dtype=np.uint8)  # ones, not zeros: the pages must really be touched
        assert int(block[:: 4096].sum()) == block[:: 4096].size
        del block
    assert peaks["big"] >= peaks["small"] + 48, peaks
    with track_peak_memory("big", peaks, "cpu"):  # a repeat keeps the worst, never lowers it
        pass
    assert peaks["big"] >= peaks["small"] + 48


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU semantics; the GPU test covers CUDA")
def test_stage_run_reports_peak_memory_per_stage_in_scene_and_sidecar(tmp_path: Path) -> None:
    room = BoxRoom()
    cams = room_cameras(poses_for_mode("stage"), 64, 48)
    image, depth = room.photo(cams[0])
    before = process_max_rss_mib()
    scene = generate_scene(image, mode="stage", depth=depth, inpainter=PatchMatchInpainter(),
                           depth_model=RoomOracle(room, cams), device="cpu")
    after = process_max_rss_mib()
    assert before is not None and after is not None
    peaks = scene.peak_memory_mb
    assert scene.meta["peak_memory_kind"] == PEAK_MEMORY_CPU
    assert set(peaks) == set(scene.timings) - {"total"} == set(_LAST_RUN_ORDER)  # timings kept, one peak each
    assert all(before - 0.1 <= v <= after + 0.1 for v in peaks.values()), (before, peaks, after)
    ordered = [peaks[k] for k in _LAST_RUN_ORDER]
    assert ordered == sorted(ordered), peaks  # a high-water mark read at each stage's (last) end never falls

    save_scene(scene, tmp_path / "room.ply")
    on_disk = json.loads((tmp_path / "room.json").read_text())
    assert on_disk["peak_memory_kind"] == PEAK_MEMORY_CPU
    assert on_disk["peak_memory_mb"] == pytest.approx(peaks)
    assert on_disk["extra"]["low_vram"] is False
    assert read_sidecar(tmp_path / "room.json").peak_memory_mb == on_disk["peak_memory_mb"]


def test_old_sidecars_without_peak_memory_still_read(tmp_path: Path) -> None:
    room = BoxRoom()
    cams = room_cameras(poses_for_mode("single"), 32, 24)
    image, depth = room.photo(cams[0])
    save_scene(generate_scene(image, mode="single", depth=depth, device="cpu"), tmp_path / "s.ply")
    data = json.loads((tmp_path / "s.json").read_text())
    del data["peak_memory_mb"], data["peak_memory_kind"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = read_sidecar(tmp_path / "old.json")
    assert old.peak_memory_mb == {} and old.peak_memory_kind == ""


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_peaks_are_reset_per_stage() -> None:
    peaks: dict[str, float] = {}
    with track_peak_memory("big", peaks, "cuda"):
        block = torch.ones(256 * _MIB, dtype=torch.uint8, device="cuda")
        del block
    with track_peak_memory("small", peaks, "cuda"):
        torch.ones(_MIB, dtype=torch.uint8, device="cuda")
    assert peaks["big"] >= 256 and peaks["small"] < peaks["big"] - 200, peaks

    room = BoxRoom()
    cams = room_cameras(poses_for_mode("stage"), 64, 48)
    image, depth = room.photo(cams[0])
    scene = generate_scene(image, mode="stage", depth=depth, inpainter=PatchMatchInpainter(),
                           depth_model=RoomOracle(room, cams), device="cuda")
    assert scene.meta["peak_memory_kind"] == PEAK_MEMORY_CUDA
    assert set(scene.peak_memory_mb) == set(_LAST_RUN_ORDER)
    assert scene.peak_memory_mb["load"] == 0.0  # decoding the photo allocates nothing on the GPU
    assert scene.peak_memory_mb["render"] > 0


class _BuildSpy:
    """Records every registry build (kind, spec, options) and passes it to the real registry unchanged."""

    def __init__(self, real) -> None:
        self.real = real
        self.calls: list[tuple[str, str, dict]] = []

    def __call__(self, kind, spec, *, device="cpu", **options):
        self.calls.append((kind, spec, dict(options)))
        return self.real(kind, spec, device=device, **options)


def _two_view_run(tmp_path: Path, *extra: str) -> tuple[int, dict]:
    traj = tmp_path / "path.json"
    traj.write_text(json.dumps([{"yaw": 0}, {"yaw": -30}]))
    dep = tmp_path / "depth.npy"
    np.save(dep, np.full((300, 451), 2.0, np.float32))
    out = tmp_path / "scene.ply"
    rc = cli_main(["run", "--no-progress", "--image", str(EXAMPLES / "chelsea.jpg"), "--depth", str(dep),
                   "--trajectory", str(traj), "--depth-model", "nearest", "--max-side", "96", "-o", str(out),
                   *extra])
    return rc, json.loads(out.with_suffix(".json").read_text()) if rc == 0 else {}


def test_low_vram_flag_reaches_the_registry_and_the_sidecar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    spy = _BuildSpy(registry.build)
    monkeypatch.setattr(registry, "build", spy)
    (tmp_path / "a").mkdir()
    rc, sidecar = _two_view_run(tmp_path / "a", "--low-vram")
    assert rc == 0, capsys.readouterr().err
    assert [(k, s, o) for k, s, o in spy.calls] == [("depth_completer", "nearest", {"low_vram": True}),
                                                  ("inpainter", "patchmatch", {"low_vram": True})]
    assert sidecar["extra"]["low_vram"] is True
    assert sidecar["peak_memory_kind"] in (PEAK_MEMORY_CPU, PEAK_MEMORY_CUDA)
    assert {"inpaint", "complete", "render"} <= set(sidecar["peak_memory_mb"])

    spy.calls.clear()
    (tmp_path / "b").mkdir()
    rc, sidecar = _two_view_run(tmp_path / "b")
    assert rc == 0, capsys.readouterr().err
    assert all(o == {} for _, _, o in spy.calls) and len(spy.calls) == 2  # no flag: backends built as before
    assert sidecar["extra"]["low_vram"] is False
