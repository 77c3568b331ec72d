"""Depth backends over :class:`core.depthnet.DepthCompletionNet`: ``gld8tr`` (the shipped weights: the completer in
``core/weights/gld8tr-depth/``, the estimator in ``core/weights/gld8tr-depth-mono/``) and ``ckpt:DIR`` (any folder
written by ``gld8tr train`` or ``save_pretrained``, for both).

An estimator is a completer with nothing known; the shipped completer hands that case to the shipped estimator (the
monocular checkpoint), so the first view of ``gld8tr run`` is the estimator's depth. The completer returns the known
depth *exactly* on known pixels (the pipeline merges new points next to old ones and relies on that); only unknown
pixels come from the network, bent to meet the known depth without a step (:meth:`DepthCompletionNet.meet_known`).
Images whose long side exceeds ``max_side`` pixels are completed at that working resolution (so that holes and scene
extent look to the net roughly as in training) and the log-depth prediction is resized back bilinearly; smaller
images run at native size, as does ``max_side=None``. The default, 320, comes from the study in the model card of
the first shipped checkpoint: at 240 x 320, native size was as accurate as any downscaling tried.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.depthnet import SHIPPED_DIR, SHIPPED_MONO_DIR, DepthCompletionNet
from core.errors import InputError
from core.vram import resolve_device

log = logging.getLogger(__name__)

DEFAULT_MAX_SIDE = 320


def _nearest_indices(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each output pixel centre when resizing ``n_in`` -> ``n_out`` (no averaging across edges)."""
    return np.clip(np.floor((np.arange(n_out) + 0.5) * n_in / n_out).astype(int), 0, n_in - 1)


class NetworkDepthCompleter:
    """``DepthCompleter`` protocol: dense depth agreeing exactly with ``depth`` where ``known_mask``."""

    def __init__(self, model: DepthCompletionNet, *, name: str, device: str = "cpu",
                 max_side: int | None = DEFAULT_MAX_SIDE, estimator: NetworkDepthEstimator | None = None) -> None:
        self.model = model.to(resolve_device(device)).eval()
        self.name = name
        self.max_side = max_side
        self.estimator = estimator
        """Answers when nothing is known (the first view, or a view that sees none of the scene): the shipped
        completer is trained on completion and is no monocular estimator, so ``gld8tr`` pairs it with the
        monocular checkpoint. None: the network's own prediction with nothing known."""

    def _working_size(self, height: int, width: int) -> tuple[int, int]:
        if self.max_side is None or max(height, width) <= self.max_side:
            return height, width
        f = self.max_side / max(height, width)
        return max(8, round(height * f)), max(8, round(width * f))

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        image, depth, known_mask = _check(image, depth, known_mask)
        out = self.complete_tensor(image, torch.from_numpy(depth), torch.from_numpy(known_mask))
        return out.cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def complete_tensor(self, image: np.ndarray, depth: torch.Tensor, known_mask: torch.Tensor) -> torch.Tensor:
        """:meth:`__call__` with the depth [H, W] and mask [H, W] as tensors (any device) and the result a float32
        tensor on the model's device: the generation loop's device path keeps depth off the host. The image stays
        a host array (it comes from the inpainter) and is resized there exactly as in :meth:`__call__`."""
        dev = next(self.model.parameters()).device
        depth = depth.to(device=dev, dtype=torch.float32)
        known = known_mask.to(dev).bool() & (depth > 0) & torch.isfinite(depth)
        if self.estimator is not None and not bool(known.any()):
            return torch.from_numpy(self.estimator(image)).to(dev)
        H, W = depth.shape
        h, w = self._working_size(H, W)
        if (h, w) == (H, W):
            img_s, dep_s, kn_s = image, depth, known
        else:
            img_s = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
            ys = torch.from_numpy(_nearest_indices(H, h)).to(dev)
            xs = torch.from_numpy(_nearest_indices(W, w)).to(dev)
            dep_s, kn_s = depth[ys[:, None], xs[None, :]], known[ys[:, None], xs[None, :]]
        rgb = torch.from_numpy(np.array(img_s, copy=True)).to(dev).permute(2, 0, 1)[None].float() / 255.0
        d = torch.where(kn_s, dep_s, 0.0)[None, None]
        m = kn_s.float()[None, None]
        pred_log = self.model.meet_known(self.model.predict_log(rgb, d, m), d, m)
        if (h, w) != (H, W):
            pred_log = F.interpolate(pred_log, size=(H, W), mode="bilinear", align_corners=False)
        pred = self.model.depth_from_log(pred_log)[0, 0].float()
        return torch.where(known, depth, pred)


