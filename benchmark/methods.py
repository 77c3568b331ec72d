"""The one interface every compared method implements, and how a method name becomes one.

A :class:`Baseline` sees a whole :class:`~benchmark.pairs.PairSample` so that reference methods used to check
the benchmark itself (an oracle that returns the ground truth, a constant) fit the same runner; real methods are
``DepthCompleter`` backends wrapped by :class:`CompleterBaseline`, which hands them B's image and the known depth
only -- never the ground truth.

Method names are registry specs: ``gld8tr`` (the shipped network), ``ckpt:<dir>`` (any other checkpoint),
``aligned-mono[:ESTIMATOR_SPEC]``, ``nearest``, ``laplacian``, ``colorization``, ``bilateral`` -- or anything
else the registry builds. The default baselines are :data:`core.backends.registry.COMPLETION_BASELINES`, the same
ones training validation reports.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import numpy as np

from benchmark.pairs import PairSample
from core.backends.registry import COMPLETION_BASELINES

DEFAULT_METHODS = ("gld8tr", *COMPLETION_BASELINES)


@runtime_checkable
class Baseline(Protocol):
    """A depth-completion method under test: full depth [H, W] float32 metres for the sample's view B."""

    name: str

    def predict(self, sample: PairSample) -> np.ndarray: ...


class CompleterBaseline:
    """Any ``DepthCompleter`` as a :class:`Baseline` (image, known depth and mask in; depth out).

    ``version`` identifies the weights behind the name (empty for weightless methods): results are stored with
    it, so a rerun after the shipped checkpoint changed scores the new weights instead of resuming old rows.
    """

    def __init__(self, name: str, completer: object, version: str = "") -> None:
        self.name = name
        self.completer = completer
        self.version = version

    def predict(self, sample: PairSample) -> np.ndarray:
        return self.completer(sample.image, sample.known_depth, sample.known_mask)


def build_method(spec: str, *, device: str = "cpu") -> Baseline:
    """The method named by ``spec`` (a depth-completer registry spec), reported under that same name."""
    from core.backends.registry import build_depth_completer

    return CompleterBaseline(spec, build_depth_completer(spec, device=device), weights_version(spec))


def weights_version(spec: str) -> str:
    """First 10 hex digits of the SHA-1 of the network weights a spec loads (``gld8tr``, ``ckpt:DIR``, and
    ``aligned-mono`` over either) plus the network's inference revision (``-r2``); empty when the spec has no
    local weights file."""
    import hashlib
    from pathlib import Path

    from core.backends.registry import parse_spec

    name, arg = parse_spec(spec)
    if name == "aligned-mono" and arg:
        return weights_version(arg)
    if name in ("gld8tr", "aligned-mono"):  # aligned-mono's default estimator is the shipped monocular checkpoint
        from core.depthnet import SHIPPED_DIR, SHIPPED_MONO_DIR

        folder = Path(SHIPPED_MONO_DIR if name == "aligned-mono" else SHIPPED_DIR)
    elif name == "ckpt" and arg:
        folder = Path(arg)
    else:
        return ""
    weights = folder / "model.safetensors" if folder.is_dir() else folder
    if not weights.is_file():
        return ""
    from core.depthnet.model import INFERENCE_REVISION

    return f"{hashlib.sha1(weights.read_bytes()).hexdigest()[:10]}-r{INFERENCE_REVISION}"


def timed_predict(method: Baseline, sample: PairSample, device: str = "cpu") -> tuple[np.ndarray, float]:
    """``(depth, seconds)`` of one prediction, timed between device synchronisations.

    Backends return host numpy arrays, so the copy already waits for the GPU; the explicit synchronisation before
    the clock starts keeps work queued by an earlier call out of this one's time.
    """
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    start = time.perf_counter()
    depth = method.predict(sample)
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape != sample.gt.shape:
        raise ValueError(f"method {method.name!r} returned depth {depth.shape}, expected {sample.gt.shape}")
    return depth, seconds
