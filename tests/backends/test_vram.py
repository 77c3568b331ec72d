"""Device/dtype resolution, per-stage peak memory and the GPU smoke script's CPU-only exit."""

from __future__ import annotations

import pytest
import torch

from core.vram import memory_snapshot, on_device, resolve_device, resolve_dtype, track_stage


def test_dtype_policy() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_dtype(None, cuda) == torch.float16  # fp16 on CUDA by default
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("float16", cpu) == torch.float32  # no half precision on CPU
    assert resolve_dtype("bf16", cuda) == torch.bfloat16
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("int8", cpu)


def test_stage_tracking_is_a_noop_without_cuda() -> None:
    peaks: dict[str, float] = {}
    with track_stage("inpaint", peaks, "cpu"):
        torch.ones(4)
    assert peaks == {} and memory_snapshot("cpu") == {}
    module = torch.nn.Linear(2, 2)
    with on_device(module, torch.device("cpu"), low_vram=True) as m:
        assert m is module
    assert resolve_device("cpu").type == "cpu"


def test_low_vram_inpainter_runs_on_cpu(tiny_inpaint_dir) -> None:
    import numpy as np

    from core.backends import registry

    inp = registry.build("inpainter", f"diffusers:{tiny_inpaint_dir}", prefill=None, steps=1, low_vram=True)
    image = np.full((16, 16, 3), 100, np.uint8)
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    out = inp(image, mask, seed=0)
    np.testing.assert_array_equal(out[~mask], image[~mask])


def test_gpu_smoke_exits_cleanly_without_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the GPU test below covers the script")
    from benchmark.gpu_smoke import main

    assert main([]) == 0
    assert "no CUDA device" in capsys.readouterr().out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_smoke_measures_every_stage(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmark.gpu_smoke import main

    assert main(["--repeats", "1", "--size", "128"]) == 0
    out = capsys.readouterr().out
    for stage in ("inpaint", "depth", "complete", "render", "laplace-torch", "gaussians", "stage:complete"):
        assert stage in out


@pytest.mark.slow
def test_gpu_smoke_core_stages_run_on_the_cpu() -> None:
    """The device figures of the project's own code are the same code on the CPU (a dry run)."""
    from benchmark.gpu_smoke import core_stage_figures

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = core_stage_figures("cpu", repeats=1)
    finally:
        torch.set_num_threads(threads)
    stages = {r[0] for r in rows}
    assert {"render", "complete", "laplace-torch", "laplace-scipy", "gaussians", "stage:total"} <= stages
    assert all(r[3] > 0 for r in rows if r[0] != "stage:load")