class NetworkDepthEstimator:
    """``DepthEstimator`` protocol: the completer with an empty mask (monocular metric depth)."""

    def __init__(self, completer: NetworkDepthCompleter) -> None:
        self.completer = completer
        self.name = completer.name

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = _check_image(image)
        H, W = image.shape[:2]
        return self.completer(image, np.zeros((H, W), np.float32), np.zeros((H, W), bool))


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"image must be uint8 [H, W, 3] RGB, got {image.dtype} {image.shape}")
    return image


def _check(image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> tuple[np.ndarray, ...]:
    image = _check_image(image)
    depth = np.asarray(depth, dtype=np.float32)
    known_mask = np.asarray(known_mask, dtype=bool)
    if depth.shape != image.shape[:2] or known_mask.shape != image.shape[:2]:
        raise InputError(f"depth {depth.shape} and known_mask {known_mask.shape} must match the image "
                         f"{image.shape[:2]}")
    return image, depth, known_mask


def _load(path: str | Path, name: str, device: str, max_side: int | None,
          estimator: NetworkDepthEstimator | None = None) -> NetworkDepthCompleter:
    model = DepthCompletionNet.from_pretrained(path)
    log.debug("loaded depth network %s (%d parameters)", name, model.num_parameters())
    return NetworkDepthCompleter(model, name=name, device=device, max_side=max_side, estimator=estimator)


def _shipped(arg: str | None, folder: Path = SHIPPED_DIR) -> tuple[Path, str]:
    if arg:
        raise InputError(f"the 'gld8tr' depth model takes no argument (got {arg!r}); use ckpt:DIR for another "
                         "checkpoint")
    return folder, "gld8tr"


def _checkpoint(arg: str | None) -> tuple[str | Path, str]:
    if not arg:
        raise InputError("'ckpt' needs a checkpoint: ckpt:DIR (a folder written by gld8tr train) or ckpt:HUB_ID")
    local = Path(arg).expanduser()
    return (local if local.exists() else arg), f"ckpt:{arg}"


def build_shipped_completer(arg: str | None = None, *, device: str = "cpu", max_side: int | None = DEFAULT_MAX_SIDE,
                            **options: object) -> NetworkDepthCompleter:
    """Registry factory for ``gld8tr``: the completer in ``core/weights/gld8tr-depth``, with the monocular checkpoint
    ``core/weights/gld8tr-depth-mono`` answering where nothing is known; unknown options are ignored."""
    return _load(*_shipped(arg), device, max_side, build_shipped_estimator(device=device, max_side=max_side))


def build_shipped_estimator(arg: str | None = None, *, device: str = "cpu", max_side: int | None = DEFAULT_MAX_SIDE,
                            **options: object) -> NetworkDepthEstimator:
    """Registry factory for the ``gld8tr`` estimator: the monocular checkpoint ``core/weights/gld8tr-depth-mono``."""
    return NetworkDepthEstimator(_load(*_shipped(arg, SHIPPED_MONO_DIR), device, max_side))


def build_completer(arg: str | None, *, device: str = "cpu", max_side: int | None = DEFAULT_MAX_SIDE,
                    **options: object) -> NetworkDepthCompleter:
    """Registry factory for ``ckpt:DIR`` (or ``ckpt:HUB_ID``); unknown options are ignored."""
    return _load(*_checkpoint(arg), device, max_side)


def build_estimator(arg: str | None, *, device: str = "cpu", max_side: int | None = DEFAULT_MAX_SIDE,
                    **options: object) -> NetworkDepthEstimator:
    return NetworkDepthEstimator(build_completer(arg, device=device, max_side=max_side))
