"""Device, dtype and GPU-memory discipline shared by the model backends.

Why this module exists: a 12 GB card must be able to run the ``stage`` mode with SD-2 inpainting plus a BEiT-L
depth network, so each backend can keep its model on the CPU while idle (``low_vram``) and the pipeline records
the peak memory of each stage in the scene sidecar. Everything degrades to a no-op on CPU-only machines (peak
memory falls back to the process RSS high-water mark), so the same code paths run in CI.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

import torch

log = logging.getLogger(__name__)

_MIB = 1024 * 1024


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA when available, else CPU; ``cpu``, ``cuda`` and ``cuda:N`` as given.

    The one device parser of the project (pipeline, backends, worker): asking for CUDA without it, or for a
    device that is neither, is a user error (``InputError``), not a crash deep inside a model.
    """
    from core.errors import InputError

    name = "auto" if device is None else str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r} was asked for but CUDA is not available (use --device cpu or auto)")
    if name != "cpu" and not name.startswith("cuda"):
        raise InputError(f"unknown device {name!r}; use auto, cpu or cuda")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise InputError(f"unknown device {name!r}: {exc}") from None


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None``/``"auto"`` -> float16 on CUDA (half the VRAM, same quality for these models), float32 elsewhere.

    CPU half precision is slow and several conv kernels lack it, so an explicit ``float16`` request on CPU is
    downgraded to float32 with a log line rather than failing deep inside a model.
    """
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    elif dtype is None or dtype == "auto":
        resolved = torch.float16 if device.type == "cuda" else torch.float32
    else:
        names = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
                 "float32": torch.float32, "fp32": torch.float32}
        if dtype not in names:
            raise ValueError(f"dtype must be one of {sorted(names)} or 'auto', got {dtype!r}")
        resolved = names[dtype]
    if device.type == "cpu" and resolved == torch.float16:
        log.info("float16 requested on CPU; using float32")
        resolved = torch.float32
    return resolved


def cuda_in_use(device: torch.device | str) -> bool:
    return torch.device(device).type == "cuda" and torch.cuda.is_available()


@contextlib.contextmanager
def track_stage(name: str, into: dict[str, float], device: torch.device | str = "cuda") -> Iterator[None]:
    """Record the peak CUDA memory (MiB) allocated while the block runs as ``into[name]``.

    The peak counter is reset on entry, so each stage reports its own high-water mark rather than the
    process's. Repeated stages with the same name keep the largest value. Without CUDA nothing is recorded.
    """
    if not cuda_in_use(device):
        yield
        return
    dev = torch.device(device)
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    try:
        yield
    finally:
        torch.cuda.synchronize(dev)
        peak = torch.cuda.max_memory_allocated(dev) / _MIB
        into[name] = max(peak, into.get(name, 0.0))


PEAK_MEMORY_CUDA = "cuda_max_allocated"
PEAK_MEMORY_CPU = "cpu_process_max_rss"


def peak_memory_kind(device: torch.device | str) -> str:
    """What :func:`track_peak_memory` measures on ``device``; written beside the numbers so they are never misread.

    * ``cuda_max_allocated``: ``torch.cuda.max_memory_allocated`` during the stage alone (counter reset on entry),
      i.e. tensors PyTorch's allocator handed out; the allocator's cache and the CUDA context are not included.
    * ``cpu_process_max_rss``: the process's resident-set high-water mark (``getrusage``'s ``ru_maxrss``) at the end
      of the stage. The kernel cannot reset it per stage, so it is cumulative since the process started (in a
      worker: including earlier jobs); the stage at which it first reaches its final value is where the peak was.
    """
    return PEAK_MEMORY_CUDA if cuda_in_use(device) else PEAK_MEMORY_CPU


def process_max_rss_mib() -> float | None:
    """Resident-set high-water mark of this process in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS);
    ``None`` where ``resource`` does not exist (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    maxrss = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return maxrss / _MIB if sys.platform == "darwin" else maxrss / 1024


@contextlib.contextmanager
def track_peak_memory(name: str, into: dict[str, float], device: torch.device | str) -> Iterator[None]:
    """Record the stage's peak memory in MiB as ``into[name]``, on every device (see :func:`peak_memory_kind`).

    On CUDA this is :func:`track_stage`; elsewhere the process RSS high-water mark when the block ends. Repeated
    stages keep the largest value, so a stage run once per view reports its worst view.
    """
    if cuda_in_use(device):
        with track_stage(name, into, device):
            yield
        return
    try:
        yield
    finally:
        rss = process_max_rss_mib()
        if rss is not None:
            into[name] = max(rss, into.get(name, 0.0))


def memory_snapshot(device: torch.device | str = "cuda") -> dict[str, float]:
    """Current and peak allocated/reserved MiB, for logs and the GPU smoke script ({} without CUDA)."""
    if not cuda_in_use(device):
        return {}
    dev = torch.device(device)
    return {
        "allocated_mib": torch.cuda.memory_allocated(dev) / _MIB,
        "reserved_mib": torch.cuda.memory_reserved(dev) / _MIB,
        "max_allocated_mib": torch.cuda.max_memory_allocated(dev) / _MIB,
    }


@contextlib.contextmanager
def on_device(module: torch.nn.Module, device: torch.device, low_vram: bool) -> Iterator[torch.nn.Module]:
    """Yield ``module`` on ``device``; with ``low_vram`` move it back to the CPU afterwards (idle offload).

    Without ``low_vram`` the module is left resident, which is what a worker serving many jobs wants.
    """
    if not low_vram or device.type != "cuda":
        yield module
        return
    module.to(device)
    try:
        yield module
    finally:
        module.to("cpu")
        torch.cuda.empty_cache()


def apply_low_vram_to_pipeline(pipe: Any, device: torch.device) -> Any:
    """Diffusers pipelines: sequential model CPU offload (needs accelerate) plus attention slicing.

    Model offload keeps only the sub-model in use (text encoder, UNet or VAE) on the GPU; attention slicing
    trades a little speed for a lower peak at 512-768 px. On CPU this only enables slicing.
    """
    if hasattr(pipe, "enable_attention_slicing"):
        pipe.enable_attention_slicing()
    if device.type == "cuda" and hasattr(pipe, "enable_model_cpu_offload"):
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    return pipe
